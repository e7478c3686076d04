package bus_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/events"
)

// problems returns the typed errors inside a Verify error.
func problems(err error) (missingStreams []string, missingConsumers []string, incompatible []*bus.IncompatibleError) {
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case *bus.MissingStreamError:
			missingStreams = append(missingStreams, e.Stream)
		case *bus.MissingConsumerError:
			missingConsumers = append(missingConsumers, e.Durable)
		case *bus.IncompatibleError:
			incompatible = append(incompatible, e)
		case interface{ Unwrap() []error }:
			for _, x := range e.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return
}

func (r *natsRig) verify(t *testing.T, c bus.StreamsConfig) error {
	t.Helper()
	return bus.Verify(ctxFor(t, 10*time.Second), r.js, c)
}

func TestVerifyReportsEverythingMissing(t *testing.T) {
	r := startNATS(t)
	err := r.verify(t, bus.StreamsConfig{})
	if !errors.Is(err, bus.ErrNotProvisioned) {
		t.Fatalf("Verify on an empty server = %v, want ErrNotProvisioned", err)
	}
	streams, _, _ := problems(err)
	want := []string{events.DefaultContentStream, events.DefaultResultStream, events.DefaultDeadLetterStream}
	if !slices.Equal(streams, want) {
		t.Errorf("missing streams %v, want %v", streams, want)
	}
	var ms *bus.MissingStreamError
	if !errors.As(err, &ms) || ms.Stream != events.DefaultContentStream || !slices.Equal(ms.Subjects, events.ContentSubjects) {
		t.Errorf("errors.As MissingStreamError: %+v", ms)
	}
	if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "content.changed.>") {
		t.Errorf("error %q should be one line naming the subjects", err)
	}

	r.provision(t, bus.StreamsConfig{})
	if err := r.verify(t, bus.StreamsConfig{}); err != nil {
		t.Errorf("Verify after Provision: %v", err)
	}
	// Tunables are the operator's: a different in-flight limit, ack wait
	// or retention is not a problem.
	if err := r.verify(t, bus.StreamsConfig{MaxAckPending: 7, AckWait: time.Minute, ResultMaxAge: time.Hour, Replicas: 3}); err != nil {
		t.Errorf("Verify with other tunables: %v", err)
	}
	// Other names are other streams.
	err = r.verify(t, bus.StreamsConfig{ResultStream: "RESULTS2", Durable: "other"})
	streams, consumers, _ := problems(err)
	if !slices.Equal(streams, []string{"RESULTS2"}) || !slices.Equal(consumers, []string{"other"}) {
		t.Errorf("Verify with other names: %v (streams %v consumers %v)", err, streams, consumers)
	}
	var mc *bus.MissingConsumerError
	if !errors.As(err, &mc) || mc.Stream != events.DefaultContentStream || !strings.Contains(err.Error(), "durable consumer other on stream CONTENT") {
		t.Errorf("error %q, want the missing durable named", err)
	}
	// RESULTS2 would capture the subjects PURGE_RESULTS has: say so.
	if !errors.As(err, &ms) || ms.CapturedBy != events.DefaultResultStream || !strings.Contains(err.Error(), "stream PURGE_RESULTS captures") {
		t.Errorf("error %q should name the stream capturing the subjects", err)
	}
}

