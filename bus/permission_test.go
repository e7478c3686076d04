package bus_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/bus"
)

func TestParsePermissionError(t *testing.T) {
	violation := func(msg string) error { return fmt.Errorf("%w: %s", nats.ErrPermissionViolation, msg) }
	for _, tc := range []struct {
		name        string
		err         error
		ok          bool
		op, subject string
		says        string // in Error()
	}{
		{"stream create", violation(`Permissions Violation for Publish to "$JS.API.STREAM.CREATE.CONTENT"`), true,
			"publish", "$JS.API.STREAM.CREATE.CONTENT", "create stream CONTENT"},
		{"ack", violation(`Permissions Violation for Publish to "$JS.ACK.CONTENT.purgebus.1.2.3.4.5"`), true,
			"publish", "$JS.ACK.CONTENT.purgebus.1.2.3.4.5", "acknowledge messages of consumer purgebus on stream CONTENT"},
		{"pull", violation(`Permissions Violation for Publish to "$JS.API.CONSUMER.MSG.NEXT.CONTENT.purgebus"`), true,
			"publish", "$JS.API.CONSUMER.MSG.NEXT.CONTENT.purgebus", "pull messages from consumer purgebus on stream CONTENT"},
		{"consumer with filter", violation(`Permissions Violation for Publish to "$JS.API.CONSUMER.CREATE.PURGE_RESULTS.x_1.purge.result.*.id"`), true,
			"publish", "$JS.API.CONSUMER.CREATE.PURGE_RESULTS.x_1.purge.result.*.id", "create consumer x_1 on stream PURGE_RESULTS"},
		{"key-value write", violation(`Permissions Violation for Publish to "$KV.purgebus_budget.default"`), true,
			"publish", "$KV.purgebus_budget.default", "write to key-value bucket purgebus_budget"},
		{"plain subject", violation(`Permissions Violation for Publish to "content.changed.shop"`), true,
			"publish", "content.changed.shop", `publish to "content.changed.shop" on connection c`},
		{"inbox", violation(`Permissions Violation for Subscription to "_INBOX.abc.*"`), true,
			"subscribe", "_INBOX.abc.*", "reply inbox"},
		{"queue subscription", violation(`Permissions Violation for Subscription to "purge.result.>" using queue "q"`), true,
			"subscribe", "purge.result.>", `subscribe to "purge.result.>"`},
		{"lower case", violation(`permissions violation for publish to "x"`), true, "publish", "x", `"x"`},
		{"other error", nats.ErrTimeout, false, "", "", ""},
		{"nil", nil, false, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pe, ok := bus.ParsePermissionError("c", tc.err)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if pe.Op != tc.op || pe.Subject != tc.subject || pe.Conn != "c" {
				t.Errorf("got %+v, want op %s subject %s", pe, tc.op, tc.subject)
			}
			if !strings.Contains(pe.Error(), tc.says) {
				t.Errorf("%q does not say %q", pe.Error(), tc.says)
			}
			if !errors.Is(pe, bus.ErrPermission) || !errors.Is(pe, nats.ErrPermissionViolation) {
				t.Errorf("%v is not ErrPermission and nats.ErrPermissionViolation", pe)
			}
			if bus.Transient(fmt.Errorf("wrapped: %w", pe)) {
				t.Errorf("a refusal is transient")
			}
		})
	}
}

func TestPermissionsGuard(t *testing.T) {
	var p bus.Permissions
	ctx, cancel := p.Guard(context.Background())
	if p.Report("c", nats.ErrTimeout) != nil || ctx.Err() != nil || p.Err() != nil {
		t.Fatal("an error that is no refusal counted as one")
	}
	refusal := fmt.Errorf("%w: Permissions Violation for Publish to \"a.b\"", nats.ErrPermissionViolation)
	if p.Report("c", refusal) == nil {
		t.Fatal("the refusal was not recognised")
	}
	if ctx.Err() == nil {
		t.Fatal("the guarded context was not cancelled by the refusal")
	}
	err := bus.Explain(ctx, fmt.Errorf("bus: look up stream X: %w", ctx.Err()))
	var pe *bus.PermissionError
	if !errors.As(err, &pe) || pe.Subject != "a.b" {
		t.Fatalf("Explain: %v, want the refusal of a.b", err)
	}
	if strings.Contains(err.Error(), "context canceled") || !strings.Contains(err.Error(), "look up stream X") {
		t.Errorf("Explain: %q, want what failed and why, without the cancellation", err)
	}
	cancel()
	select {
	case <-p.Done():
	default:
		t.Error("Done is not closed after a refusal")
	}
	// A later guard ends at once: the permission is still missing.
	ctx2, cancel2 := p.Guard(context.Background())
	defer cancel2()
	if !errors.Is(context.Cause(ctx2), bus.ErrPermission) {
		t.Errorf("a guard after a refusal: cause %v", context.Cause(ctx2))
	}
	// Errors of calls that the refusal did not end pass unchanged.
	var q bus.Permissions
	ctx3, cancel3 := q.Guard(context.Background())
	defer cancel3()
	if err := bus.Explain(ctx3, jetstream.ErrStreamNotFound); err != jetstream.ErrStreamNotFound {
		t.Errorf("Explain changed an unrelated error: %v", err)
	}
}

