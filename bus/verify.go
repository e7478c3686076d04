package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/events"
)

// ErrNotProvisioned matches (errors.Is) every error Verify reports about
// the streams and the durable consumer themselves: Provision fixes them,
// or an operator can, as the error says.
var ErrNotProvisioned = errors.New("bus: JetStream not provisioned for purgebus")

// MissingStreamError is a stream that does not exist.
type MissingStreamError struct {
	Stream   string
	Subjects []string // the subjects it must capture
	// CapturedBy names existing streams that capture some of Subjects
	// instead, if any: perhaps the stream to name in the configuration.
	CapturedBy string
}

func (e *MissingStreamError) Error() string {
	s := fmt.Sprintf("stream %s (subjects %s) does not exist", e.Stream, strings.Join(e.Subjects, ", "))
	if e.CapturedBy != "" {
		s += "; stream " + e.CapturedBy + " captures those subjects"
	}
	return s
}

// Is makes errors.Is(err, ErrNotProvisioned) hold.
func (e *MissingStreamError) Is(target error) bool { return target == ErrNotProvisioned }

// MissingConsumerError is a durable consumer that does not exist.
type MissingConsumerError struct {
	Stream, Durable string
}

func (e *MissingConsumerError) Error() string {
	return fmt.Sprintf("durable consumer %s on stream %s does not exist", e.Durable, e.Stream)
}

// Is makes errors.Is(err, ErrNotProvisioned) hold.
func (e *MissingConsumerError) Is(target error) bool { return target == ErrNotProvisioned }

// IncompatibleError is a stream or durable consumer that exists with
// settings purgebus cannot work with.
type IncompatibleError struct {
	Kind     string // "stream" or "consumer"
	Name     string // the stream, or the durable ("DURABLE on STREAM")
	Problems []string
}

func (e *IncompatibleError) Error() string {
	return fmt.Sprintf("%s %s: %s", e.Kind, e.Name, strings.Join(e.Problems, "; "))
}

// Is makes errors.Is(err, ErrNotProvisioned) hold.
func (e *IncompatibleError) Is(target error) bool { return target == ErrNotProvisioned }

// Verify checks, without changing anything, that the streams and the
// durable consumer exist and that purgebus can work with them: each
// stream captures its subjects, the content stream is a work queue, and
// the durable is a pull consumer with explicit acks that takes content
// events only. Tunables (replicas, retention limits, in-flight limit, ack
// wait) are the operator's and not checked. Every problem found is
// reported at once, as *MissingStreamError, *MissingConsumerError and
// *IncompatibleError joined; all of them match ErrNotProvisioned. Other
// errors (no JetStream, no permission, no connection) are returned as
// they are.
func Verify(ctx context.Context, js jetstream.JetStream, c StreamsConfig) error {
	c = c.Defaults()
	var problems []error
	var content *jetstream.StreamConfig
	for i, want := range c.streamConfigs() {
		s, err := js.Stream(ctx, want.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			problems = append(problems, &MissingStreamError{
				Stream: want.Name, Subjects: want.Subjects, CapturedBy: overlapping(ctx, js, want.Subjects, want.Name),
			})
			continue
		}
		if err != nil {
			return fmt.Errorf("bus: look up stream %s: %w", want.Name, err)
		}
		got := s.CachedInfo().Config
		if i == 0 {
			content = &got
		}
		var ps []string
		for _, subj := range want.Subjects {
			if !coveredBy(subj, got.Subjects) {
				ps = append(ps, fmt.Sprintf("does not capture %s (its subjects: %s)", subj, strings.Join(got.Subjects, ", ")))
			}
		}
		if want.Retention == jetstream.WorkQueuePolicy && got.Retention != jetstream.WorkQueuePolicy {
			ps = append(ps, fmt.Sprintf("retention is %s, want work queue", got.Retention))
		}
		if len(ps) > 0 {
			problems = append(problems, &IncompatibleError{Kind: "stream", Name: want.Name, Problems: ps})
		}
	}
	if content != nil {
		if err := verifyConsumer(ctx, js, c, *content); err != nil {
			var inc *IncompatibleError
			var missing *MissingConsumerError
			if !errors.As(err, &inc) && !errors.As(err, &missing) {
				return err
			}
			problems = append(problems, err)
		}
	}
	if len(problems) > 0 {
		return verifyErrors(problems)
	}
	return nil
}

// verifyErrors are the problems Verify found, on one line.
type verifyErrors []error

func (e verifyErrors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return "bus: JetStream is not set up for purgebus: " + strings.Join(msgs, "; ")
}

func (e verifyErrors) Unwrap() []error { return e }

func verifyConsumer(ctx context.Context, js jetstream.JetStream, c StreamsConfig, stream jetstream.StreamConfig) error {
	cons, err := js.Consumer(ctx, c.ContentStream, c.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return &MissingConsumerError{Stream: c.ContentStream, Durable: c.Durable}
	}
	if errors.Is(err, jetstream.ErrNotPullConsumer) {
		return &IncompatibleError{Kind: "consumer", Name: c.Durable + " on " + c.ContentStream, Problems: []string{pushProblem}}
	}
	if err != nil {
		return fmt.Errorf("bus: look up consumer %s on %s: %w", c.Durable, c.ContentStream, err)
	}
	got := cons.CachedInfo().Config
	var ps []string
	if got.AckPolicy != jetstream.AckExplicitPolicy {
		ps = append(ps, fmt.Sprintf("ack policy is %s, want explicit", got.AckPolicy))
	}
	filters := got.FilterSubjects
	if got.FilterSubject != "" {
		filters = append(filters, got.FilterSubject)
	}
	takes := filters
	if len(filters) == 0 {
		takes = stream.Subjects // no filter: everything the stream captures
	}
	for _, f := range takes {
		if !coveredBy(f, events.ContentSubjects) {
			if len(filters) == 0 {
				ps = append(ps, fmt.Sprintf("has no filter and the stream also captures %s, which is not a content event; "+
					"filter on %s", f, strings.Join(events.ContentSubjects, " and ")))
			} else {
				ps = append(ps, fmt.Sprintf("filter %s takes messages that are not content events (%s)", f, strings.Join(events.ContentSubjects, ", ")))
			}
		}
	}
	if len(ps) > 0 {
		return &IncompatibleError{Kind: "consumer", Name: c.Durable + " on " + c.ContentStream, Problems: ps}
	}
	return nil
}

// pushProblem is what is wrong with a push consumer: JetStream cannot
// turn it into a pull consumer, so Provision cannot fix it either.
const pushProblem = "is a push consumer and purgebus needs a pull consumer; JetStream cannot change that: delete it or name another durable"

// coveredBy reports whether every subject matching subject also matches
// one of patterns (subject may hold wildcards itself).
func coveredBy(subject string, patterns []string) bool {
	for _, p := range patterns {
		if subjectCovers(p, subject) {
			return true
		}
	}
	return false
}

// subjectCovers reports whether pattern matches every subject that
// subject matches.
func subjectCovers(pattern, subject string) bool {
	p, s := strings.Split(pattern, "."), strings.Split(subject, ".")
	for i, pt := range p {
		if pt == ">" {
			return i < len(s)
		}
		if i >= len(s) {
			return false
		}
		switch {
		case pt == "*":
			if s[i] == ">" {
				return false
			}
		case pt != s[i]:
			return false
		}
	}
	return len(p) == len(s)
}
