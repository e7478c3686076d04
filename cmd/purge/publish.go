package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/events"
)

// purgeOptions are the flags of invalidate and delete.
type purgeOptions struct {
	cpcode, tag         bool
	staging, production bool
	wait, json          bool
	timeout             time.Duration
	source, subject, id string
	maxEventBytes       int
	resultStream        string
	conn                connFlags
}

// purge runs "purge invalidate" and "purge delete".
func (c *cli) purge(ctx context.Context, name string, args []string) (*command, error) {
	action := akamai.Action(name)
	cmd := newCommand(name, name+" [--cpcode|--tag] [--staging|--production] [--wait] [--json] [flags] [objects...]",
		fmt.Sprintf(`Publishes a content-changed event that has the purgebus consumer %s the objects
on Akamai: URLs by default, cache tags with --tag, CP codes with --cpcode. Without
arguments the objects are read from standard input, one per line (blank lines and
lines starting with # are skipped). Flags may come before or after the objects; "--" ends the flags.

Without --wait it returns once JetStream stored the event and prints its ID. With
--wait it prints the purge IDs and the estimated completion, and exits with status 3
unless the outcome is succeeded. More objects than fit in one event
(--max-event-bytes) are split into several events.`, action))
	var o purgeOptions
	fs := cmd.fs
	fs.BoolVar(&o.cpcode, "cpcode", false, "the objects are CP codes")
	fs.BoolVar(&o.tag, "tag", false, "the objects are cache tags")
	fs.BoolVar(&o.staging, "staging", false, "purge on the staging network")
	fs.BoolVar(&o.production, "production", false, "purge on the production network (the default)")
	fs.BoolVar(&o.wait, "wait", false, "wait for the result, print the purge IDs and the estimated completion; exit 3 unless it succeeded")
	fs.BoolVar(&o.json, "json", false, "print JSON, one line per event: the result event with --wait, else the published event")
	timeoutFlag(cmd, &o.timeout, time.Minute, "give up after this `duration`: publishing and, with --wait, waiting for the result")
	fs.StringVar(&o.source, "source", defaultSource(c.lookupEnv), "who purges; echoed in the result")
	fs.StringVar(&o.subject, "subject", events.SubjectContentChanged, "subject to publish to: content.changed or a subject below it")
	fs.StringVar(&o.id, "id", "", "event `ID`, so that a retried command is stored once (split events get ID:1, ID:2, ...)")
	fs.IntVar(&o.maxEventBytes, "max-event-bytes", events.DefaultMaxEventBytes, "largest event published; more objects are split into several events (match the consumer's --max-event-bytes)")
	resultStreamFlag(cmd, &o.resultStream)
	o.conn.register(cmd)
	cmd.fromEnv("source", "subject", "max-event-bytes")

	objects, err := cmd.parse(args, c.lookupEnv)
	if err != nil {
		return cmd, err
	}
	evs, err := c.buildEvents(action, &o, objects)
	if err != nil {
		return cmd, err
	}
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	ctx, nc, _, err := c.connect(ctx, &o.conn)
	if err != nil {
		return cmd, err
	}
	defer nc.Close()
	// A reused ID is checked by reading the stored event, which a
	// publisher may not (docs/nats-permissions.md): events bounds those
	// reads and reads the result instead, so their refusal must not end
	// the command.
	for _, prefix := range duplicateReads {
		c.perms.Ignore(prefix)
	}
	pub, err := events.NewPublisher(nc, events.PublisherConfig{Subject: o.subject, ResultStream: o.resultStream, MaxEventBytes: o.maxEventBytes})
	if err != nil {
		return cmd, err
	}
	if !o.wait {
		for _, e := range evs {
			r, err := pub.PublishReceipt(ctx, e)
			if err != nil {
				return cmd, explain(err)
			}
			c.noteRetry(r)
			if err := c.printQueued(e, &o); err != nil {
				return cmd, err
			}
		}
		return cmd, nil
	}
	return cmd, c.purgeAndWait(ctx, pub, evs, &o)
}