func TestVerifyIncompatible(t *testing.T) {
	ctx := ctxFor(t, 30*time.Second)
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, js jetstream.JetStream)
		want  []string // in the error, in this order
		// fixed reports whether Provision brings it into line.
		fixed bool
	}{
		{
			name: "content stream not a work queue",
			setup: func(t *testing.T, js jetstream.JetStream) {
				mustStream(t, js, jetstream.StreamConfig{Name: "CONTENT", Subjects: events.ContentSubjects, Retention: jetstream.LimitsPolicy})
			},
			want: []string{"stream CONTENT", "retention is Limits, want work queue"},
		},
		{
			name: "content stream without the sub-subjects",
			setup: func(t *testing.T, js jetstream.JetStream) {
				mustStream(t, js, jetstream.StreamConfig{Name: "CONTENT", Subjects: []string{"content.changed"}, Retention: jetstream.WorkQueuePolicy})
			},
			want:  []string{"stream CONTENT", "does not capture content.changed.>"},
			fixed: true,
		},
		{
			name: "result stream on other subjects",
			setup: func(t *testing.T, js jetstream.JetStream) {
				mustStream(t, js, jetstream.StreamConfig{Name: "PURGE_RESULTS", Subjects: []string{"purge.result.succeeded.>"}})
			},
			want:  []string{"stream PURGE_RESULTS", "does not capture purge.result.>"},
			fixed: true,
		},
		{
			name: "more stream subjects are fine",
			setup: func(t *testing.T, js jetstream.JetStream) {
				mustStream(t, js, jetstream.StreamConfig{Name: "PURGE_RESULTS", Subjects: []string{"audit.purges.>", "purge.result.>"}})
			},
			fixed: true,
		},
		{
			name: "durable is a push consumer",
			setup: func(t *testing.T, js jetstream.JetStream) {
				mustStream(t, js, jetstream.StreamConfig{Name: "CONTENT", Subjects: events.ContentSubjects, Retention: jetstream.WorkQueuePolicy})
				mustConsumer(t, js, jetstream.ConsumerConfig{Durable: "purgebus", AckPolicy: jetstream.AckExplicitPolicy, DeliverSubject: "deliver.here"})
			},
			want: []string{"consumer purgebus on CONTENT", "push consumer"},
		},
		{
			name: "durable filter beyond content events",
			setup: func(t *testing.T, js jetstream.JetStream) {
				mustStream(t, js, jetstream.StreamConfig{Name: "CONTENT", Subjects: append([]string{"orders.>"}, events.ContentSubjects...), Retention: jetstream.WorkQueuePolicy})
				mustConsumer(t, js, jetstream.ConsumerConfig{Durable: "purgebus", AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "orders.>"})
			},
			want:  []string{"filter orders.> takes messages that are not content events"},
			fixed: true,
		},
		{
			name: "no filter on a stream shared with other work",
			setup: func(t *testing.T, js jetstream.JetStream) {
				mustStream(t, js, jetstream.StreamConfig{Name: "CONTENT", Subjects: append([]string{"orders.>"}, events.ContentSubjects...), Retention: jetstream.WorkQueuePolicy})
				mustConsumer(t, js, jetstream.ConsumerConfig{Durable: "purgebus", AckPolicy: jetstream.AckExplicitPolicy})
			},
			want:  []string{"no filter and the stream also captures orders.>"},
			fixed: true,
		},
		{
			name: "narrower filter is fine",
			setup: func(t *testing.T, js jetstream.JetStream) {
				mustStream(t, js, jetstream.StreamConfig{Name: "CONTENT", Subjects: events.ContentSubjects, Retention: jetstream.WorkQueuePolicy})
				mustConsumer(t, js, jetstream.ConsumerConfig{Durable: "purgebus", AckPolicy: jetstream.AckExplicitPolicy, FilterSubjects: []string{"content.changed.blog.>", "content.changed.shop"}})
			},
			fixed: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startNATS(t)
			tc.setup(t, r.js)
			// The rest exists as Provision makes it.
			provisionMissing(t, r.js)
			err := r.verify(t, bus.StreamsConfig{})
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
			} else {
				if !errors.Is(err, bus.ErrNotProvisioned) {
					t.Fatalf("Verify = %v, want ErrNotProvisioned", err)
				}
				if _, _, inc := problems(err); len(inc) != 1 {
					t.Errorf("%d incompatibilities in %v, want 1", len(inc), err)
				}
				at := 0
				for _, w := range tc.want {
					i := strings.Index(err.Error()[at:], w)
					if i < 0 {
						t.Fatalf("error %q does not say %q", err, w)
					}
					at += i
				}
			}
			perr := bus.Provision(ctx, r.js, bus.StreamsConfig{})
			t.Logf("Verify: %v\nProvision: %v", err, perr)
			if tc.fixed != (perr == nil) {
				t.Errorf("Provision = %v, want fixed %v", perr, tc.fixed)
			}
			if perr != nil && !strings.Contains(perr.Error(), tc.want[0]) {
				t.Errorf("Provision error %q does not name %s", perr, tc.want[0])
			}
			if tc.fixed {
				if err := r.verify(t, bus.StreamsConfig{}); err != nil {
					t.Errorf("Verify after Provision: %v", err)
				}
			}
		})
	}
}

