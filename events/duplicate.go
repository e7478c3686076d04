package events

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/akamai"
)

// Receipt is what JetStream's acknowledgement of a published event said.
type Receipt struct {
	// ID is the event's ID, its Nats-Msg-Id.
	ID string
	// Stream and Sequence locate the stored event: for a duplicate, the
	// one stored first.
	Stream   string
	Sequence uint64
	// Duplicate reports that JetStream had stored an event with this ID
	// within its duplicates window, with the same content: a harmless
	// retry, stored and purged once. (Other content is a
	// *DuplicateEventError instead.)
	Duplicate bool
}

// DuplicateEventError reports a publish whose event ID JetStream had
// already stored within its duplicates window with other content, or with
// content that could no longer be compared: JetStream dropped the new
// event, so its objects were not stored and will not be purged.
type DuplicateEventError struct {
	ID       string
	Stream   string
	Sequence uint64 // the event stored first
	// Difference says how the contents differ, or why they could not be
	// compared.
	Difference string
}

func (e *DuplicateEventError) Error() string {
	return fmt.Sprintf("events: event ID %s was already used (%s sequence %d) for an event with other content: %s; "+
		"the new event was NOT stored and its objects will not be purged: publish it under a new ID", e.ID, e.Stream, e.Sequence, e.Difference)
}

// duplicateReadTimeout bounds each read of the stored event and of its
// result. A publisher may lack the permission for them
// (docs/nats-permissions.md), and the server drops a refused request
// without an answer: the read must not wait for the caller's context.
const duplicateReadTimeout = 2 * time.Second

// checkDuplicate compares e with the event JetStream stored first under
// its ID. That event is still in the content stream while it waits or is
// being purged (the stream is a work queue); once purged, its result in
// the result stream names every object. Neither there (its result aged
// out): the content cannot be told, which is an error too, since the new
// objects may be unpurged. A publisher that may not read the content
// stream reads the result as PurgeAndWait does; waiting is the consumer
// that PurgeAndWait watches (nil for Publish), and then the result of a
// stored event still pending is awaited and returned.
func (p *Publisher) checkDuplicate(ctx context.Context, e *ContentChanged, r Receipt, waiting jetstream.Consumer) (*PurgeResult, error) {
	dup := func(difference string) error {
		return &DuplicateEventError{ID: e.ID, Stream: r.Stream, Sequence: r.Sequence, Difference: difference}
	}
	want, err := contentOf(e)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	data, err := p.readStored(ctx, r)
	switch {
	case err == nil:
		ev, err := Decode(data, len(data)+1)
		if err != nil {
			return nil, dup("the stored event is not valid (" + err.Error() + ")")
		}
		got, err := contentOf(&ev)
		if err != nil {
			return nil, dup(err.Error())
		}
		if d := got.difference(want); d != "" {
			return nil, dup(d)
		}
		return nil, nil
	case callerEnded(ctx):
		return nil, fmt.Errorf("events: event %s is a duplicate; reading the stored one: %w", e.ID, err)
	}
	purged := errors.Is(err, jetstream.ErrMsgNotFound)
	var res *PurgeResult
	if waiting != nil && !purged {
		// Still pending, or not readable here: its result tells, and
		// the caller waits for it anyway.
		var got PurgeResult
		if got, err = WaitResult(ctx, waiting); err == nil {
			res = &got
		}
	} else {
		res, err = p.readResult(ctx, e.ID)
	}
	switch {
	case callerEnded(ctx):
		return nil, fmt.Errorf("events: event %s is a duplicate; reading its result: %w", e.ID, ctx.Err())
	case err != nil && !purged:
		return nil, dup(mayNotRead + " or its result, so the content could not be compared" + seeDocs)
	case err != nil:
		return nil, fmt.Errorf("events: event %s is a duplicate; reading its result: %w", e.ID, err)
	case res == nil && purged:
		return nil, dup("the stored event was purged and its result is gone, so its content cannot be compared")
	case res == nil:
		return nil, dup(mayNotRead + ", which has no result yet, so the content could not be compared" + seeDocs)
	}
	got, ok := contentOfResult(*res)
	if !ok {
		return nil, dup("its result does not name every object, so its content cannot be compared")
	}
	if d := got.difference(want); d != "" {
		return nil, dup(d)
	}
	return res, nil
}

// mayNotRead and seeDocs frame the difference of a duplicate whose stored
// event this publisher could not read: refused, or no answer within
// duplicateReadTimeout.
const (
	mayNotRead = "this publisher may not read the stored event"
	seeDocs    = " (see docs/nats-permissions.md)"
)

