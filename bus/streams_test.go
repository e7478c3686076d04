package bus_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/events"
)

// TestProvisionEmbeddedDefaults: an embedded server's result stream is
// bounded in size and has a short duplicate window, the dead-letter stream
// shares that window, and the content stream keeps its own; provisioning
// without them restores the unbounded defaults.
func TestProvisionEmbeddedDefaults(t *testing.T) {
	r := startNATS(t)
	ctx := ctxFor(t, 20*time.Second)
	cfg := func(name string) jetstream.StreamConfig {
		t.Helper()
		s, err := r.js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return s.CachedInfo().Config
	}
	r.provision(t, bus.StreamsConfig{}.EmbeddedDefaults())
	if c := cfg(events.DefaultResultStream); c.MaxBytes != bus.DefaultEmbeddedResultMaxBytes || c.Duplicates != bus.DefaultEmbeddedResultDuplicates ||
		c.MaxAge != 7*24*time.Hour || c.Discard != jetstream.DiscardOld {
		t.Errorf("result stream: max bytes %d, duplicates %v, max age %v, discard %v", c.MaxBytes, c.Duplicates, c.MaxAge, c.Discard)
	}
	if c := cfg(events.DefaultDeadLetterStream); c.Duplicates != bus.DefaultEmbeddedResultDuplicates || c.MaxBytes != -1 {
		t.Errorf("dead-letter stream: duplicates %v, max bytes %d", c.Duplicates, c.MaxBytes)
	}
	if c := cfg(events.DefaultContentStream); c.Duplicates != 2*time.Minute {
		t.Errorf("content stream: duplicates %v, want 2m", c.Duplicates)
	}

	// Explicit values win, and no bound is negative.
	r.provision(t, bus.StreamsConfig{ResultMaxBytes: -1, ResultDuplicates: time.Minute, Duplicates: 5 * time.Minute}.EmbeddedDefaults())
	if c := cfg(events.DefaultResultStream); c.MaxBytes != -1 || c.Duplicates != time.Minute {
		t.Errorf("result stream: max bytes %d, duplicates %v", c.MaxBytes, c.Duplicates)
	}
	if c := cfg(events.DefaultContentStream); c.Duplicates != 5*time.Minute {
		t.Errorf("content stream: duplicates %v, want 5m", c.Duplicates)
	}

	// Without the embedded defaults: no bound, Duplicates' window.
	r.provision(t, bus.StreamsConfig{})
	if c := cfg(events.DefaultResultStream); c.MaxBytes != -1 || c.Duplicates != 2*time.Minute {
		t.Errorf("result stream back to defaults: max bytes %d, duplicates %v", c.MaxBytes, c.Duplicates)
	}
	if c := cfg(events.DefaultDeadLetterStream); c.Duplicates != 2*time.Minute {
		t.Errorf("dead-letter stream back to defaults: duplicates %v", c.Duplicates)
	}
}

// TestProvisionClampsResultDuplicates: a window longer than the streams'
// retention, which JetStream refuses, is cut to it.
func TestProvisionClampsResultDuplicates(t *testing.T) {
	r := startNATS(t)
	ctx := ctxFor(t, 10*time.Second)
	r.provision(t, bus.StreamsConfig{ResultMaxAge: 30 * time.Second, DeadLetterMaxAge: 20 * time.Second, ResultDuplicates: time.Hour})
	for name, want := range map[string]time.Duration{events.DefaultResultStream: 30 * time.Second, events.DefaultDeadLetterStream: 20 * time.Second} {
		s, err := r.js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedInfo().Config.Duplicates; got != want {
			t.Errorf("%s: duplicates %v, want %v", name, got, want)
		}
	}
}

// TestResultStreamBound: past ResultMaxBytes the oldest results go, and a
// result published again within the window is stored once.
func TestResultStreamBound(t *testing.T) {
	r := startNATS(t)
	ctx := ctxFor(t, 20*time.Second)
	const bound = 64 << 10
	r.provision(t, bus.StreamsConfig{ResultMaxBytes: bound}.EmbeddedDefaults())
	payload := make([]byte, 200)
	for i := range 2000 {
		id := "ev-" + strconv.Itoa(i)
		if _, err := r.js.Publish(ctx, events.ResultSubject(events.OutcomeSucceeded, id), payload, jetstream.WithMsgID("result:"+id+":1")); err != nil {
			t.Fatal(err)
		}
	}
	ack, err := r.js.Publish(ctx, events.ResultSubject(events.OutcomeSucceeded, "ev-1999"), payload, jetstream.WithMsgID("result:ev-1999:1"))
	if err != nil {
		t.Fatal(err)
	}
	if !ack.Duplicate {
		t.Error("a result published again within the window was stored again")
	}
	s, err := r.js.Stream(ctx, events.DefaultResultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st := info.State; st.Bytes > bound || st.FirstSeq == 1 || st.LastSeq != 2000 {
		t.Errorf("result stream holds %d bytes (bound %d), sequences %d to %d", st.Bytes, bound, st.FirstSeq, st.LastSeq)
	}
}