func mustStream(t *testing.T, js jetstream.JetStream, sc jetstream.StreamConfig) {
	t.Helper()
	if _, err := js.CreateStream(ctxFor(t, 5*time.Second), sc); err != nil {
		t.Fatalf("create stream %s: %v", sc.Name, err)
	}
}

func mustConsumer(t *testing.T, js jetstream.JetStream, cc jetstream.ConsumerConfig) {
	t.Helper()
	if _, err := js.CreateConsumer(ctxFor(t, 5*time.Second), "CONTENT", cc); err != nil {
		t.Fatalf("create consumer %s: %v", cc.Durable, err)
	}
}

// provisionMissing creates what Provision would for whatever does not
// exist yet, leaving what exists alone.
func provisionMissing(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	ctx := ctxFor(t, 10*time.Second)
	for _, sc := range []jetstream.StreamConfig{
		{Name: "CONTENT", Subjects: events.ContentSubjects, Retention: jetstream.WorkQueuePolicy},
		{Name: "PURGE_RESULTS", Subjects: []string{"purge.result.>"}},
		{Name: "PURGE_DEADLETTER", Subjects: []string{"purge.deadletter.>"}},
	} {
		if _, err := js.Stream(ctx, sc.Name); errors.Is(err, jetstream.ErrStreamNotFound) {
			mustStream(t, js, sc)
		}
	}
	if _, err := js.Consumer(ctx, "CONTENT", "purgebus"); errors.Is(err, jetstream.ErrConsumerNotFound) {
		mustConsumer(t, js, jetstream.ConsumerConfig{Durable: "purgebus", AckPolicy: jetstream.AckExplicitPolicy})
	}
}