// buildEvents checks the flags and objects and turns them into events,
// before anything connects: a bad command line should fail fast and
// offline.
func (c *cli) buildEvents(action akamai.Action, o *purgeOptions, objects []string) ([]*events.ContentChanged, error) {
	if o.cpcode && o.tag {
		return nil, usagef("--cpcode and --tag exclude each other")
	}
	if o.staging && o.production {
		return nil, usagef("--staging and --production exclude each other")
	}
	if !validContentSubject(o.subject) {
		return nil, usagef("--subject %q is not %s or a subject below it", o.subject, events.SubjectContentChanged)
	}
	if o.id != "" && !events.ValidID(o.id) {
		return nil, usagef("--id %q is not 1-%d characters from letters, digits and -_:=+", o.id, events.MaxIDLength)
	}
	if o.maxEventBytes < 1024 {
		return nil, usagef("--max-event-bytes %d is too small for an event (at least 1024)", o.maxEventBytes)
	}
	if o.maxEventBytes > maxEventBytes {
		return nil, usagef("--max-event-bytes %d is larger than any NATS server carries (at most %d)", o.maxEventBytes, maxEventBytes)
	}
	if len(objects) == 0 {
		var err error
		if objects, err = c.readObjects(); err != nil {
			return nil, err
		}
		if len(objects) == 0 {
			return nil, usagef("no objects: give them as arguments or one per line on standard input")
		}
	}
	typ := akamai.TypeURL
	switch {
	case o.cpcode:
		typ = akamai.TypeCPCode
	case o.tag:
		typ = akamai.TypeTag
	}
	network := akamai.NetworkProduction
	if o.staging {
		network = akamai.NetworkStaging
	}
	base := events.NewContentChanged(o.source).WithAction(action).WithNetwork(network)
	var codes []int64
	if typ == akamai.TypeCPCode {
		var bad []string
		for _, s := range objects {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n <= 0 {
				bad = append(bad, strconv.Quote(s))
				continue
			}
			codes = append(codes, n)
		}
		if len(bad) > 0 {
			return nil, usagef("CP codes are positive integers, not %s", strings.Join(bad, ", "))
		}
	}
	evs, err := split(base, typ, objects, codes, o.maxEventBytes)
	if err != nil {
		return nil, err
	}
	for i, e := range evs {
		if o.id != "" {
			e.ID = o.id
			if len(evs) > 1 {
				e.ID = o.id + ":" + strconv.Itoa(i+1)
			}
			if !events.ValidID(e.ID) {
				return nil, usagef("--id %q is too long for %d events", o.id, len(evs))
			}
		}
		// Normalize a copy, as the consumer will, to report every bad
		// object now instead of in a failed result.
		check := *e
		check.URLs = append([]string(nil), e.URLs...)
		check.Tags = append([]string(nil), e.Tags...)
		if err := check.Normalize(); err != nil {
			return nil, &usageError{err}
		}
	}
	return evs, nil
}

// maxEventBytes is nats-server's largest max_payload.
const maxEventBytes = 64 << 20

// readObjects reads objects from standard input, one per line.
func (c *cli) readObjects() ([]string, error) {
	if c.stdin == nil {
		return nil, nil
	}
	if f, ok := c.stdin.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			// Someone typed "purge invalidate" alone: say why it waits.
			fmt.Fprintln(c.stderr, "purge: reading objects from standard input, one per line; end with Ctrl-D")
		}
	}
	var objs []string
	sc := bufio.NewScanner(c.stdin)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		// Blank lines and "#" comments are skipped, as in most
		// line-oriented tools (a tag that starts with '#' is given as an
		// argument).
		if s := strings.TrimSpace(sc.Text()); s != "" && !strings.HasPrefix(s, "#") {
			objs = append(objs, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read standard input: %w", err)
	}
	return objs, nil
}

