package bus_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/bus"
)

func TestTransient(t *testing.T) {
	api := func(code jetstream.ErrorCode) error {
		return &jetstream.APIError{Code: 500, ErrorCode: code, Description: "x"}
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"no suitable peers (peer offline)", api(10005), true},
		{"temporarily unavailable", api(10008), true},
		{"wrapped", fmt.Errorf("bus: create stream X: %w", api(10005)), true},
		{"replicas > 1 on one server", api(10074), false},
		{"stream not found", api(jetstream.JSErrCodeStreamNotFound), false},
		{"request timeout", nats.ErrTimeout, true},
		{"deadline", fmt.Errorf("look up: %w", context.DeadlineExceeded), true},
		{"no responders: no JetStream", nats.ErrNoResponders, false},
		{"other", errors.New("boom"), false},
	} {
		if got := bus.Transient(tc.err); got != tc.want {
			t.Errorf("%s: Transient(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestRetryTransient(t *testing.T) {
	peerOffline := &jetstream.APIError{Code: 500, ErrorCode: 10005, Description: "no suitable peers for placement, peer offline"}
	for _, tc := range []struct {
		name      string
		errs      []error // op's answers, in turn; nil after the last
		wantCalls int
		wantErr   error
	}{
		{"at once", nil, 1, nil},
		{"after a cluster formed", []error{peerOffline, peerOffline}, 3, nil},
		{"final error at once", []error{jetstream.ErrStreamNotFound, nil}, 1, jetstream.ErrStreamNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := bus.RetryTransient(context.Background(), func(context.Context) error {
				calls++
				if calls <= len(tc.errs) {
					return tc.errs[calls-1]
				}
				return nil
			})
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Errorf("err %v, want %v", err, tc.wantErr)
			}
			if calls != tc.wantCalls {
				t.Errorf("%d calls, want %d", calls, tc.wantCalls)
			}
		})
	}
	t.Run("an unanswered request is sent again", func(t *testing.T) {
		calls := 0
		err := bus.RetryTransientWithin(context.Background(), func(ctx context.Context) error {
			calls++
			if calls == 1 {
				<-ctx.Done() // a meta leader dropped it: no answer ever
				return fmt.Errorf("bus: create stream X: %w", ctx.Err())
			}
			return nil
		}, 10*time.Second, 100*time.Millisecond)
		if err != nil || calls != 2 {
			t.Errorf("err %v after %d calls, want nil after 2", err, calls)
		}
	})
	t.Run("stops with its context", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := bus.RetryTransient(ctx, func(context.Context) error { return peerOffline })
		if !errors.Is(err, peerOffline) {
			t.Errorf("err %v, want the last transient error", err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("returned %v after its context ended", took)
		}
	})
}

// TestProvisionFailsFastOnPermanentErrors: what a server can never do
// (three replicas without a cluster) is reported at once, not retried.
func TestProvisionFailsFastOnPermanentErrors(t *testing.T) {
	r := startNATS(t)
	start := time.Now()
	err := bus.Provision(ctxFor(t, 20*time.Second), r.js, bus.StreamsConfig{Replicas: 3})
	if err == nil {
		t.Fatal("Provision with 3 replicas on one server succeeded")
	}
	if bus.Transient(err) {
		t.Errorf("Transient(%v) = true", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Provision took %v to report %v", took, err)
	}
}