// TestProvisionUpdatesExisting: with provisioning, existing streams get
// the configured replicas-independent limits and keep what the operator
// set that purgebus does not manage.
func TestProvisionUpdatesExisting(t *testing.T) {
	r := startNATS(t)
	ctx := ctxFor(t, 20*time.Second)
	mustStream(t, r.js, jetstream.StreamConfig{
		Name: "PURGE_RESULTS", Subjects: []string{"purge.result.>"}, MaxAge: time.Hour, MaxMsgs: 5000,
		Description: "ours, with a message limit",
	})
	mustStream(t, r.js, jetstream.StreamConfig{
		Name: "CONTENT", Subjects: []string{"content.changed"}, Retention: jetstream.WorkQueuePolicy, MaxAge: 48 * time.Hour,
	})
	r.provision(t, bus.StreamsConfig{ResultMaxAge: 3 * 24 * time.Hour, ResultMaxBytes: 1 << 30, DeadLetterMaxAge: 90 * 24 * time.Hour, Duplicates: 5 * time.Minute})
	cfg := func(name string) jetstream.StreamConfig {
		s, err := r.js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return s.CachedInfo().Config
	}
	res := cfg("PURGE_RESULTS")
	if res.MaxAge != 3*24*time.Hour || res.MaxBytes != 1<<30 || res.Duplicates != 5*time.Minute || res.MaxMsgs != 5000 || res.Description != "ours, with a message limit" {
		t.Errorf("results stream after provisioning: max age %v max bytes %d duplicates %v max msgs %d description %q",
			res.MaxAge, res.MaxBytes, res.Duplicates, res.MaxMsgs, res.Description)
	}
	if dl := cfg("PURGE_DEADLETTER"); dl.MaxAge != 90*24*time.Hour || dl.MaxBytes != -1 || dl.Replicas != 1 {
		t.Errorf("dead-letter stream: max age %v max bytes %d replicas %d", dl.MaxAge, dl.MaxBytes, dl.Replicas)
	}
	content := cfg("CONTENT")
	if !slices.Equal(content.Subjects, events.ContentSubjects) || content.MaxAge != 48*time.Hour {
		t.Errorf("content stream: subjects %v (want ours added), max age %v (the operator's, kept)", content.Subjects, content.MaxAge)
	}
	// Back to no byte limit.
	r.provision(t, bus.StreamsConfig{})
	if res := cfg("PURGE_RESULTS"); res.MaxBytes != -1 || res.MaxAge != 7*24*time.Hour {
		t.Errorf("results stream back to defaults: max bytes %d max age %v", res.MaxBytes, res.MaxAge)
	}
	// A durable keeps what purgebus does not manage; tunables follow.
	if err := r.js.DeleteConsumer(ctx, "CONTENT", "purgebus"); err != nil {
		t.Fatal(err)
	}
	mustConsumer(t, r.js, jetstream.ConsumerConfig{Durable: "purgebus", AckPolicy: jetstream.AckExplicitPolicy, Description: "the operator's"})
	r.provision(t, bus.StreamsConfig{MaxAckPending: 33})
	if c := r.consumerInfo(t).Config; c.Description != "the operator's" || c.MaxAckPending != 33 {
		t.Errorf("durable after provisioning: description %q max ack pending %d", c.Description, c.MaxAckPending)
	}
	// More replicas than servers is the server's error, named.
	err := bus.Provision(ctx, r.js, bus.StreamsConfig{Replicas: 3})
	t.Logf("3 replicas: %v", err)
	if err == nil || !strings.Contains(err.Error(), "CONTENT") {
		t.Errorf("Provision with 3 replicas on one server: %v", err)
	}
}

// TestProvisionReportsOverlapOnUpdate: adding our subjects to an existing
// stream that another stream captures names the other stream.
func TestProvisionReportsOverlapOnUpdate(t *testing.T) {
	r := startNATS(t)
	mustStream(t, r.js, jetstream.StreamConfig{Name: "CONTENT", Subjects: []string{"content.changed"}, Retention: jetstream.WorkQueuePolicy})
	mustStream(t, r.js, jetstream.StreamConfig{Name: "BLOG_EVENTS", Subjects: []string{"content.changed.blog"}})
	err := bus.Provision(ctxFor(t, 10*time.Second), r.js, bus.StreamsConfig{})
	if err == nil || !strings.Contains(err.Error(), "BLOG_EVENTS") || strings.Count(err.Error(), "CONTENT") != 1 {
		t.Errorf("Provision = %v, want an error naming BLOG_EVENTS (and CONTENT once)", err)
	}
}

func TestSubjectCovers(t *testing.T) {
	for _, tc := range []struct {
		pattern, subject string
		want             bool
	}{
		{"content.changed", "content.changed", true},
		{"content.changed.>", "content.changed.>", true},
		{"content.changed.>", "content.changed.blog", true},
		{"content.changed.>", "content.changed", false},
		{"content.changed", "content.changed.>", false},
		{"content.>", "content.changed", true},
		{"content.>", "content.changed.>", true},
		{">", "content.changed.>", true},
		{"content.*", "content.changed", true},
		{"content.*", "content.changed.>", false},
		{"content.*", "content.*", true},
		{"content.changed.*", "content.changed.>", false},
		{"content.*.>", "content.changed.>", true},
		{"*.changed", "content.changed", true},
		{"content.changed.blog", "content.changed.>", false},
		{"content.changed.blog.>", "content.changed.>", false},
		{"orders.>", "content.changed", false},
		{"content", "content.changed", false},
	} {
		if got := bus.SubjectCovers(tc.pattern, tc.subject); got != tc.want {
			t.Errorf("SubjectCovers(%q, %q) = %v, want %v", tc.pattern, tc.subject, got, tc.want)
		}
	}
}