// validContentSubject reports whether s is content.changed or a valid
// subject below it (no wildcards, no empty tokens).
func validContentSubject(s string) bool {
	if s == events.SubjectContentChanged {
		return true
	}
	rest, ok := strings.CutPrefix(s, events.SubjectContentChanged+".")
	if !ok {
		return false
	}
	for tok := range strings.SplitSeq(rest, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
			return false
		}
	}
	return true
}

// split puts the objects into as few events as fit in maxBytes each: a
// larger event would be dead-lettered by the consumer, and one beyond
// NATS's payload limit would not even be published.
func split(base *events.ContentChanged, typ akamai.Type, objs []string, codes []int64, maxBytes int) ([]*events.ContentChanged, error) {
	// The size of the event without objects, with the longest possible ID
	// and room for the list's name and brackets: an upper bound, so the
	// split never has to be redone.
	probe := *base
	probe.ID = strings.Repeat("x", events.MaxIDLength)
	empty, err := probe.Encode()
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	overhead := len(empty) + len(`,"cpcodes":[]`)
	var evs []*events.ContentChanged
	var cur *events.ContentChanged
	size := 0
	for i, obj := range objs {
		// json.Marshal escapes <, > and & where the encoder does not, so
		// this overestimates.
		q, err := json.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("encode object: %w", err)
		}
		cost := len(q) + 1
		if overhead+cost > maxBytes {
			return nil, usagef("%s %.60q... alone is larger than --max-event-bytes %d", typ, obj, maxBytes)
		}
		if cur == nil || size+cost > maxBytes {
			e := *base
			cur = &e
			evs = append(evs, cur)
			size = overhead
		}
		size += cost
		switch typ {
		case akamai.TypeCPCode:
			cur.AddCPCodes(codes[i])
		case akamai.TypeTag:
			cur.AddTags(obj)
		default:
			cur.AddURLs(obj)
		}
	}
	return evs, nil
}

func (c *cli) printQueued(e *events.ContentChanged, o *purgeOptions) error {
	if o.json {
		data, err := e.Encode()
		if err != nil {
			return fmt.Errorf("encode event: %w", err)
		}
		_, err = fmt.Fprintf(c.stdout, "%s\n", data)
		return err
	}
	_, err := fmt.Fprintf(c.stdout, "queued event %s: %s %s on %s\n", e.ID, e.Action, countObjects(e), e.Network)
	return err
}

func countObjects(e *events.ContentChanged) string {
	switch {
	case len(e.CPCodes) > 0:
		return plural(len(e.CPCodes), akamai.TypeCPCode)
	case len(e.Tags) > 0:
		return plural(len(e.Tags), akamai.TypeTag)
	}
	return plural(len(e.URLs), akamai.TypeURL)
}