// refusal is the error nats.go hands the error handler when the server
// refuses a publish to subject.
func refusal(subject string) error {
	return fmt.Errorf("%w: Permissions Violation for Publish to %q", nats.ErrPermissionViolation, subject)
}

func TestPermissionsTolerate(t *testing.T) {
	var p bus.Permissions
	p.Tolerate("$JS.API.INFO")
	ctx, cancel := p.Guard(context.Background())
	defer cancel()
	if p.Report("c", refusal("$JS.API.INFO")) == nil {
		t.Fatal("a tolerated refusal is still a refusal")
	}
	if ctx.Err() == nil {
		t.Error("a tolerated refusal did not end the call waiting for it")
	}
	if err := p.Err(); err != nil {
		t.Errorf("a tolerated refusal was recorded: %v", err)
	}
	later, cancelLater := p.Guard(context.Background())
	defer cancelLater()
	if later.Err() != nil {
		t.Error("a tolerated refusal ended a later guard")
	}
	p.Report("c", refusal("$JS.API.STREAM.INFO.X"))
	if !errors.Is(p.Err(), bus.ErrPermission) || later.Err() == nil {
		t.Errorf("a refusal after a tolerated one: Err %v, guard %v", p.Err(), later.Err())
	}
}

func TestPermissionsIgnore(t *testing.T) {
	var p bus.Permissions
	p.Ignore("$JS.API.STREAM.MSG.GET.")
	ctx, cancel := p.Guard(context.Background())
	defer cancel()
	if p.Report("c", refusal("$JS.API.STREAM.MSG.GET.CONTENT")) == nil {
		t.Fatal("an ignored refusal is still a refusal")
	}
	if ctx.Err() != nil || p.Err() != nil {
		t.Errorf("an ignored refusal ended the guard (%v) or was recorded (%v)", ctx.Err(), p.Err())
	}
	p.Report("c", refusal("$JS.API.STREAM.INFO.CONTENT"))
	if !errors.Is(p.Err(), bus.ErrPermission) || ctx.Err() == nil {
		t.Errorf("a refusal not ignored: Err %v, guard %v", p.Err(), ctx.Err())
	}
}

// TestProvisionRefusedStopsAtOnce provisions as a user that may not
// create streams: the refusal ends Provision at once, with an error that
// names the refused API call, instead of being retried as a request
// without an answer until RetryTransient gives up.
func TestProvisionRefusedStopsAtOnce(t *testing.T) {
	srv := startServer(t, &server.Options{
		JetStream: true, StoreDir: t.TempDir(),
		Users: []*server.User{{Username: "purgebus", Password: "pw", Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{"$JS.API.STREAM.INFO.>"}},
			Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
		}}},
	})
	perms := &bus.Permissions{}
	nc, err := bus.ConnectConfig{URL: srv.ClientURL(), User: "purgebus", Password: "pw", Permissions: perms}.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	err = perms.Guarded(context.Background(), func(ctx context.Context) error {
		return bus.Provision(ctx, js, bus.StreamsConfig{})
	})
	took := time.Since(begin)
	var pe *bus.PermissionError
	if !errors.As(err, &pe) || pe.Subject != "$JS.API.STREAM.CREATE.CONTENT" {
		t.Fatalf("Provision: %v, want the refusal of $JS.API.STREAM.CREATE.CONTENT", err)
	}
	t.Logf("Provision after %v: %v", took, err)
	// An unanswered request waits 10 s per attempt; a refusal must not.
	if took > 5*time.Second {
		t.Errorf("Provision took %v to report a refusal", took)
	}
}
