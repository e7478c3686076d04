package routing_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/purgebus/purgebus/events"
	"github.com/purgebus/purgebus/routing"
)

func ExampleRouter_Route() {
	cfg, err := routing.Parse([]byte(`
accounts:
  main: {edgerc_section: ccu}
  shop: {edgerc_section: ccu-shop}
routes:
  - hosts: [www.example.com, "*.static.example.com"]
    account: main
  - hosts: [shop.example.com]
    account: shop
tags:
  default_account: main
  routes:
    - tags: ["shop-*"]
      account: shop
allow:
  cpcodes: []   # no CP-code purges
quotas:
  per_source_objects_per_minute: 600
  burst: 5
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	router, err := routing.NewRouter(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}

	ev := events.ContentChanged{
		ID:     "e1",
		Source: "cms",
		URLs: []string{
			"https://www.example.com/news",
			"https://img.static.example.com/logo.png",
			"https://SHOP.example.com:443/cart",
			"https://www.example.net/",
		},
		Tags:    []string{"shop-42", "news"},
		CPCodes: []int64{12345},
	}
	if err := ev.Normalize(); err != nil {
		fmt.Println(err)
		return
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	d := router.RouteKeyed(ev, "stream-seq-1", now)
	for _, g := range d.Groups {
		fmt.Println("purge", g.Account, g.Type, g.Objects)
	}
	for _, f := range d.Failures() {
		fmt.Printf("failed %s %v: %s: %s\n", f.Type, f.Objects, f.Title, f.Detail)
	}

	// The next event of the source is over its quota: it is deferred.
	next := events.ContentChanged{ID: "e2", Source: "cms", Tags: []string{"news"}}
	_ = next.Normalize()
	d = router.RouteKeyed(next, "stream-seq-2", now)
	var re *routing.Error
	if errors.As(d.Err(), &re) && re.Retryable() {
		fmt.Println("retry after", d.RetryAfter)
		fmt.Println(re)
	}
	// Output:
	// purge main url [https://www.example.com/news https://img.static.example.com/logo.png]
	// purge main tag [news]
	// purge shop url [https://SHOP.example.com:443/cart]
	// purge shop tag [shop-42]
	// failed url [https://www.example.net/]: no route: no route for host "www.example.net"
	// failed cpcode [12345]: not allowed: CP code 12345 is not allowed
	// retry after 100ms
	// routing: source "cms" is over its quota of 600 objects per minute (burst 5); the event is deferred by 100ms
}

func ExampleParse_problems() {
	_, err := routing.Parse([]byte(`
accounts:
  main: {edgerc_section: ccu}
  shop: {edgerc_section: ccu-shop, edgerc_sektion: x}
`))
	fmt.Println(err)

	_, err = routing.Parse([]byte(`
accounts:
  main: {edgerc_section: ccu}
routes:
  - hosts: [www.example.com]
    account: shop
  - hosts: ["https://shop.example.com"]
    account: main
quotas:
  per_source_objects_per_minute: -5
`))
	fmt.Println(err)
	// Output:
	// routing: line 4: field edgerc_sektion not found in type routing.Account
	// routing: 3 problems:
	//   line 6: routes[0].account: unknown account "shop" (accounts: main)
	//   line 7: routes[1].hosts[0]: "https://shop.example.com": a host pattern is a bare host name such as www.example.com or *.example.com, without scheme, port or path
	//   line 10: quotas.per_source_objects_per_minute: must not be negative
}

// A route with escalate names the CP code or cache tag that covers its
// URLs; a mistake in it is reported with its line.
func ExampleEscalate() {
	cfg, err := routing.Parse([]byte(`
accounts:
  main: {}
routes:
  - hosts: [www.example.com]
    account: main
    escalate: {cpcode: 12345, after: 30s, max_per_hour: 4}
  - hosts: [shop.example.com]
    account: main
allow:
  cpcodes: [12345]
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range cfg.Routes {
		if e := r.Escalate; e != nil {
			t, obj := e.Object()
			fmt.Printf("%s escalates to %s %s after %v, at most %d an hour\n", r.Name(), t, obj, e.After, e.MaxPerHour)
		}
	}
	router, _ := routing.NewRouter(cfg)
	d := router.Route(events.ContentChanged{URLs: []string{"https://www.example.com/a", "https://shop.example.com/b"}}, time.Now())
	for _, g := range d.Groups {
		fmt.Printf("%s %v route=%q\n", g.Type, g.Objects, g.Route)
	}

	_, err = routing.Parse([]byte(`
accounts:
  main: {}
routes:
  - hosts: [www.example.com]
    account: main
    escalate: {tag: site-www, after: 30s, max_per_hour: 4}
allow:
  tags: ["news-*"]
`))
	fmt.Println(err)
	// Output:
	// www.example.com escalates to cpcode 12345 after 30s, at most 4 an hour
	// url [https://shop.example.com/b] route=""
	// url [https://www.example.com/a] route="www.example.com"
	// routing: line 7: routes[0].escalate.tag: tag "site-www" is not allowed by allow.tags: the covering purge would be refused
}
