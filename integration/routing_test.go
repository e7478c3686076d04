package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/consumer"
	"github.com/purgebus/purgebus/events"
	"github.com/purgebus/purgebus/routing"
)

// TestMultiAccount: one consumer serves two Akamai accounts, each with a
// fake of its own and its own buckets. URLs go by hostname, tags by
// prefix; a host that no route names is refused with a result and a dead
// letter, and never reaches either account.
func TestMultiAccount(t *testing.T) {
	cfg, err := routing.Parse([]byte(`
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
max_objects_per_event: 100
`))
	if err != nil {
		t.Fatal(err)
	}
	shop := akamaitest.NewServer(akamaitest.Options{})
	t.Cleanup(shop.Close)
	r := newRig(t, akamaitest.Options{}, func(c *consumer.Config) {
		c.Routing = cfg
		c.Accounts = map[string]consumer.Account{
			"main": {Akamai: c.Akamai}, // the rig's fake
			"shop": {Akamai: akamai.Config{Credentials: shop.Credentials(), BaseURL: shop.URL()}},
		}
	})
	main := r.fake
	pub := r.publisher(events.SubjectContentChanged)
	ctx := context.Background()
	const n = 100
	for i := range n {
		ev := &events.ContentChanged{ID: fmt.Sprintf("ma-%d", i), Source: "cms",
			URLs: []string{fmt.Sprintf("https://www.example.com/a/%d", i), fmt.Sprintf("https://shop.example.com/p/%d", i)},
			Tags: []string{"news", fmt.Sprintf("shop-%d", i)}}
		if i == 7 {
			ev.URLs = append(ev.URLs, "https://unrouted.example.org/x")
		}
		if err := pub.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	results := r.results(n, 60*time.Second)
	for i := range n {
		id := fmt.Sprintf("ma-%d", i)
		rs := results[id]
		if len(rs) != 1 {
			t.Fatalf("%s: %d results", id, len(rs))
		}
		want := events.OutcomeSucceeded
		if i == 7 {
			want = events.OutcomePartial
		}
		if rs[0].Outcome != want {
			t.Errorf("%s: %s %+v, want %s", id, rs[0].Outcome, rs[0].Failures, want)
		}
		accounts := map[string]bool{}
		for _, p := range rs[0].Purges {
			accounts[p.Account] = true
		}
		if !accounts["main"] || !accounts["shop"] {
			t.Errorf("%s purged through %v, want both accounts", id, accounts)
		}
	}
	for _, u := range main.PurgedObjects(akamai.TypeURL) {
		if !slices.Contains([]string{"www.example.com"}, hostOf(u)) {
			t.Errorf("main account purged %s", u)
		}
	}
	for _, u := range shop.PurgedObjects(akamai.TypeURL) {
		if hostOf(u) != "shop.example.com" {
			t.Errorf("shop account purged %s", u)
		}
	}
	for _, tag := range main.PurgedObjects(akamai.TypeTag) {
		if tag != "news" {
			t.Errorf("main account purged tag %s", tag)
		}
	}
	if got := len(shop.PurgedObjects(akamai.TypeTag)); got != n {
		t.Errorf("shop account purged %d tags, want %d", got, n)
	}
	dl := r.deadLetters(1, 10*time.Second)
	if d := dl["ma-7"]; len(d) != 1 || d[0].Reason == "" {
		t.Errorf("dead letters %v, want one for ma-7 with the reason", dl)
	}
}

func hostOf(u string) string {
	rest := u[len("https://"):]
	for i, c := range rest {
		if c == '/' {
			return rest[:i]
		}
	}
	return rest
}