// readStored returns the data of the event stored at r, within
// duplicateReadTimeout.
func (p *Publisher) readStored(ctx context.Context, r Receipt) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, duplicateReadTimeout)
	defer cancel()
	stream, err := p.js.Stream(ctx, r.Stream)
	if err != nil {
		return nil, err
	}
	msg, err := stream.GetMsg(ctx, r.Sequence)
	if err != nil {
		return nil, err
	}
	return msg.Data, nil
}

// readResult returns the stored result of event id, or nil when there is
// none, within duplicateReadTimeout. It reads through an ordered consumer
// filtered on the event's result, which a publisher that waits may
// create (a direct get of the result stream would read any result).
func (p *Publisher) readResult(ctx context.Context, id string) (*PurgeResult, error) {
	ctx, cancel := context.WithTimeout(ctx, duplicateReadTimeout)
	defer cancel()
	cons, err := p.js.OrderedConsumer(ctx, p.results, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{ResultFilter(id)},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return nil, err
	}
	if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
		return nil, nil
	}
	res, err := WaitResult(ctx, cons)
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// callerEnded reports whether the caller's ctx ended for another reason
// than a refusal: a refusal that a guard (bus.Permissions) turned into
// ctx's cancellation is an unreadable stored event, not the caller
// giving up.
func callerEnded(ctx context.Context) bool {
	return ctx.Err() != nil && !errors.Is(context.Cause(ctx), nats.ErrPermissionViolation)
}

// content is what an event asks to purge: its normalized objects, each
// as "type action network object", and its metadata (echoed in its
// result). The source and the time are not content: a retry may differ
// in them.
type content struct {
	objects  map[string]bool
	metadata map[string]string
}

func contentKey(t akamai.Type, a akamai.Action, n akamai.Network, obj string) string {
	return string(t) + " " + string(a) + " " + string(n) + " " + obj
}

func contentOf(e *ContentChanged) (content, error) {
	n := *e
	n.URLs = slices.Clone(e.URLs)
	n.Tags = slices.Clone(e.Tags)
	if err := n.Normalize(); err != nil {
		return content{}, err
	}
	c := content{objects: map[string]bool{}, metadata: e.Metadata}
	for _, u := range n.URLs {
		c.objects[contentKey(akamai.TypeURL, n.Action, n.Network, u)] = true
	}
	for _, t := range n.Tags {
		c.objects[contentKey(akamai.TypeTag, n.Action, n.Network, t)] = true
	}
	for _, cp := range n.CPCodes {
		c.objects[contentKey(akamai.TypeCPCode, n.Action, n.Network, strconv.FormatInt(cp, 10))] = true
	}
	return c, nil
}

// contentOfResult is the content of the event a result answers; ok is
// false when the result does not name each object with its type, action
// and network (an event refused as a whole).
func contentOfResult(r PurgeResult) (c content, ok bool) {
	c = content{objects: map[string]bool{}, metadata: r.Metadata}
	add := func(t akamai.Type, a akamai.Action, n akamai.Network, objs []string) bool {
		if t == "" || a == "" || n == "" || len(objs) == 0 {
			return false
		}
		for _, o := range objs {
			c.objects[contentKey(t, a, n, o)] = true
		}
		return true
	}
	for _, p := range r.Purges {
		if !add(p.Type, p.Action, p.Network, p.Objects) {
			return c, false
		}
	}
	for _, f := range r.Failures {
		if !add(f.Type, f.Action, f.Network, f.Objects) {
			return c, false
		}
	}
	return c, len(c.objects) > 0
}

// difference describes how want (the new event) differs from c (the
// stored one), or is "" when they are the same.
func (c content) difference(want content) string {
	var only, missing []string
	for k := range want.objects {
		if !c.objects[k] {
			only = append(only, k)
		}
	}
	for k := range c.objects {
		if !want.objects[k] {
			missing = append(missing, k)
		}
	}
	var parts []string
	if len(only) > 0 {
		parts = append(parts, "the new event also has "+sample(only))
	}
	if len(missing) > 0 {
		parts = append(parts, "the stored one also has "+sample(missing))
	}
	if len(parts) == 0 && !maps.Equal(c.metadata, want.metadata) {
		parts = append(parts, "their metadata differ")
	}
	return strings.Join(parts, "; ")
}

// sample lists a few of keys, sorted, and how many more there are.
func sample(keys []string) string {
	slices.Sort(keys)
	const n = 3
	if len(keys) <= n {
		return strings.Join(keys, ", ")
	}
	return fmt.Sprintf("%s (and %d more)", strings.Join(keys[:n], ", "), len(keys)-n)
}
