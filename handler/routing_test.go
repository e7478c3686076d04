package handler

import (
	"slices"
	"testing"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/bus"
	"github.com/purgebus/purgebus/events"
	"github.com/purgebus/purgebus/routing"
)

const routingYAML = `
accounts:
  main: {edgerc_section: ccu}
  shop: {edgerc_section: ccu-shop}
routes:
  - hosts: ["www.example.com", "*.static.example.com"]
    account: main
  - hosts: ["shop.example.com"]
    account: shop
tags:
  default_account: main
  routes:
    - tags: ["shop-*"]
      account: shop
allow:
  hosts: ["*.example.com"]
quotas:
  per_source_objects_per_minute: 60
  burst: 4
  sources:
    cms: 6000
  over_quota: defer
max_objects_per_event: 10
`

// routingRig is a handler over two accounts, each with a fake Akamai of
// its own, so that where each object went is plain.
type routingRig struct {
	main, shop *akamaitest.Server
	pub        *recorder
	h          *Handler
	now        time.Time // the handler's clock
}

func newRoutingRig(t *testing.T) *routingRig {
	t.Helper()
	cfg, err := routing.Parse([]byte(routingYAML))
	if err != nil {
		t.Fatal(err)
	}
	router, err := routing.NewRouter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mainFake, mainClient := newFake(t, akamaitest.Options{})
	shopFake, shopClient := newFake(t, akamaitest.Options{})
	accounts := map[string]*Coalescer{
		"main": newCoalescer(t, mainClient, CoalescerConfig{Linger: 5 * time.Millisecond}),
		"shop": newCoalescer(t, shopClient, CoalescerConfig{Linger: 5 * time.Millisecond}),
	}
	r := &routingRig{main: mainFake, shop: shopFake, pub: &recorder{}, now: time.Now()}
	r.h = New(accounts["main"], r.pub, Config{Router: router, Accounts: accounts, Now: func() time.Time { return r.now }})
	return r
}

func TestHandleRoutesToAccounts(t *testing.T) {
	r := newRoutingRig(t)
	payload := eventJSON(t, events.ContentChanged{ID: "multi-1", Source: "cms",
		URLs: []string{"https://www.example.com/a", "https://shop.example.com/cart", "https://img.static.example.com/x.png"},
		Tags: []string{"news", "shop-sale"}})
	if err := r.h.Handle(newMsg(payload, testDelivery{seq: 1})); err != nil {
		t.Fatal(err)
	}
	sorted := func(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }
	if got := sorted(r.main.PurgedObjects(akamai.TypeURL)); !slices.Equal(got, []string{"https://img.static.example.com/x.png", "https://www.example.com/a"}) {
		t.Errorf("main account purged URLs %v", got)
	}
	if got := r.shop.PurgedObjects(akamai.TypeURL); !slices.Equal(got, []string{"https://shop.example.com/cart"}) {
		t.Errorf("shop account purged URLs %v", got)
	}
	if got := r.shop.PurgedObjects(akamai.TypeTag); !slices.Equal(got, []string{"shop-sale"}) {
		t.Errorf("shop account purged tags %v", got)
	}
	msgs := r.pub.all()
	if len(msgs) != 1 {
		t.Fatalf("published %d messages, want the result only", len(msgs))
	}
	res := decodeResult(t, msgs[0])
	if res.Outcome != events.OutcomeSucceeded {
		t.Fatalf("outcome %s: %+v", res.Outcome, res.Failures)
	}
	accounts := map[string]bool{}
	for _, p := range res.Purges {
		accounts[p.Account] = true
	}
	if !accounts["main"] || !accounts["shop"] || len(accounts) != 2 {
		t.Errorf("purges name accounts %v, want main and shop", accounts)
	}
}

func TestHandleRoutingRejections(t *testing.T) {
	tests := []struct {
		name        string
		ev          events.ContentChanged
		wantOutcome events.Outcome
		wantTitle   string
		purged      int // URLs the main account purged
	}{
		{"host matches no route", events.ContentChanged{URLs: []string{"https://www.example.com/ok", "https://blog.example.com/x"}},
			events.OutcomePartial, "no route", 1},
		{"host not allowed", events.ContentChanged{URLs: []string{"https://www.other.org/x"}},
			events.OutcomeFailed, "not allowed", 0},
		{"too many objects", events.ContentChanged{URLs: func() []string {
			var u []string
			for i := range 11 {
				u = append(u, "https://www.example.com/"+string(rune('a'+i)))
			}
			return u
		}()}, events.OutcomeFailed, "too many objects", 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRoutingRig(t)
			tt.ev.ID = "rej-" + string(rune('a'+i))
			tt.ev.Source = "source-" + tt.name // a quota of its own
			if err := r.h.Handle(newMsg(eventJSON(t, tt.ev), testDelivery{seq: uint64(10 + i)})); err != nil {
				t.Fatal(err)
			}
			var res events.PurgeResult
			var dead int
			for _, p := range r.pub.all() {
				switch {
				case p.subject == events.DeadLetterSubject(tt.ev.ID):
					dead++
				default:
					res = decodeResult(t, p)
				}
			}
			if dead != 1 {
				t.Errorf("%d dead letters, want 1", dead)
			}
			if res.Outcome != tt.wantOutcome {
				t.Errorf("outcome %s, want %s", res.Outcome, tt.wantOutcome)
			}
			found := false
			for _, f := range res.Failures {
				found = found || f.Title == tt.wantTitle
			}
			if !found {
				t.Errorf("failures %+v, want one titled %q", res.Failures, tt.wantTitle)
			}
			if got := len(r.main.PurgedObjects(akamai.TypeURL)); got != tt.purged {
				t.Errorf("main account purged %d URLs, want %d", got, tt.purged)
			}
		})
	}
}

// TestHandleQuotaDefers: a source over its quota is not refused at once:
// its event is nacked with the delay the quota needs, and purged when it
// comes back.
func TestHandleQuotaDefers(t *testing.T) {
	r := newRoutingRig(t)
	first := events.ContentChanged{ID: "q-1", Source: "noisy", URLs: []string{"https://www.example.com/1", "https://www.example.com/2", "https://www.example.com/3", "https://www.example.com/4"}}
	if err := r.h.Handle(newMsg(eventJSON(t, first), testDelivery{seq: 1})); err != nil {
		t.Fatal(err)
	}
	second := events.ContentChanged{ID: "q-2", Source: "noisy", URLs: []string{"https://www.example.com/5"}}
	msg := newMsg(eventJSON(t, second), testDelivery{seq: 2})
	if err := r.h.Handle(msg); err == nil {
		t.Fatal("an event over its source's quota was handled at once")
	}
	d, err := time.ParseDuration(msg.Metadata.Get(bus.MetaNakDelay))
	if err != nil || d <= 0 || d > 2*time.Second {
		t.Fatalf("nak delay %q (%v), want about 1 s (60 per minute)", msg.Metadata.Get(bus.MetaNakDelay), err)
	}
	if len(r.pub.all()) != 1 {
		t.Fatalf("a deferred event published something")
	}
	// The redelivery, once the delay is over, passes without being
	// charged again.
	r.now = r.now.Add(d)
	if err := r.h.Handle(newMsg(eventJSON(t, second), testDelivery{seq: 2, delivered: 2})); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	if got := len(r.main.PurgedObjects(akamai.TypeURL)); got != 5 {
		t.Errorf("%d URLs purged, want 5", got)
	}
}