// plural counts objects of type t: "1 URL", "3 tags".
func plural(n int, t akamai.Type) string {
	what := string(t)
	switch t {
	case akamai.TypeURL:
		what = "URL"
	case akamai.TypeCPCode:
		what = "CP code"
	}
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// purgeAndWait publishes the events and waits for their results side by
// side, then prints them in order.
func (c *cli) purgeAndWait(ctx context.Context, pub *events.Publisher, evs []*events.ContentChanged, o *purgeOptions) error {
	type answer struct {
		res events.PurgeResult
		rc  events.Receipt
		err error
	}
	answers := make([]answer, len(evs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16) // each wait is an ordered consumer on the server
	for i, e := range evs {
		if e.ID == "" {
			// Set here, not by PurgeAndWait, so a failure can name it.
			e.ID = uuid.NewString()
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			res, rc, err := pub.PurgeAndWaitReceipt(ctx, e)
			answers[i] = answer{res, rc, err}
		})
	}
	wg.Wait()
	var errs []error
	notSucceeded := 0
	for i, a := range answers {
		c.noteRetry(a.rc)
		if a.err != nil {
			errs = append(errs, waitError(ctx, evs[i].ID, o.timeout, a.err))
			continue
		}
		if a.res.Outcome != events.OutcomeSucceeded {
			notSucceeded++
		}
		if err := c.printWaited(a.res, o.json); err != nil {
			return err
		}
	}
	if len(errs) == 1 {
		return errs[0]
	}
	if len(errs) > 1 {
		return fmt.Errorf("%d of %d events: %w", len(errs), len(evs), errors.Join(errs...))
	}
	if notSucceeded > 0 {
		return &notSuccessError{notSucceeded}
	}
	return nil
}

// noteRetry says on stderr that an event was a retry: JetStream had
// stored one with its ID and the same objects, so it is purged once.
// (Other objects under a used ID are an error.)
// duplicateReads are the requests with which events.Publisher reads the
// event stored under a reused ID; this command makes no other of them.
var duplicateReads = []string{"$JS.API.STREAM.INFO.", "$JS.API.STREAM.MSG.GET."}

func (c *cli) noteRetry(r events.Receipt) {
	if r.Duplicate {
		fmt.Fprintf(c.stderr, "purge: event %s was already stored with the same objects (%s sequence %d): a harmless retry, purged once\n", r.ID, r.Stream, r.Sequence)
	}
}

// waitError explains a PurgeAndWait that ended without a result.
func waitError(ctx context.Context, id string, timeout time.Duration, err error) error {
	ctxErr := contextErr(ctx)
	if ctxErr == nil || errors.Is(context.Cause(ctx), bus.ErrPermission) {
		return fmt.Errorf("event %s: %w", id, explain(err))
	}
	why := "interrupted"
	if errors.Is(ctxErr, context.DeadlineExceeded) {
		why = "no result within " + timeout.String()
	}
	return fmt.Errorf("event %s: %s (is a purgebus consumer running? If the event was stored it is purged once a consumer takes it, and 'purge results --id %s' shows its result): %w",
		id, why, id, err)
}

// printWaited prints one result: the event itself with --json, else the
// purge IDs, failures and estimated completion for a human.
func (c *cli) printWaited(r events.PurgeResult, asJSON bool) error {
	if asJSON {
		data, err := r.Encode()
		if err != nil {
			return fmt.Errorf("encode result: %w", err)
		}
		_, err = fmt.Fprintf(c.stdout, "%s\n", data)
		return err
	}
	w := &errWriter{w: c.stdout}
	w.printf("%s: event %s\n", r.Outcome, r.EventID)
	for _, p := range r.Purges {
		w.printf("  purge %s: %s %s on %s, estimated %ds (support ID %s)\n",
			p.PurgeID, p.Action, plural(len(p.Objects), p.Type), p.Network, p.EstimatedSeconds, p.SupportID)
	}
	for _, f := range r.Failures {
		w.printf("  failure: %s\n", failureText(f))
		if len(f.Objects) > 0 {
			w.printf("    %s\n", objectList(f.Objects, 5))
		}
	}
	if !r.EstimatedCompleteAt.IsZero() {
		w.printf("  estimated complete at %s", r.EstimatedCompleteAt.UTC().Format(time.RFC3339))
		if d := time.Until(r.EstimatedCompleteAt).Round(time.Second); d > 0 {
			w.printf(" (in %s)", d)
		}
		w.printf("\n")
	}
	return w.err
}

// failureText is a failure's status, title and detail.
func failureText(f events.Failure) string {
	var b strings.Builder
	if f.HTTPStatus != 0 {
		fmt.Fprintf(&b, "%d ", f.HTTPStatus)
	}
	b.WriteString(f.Title)
	if f.Detail != "" {
		b.WriteString(": ")
		b.WriteString(f.Detail)
	}
	return b.String()
}

// objectList shows at most n objects.
func objectList(objs []string, n int) string {
	if len(objs) <= n {
		return strings.Join(objs, " ")
	}
	return fmt.Sprintf("%s (and %d more)", strings.Join(objs[:n], " "), len(objs)-n)
}

// errWriter keeps the first write error, so printing code stays linear.
type errWriter struct {
	w   io.Writer
	err error
}

func (w *errWriter) printf(format string, args ...any) {
	if w.err == nil {
		_, w.err = fmt.Fprintf(w.w, format, args...)
	}
}
