package routing

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/events"
)

// event returns a normalized event.
func event(source string, urls, tags []string, codes []int64) events.ContentChanged {
	ev := events.ContentChanged{Source: source, URLs: urls, Tags: tags, CPCodes: codes}
	if err := ev.Normalize(); err != nil {
		panic(err)
	}
	return ev
}

func mustRouter(t testing.TB, yaml string) *Router {
	t.Helper()
	cfg, err := Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRouter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const multiConfig = `
accounts:
  main: {edgerc_section: ccu}
  shop: {edgerc_section: ccu-shop}
  media: {edgerc_section: ccu-media}
routes:
  - hosts: [example.com, www.example.com, "*.example.com"]
    account: main
  - hosts: [shop.example.com, "*.shop.example.com"]
    account: shop
  - hosts: ["*.media.example.com"]
    account: media
  - hosts: [img.cdn.shop.example.com]
    account: media
tags:
  default_account: main
  routes:
    - tags: ["shop-*", cart]
      account: shop
    - tags: ["shop-media-*"]
      account: media
cpcodes:
  routes:
    - cpcodes: [100, 101]
      account: shop
    - cpcodes: [200]
      account: media
`

func TestRoute(t *testing.T) {
	r := mustRouter(t, multiConfig)
	type rej struct {
		obj    string
		reason Reason
		msg    string
	}
	for _, tc := range []struct {
		name   string
		ev     events.ContentChanged
		groups []Group
		rej    []rej
	}{
		{
			name: "exact and wildcard hosts, most specific wins",
			ev: event("cms", []string{
				"https://www.example.com/a",
				"https://shop.example.com/b",
				"https://a.b.shop.example.com/c",
				"https://img.cdn.shop.example.com/d",
				"https://x.media.example.com/e",
				"https://deep.sub.example.com/f",
				"https://example.com/g",
			}, nil, nil),
			groups: []Group{
				{"main", akamai.TypeURL, []string{"https://www.example.com/a", "https://deep.sub.example.com/f", "https://example.com/g"}, ""},
				{"media", akamai.TypeURL, []string{"https://img.cdn.shop.example.com/d", "https://x.media.example.com/e"}, ""},
				{"shop", akamai.TypeURL, []string{"https://shop.example.com/b", "https://a.b.shop.example.com/c"}, ""},
			},
		},
		{
			name: "case, port and trailing dot do not matter",
			ev:   event("", []string{"HTTPS://WWW.Example.COM:8443/A", "http://Shop.Example.Com./x?y=1", "https://shop.example.com:/z"}, nil, nil),
			groups: []Group{
				{"main", akamai.TypeURL, []string{"https://WWW.Example.COM:8443/A"}, ""},
				{"shop", akamai.TypeURL, []string{"http://Shop.Example.Com./x?y=1", "https://shop.example.com:/z"}, ""},
			},
		},
		{
			name: "no route",
			ev:   event("", []string{"https://www.example.net/a", "https://example.com.evil.net/b", "https://media.example.com.x/c", "https://[::1]/e"}, nil, nil),
			rej: []rej{
				{"https://www.example.net/a", NoRoute, `no route for host "www.example.net"`},
				{"https://example.com.evil.net/b", NoRoute, `no route for host "example.com.evil.net"`},
				{"https://media.example.com.x/c", NoRoute, `no route for host "media.example.com.x"`},
				{"https://[::1]/e", NoRoute, `no route for host "[::1]"`},
			},
		},
		{
			name: "tags by prefix, longest wins, default for the rest",
			ev:   event("", nil, []string{"shop-a", "shop-media-b", "cart", "Cart", "news", "shop-"}, nil),
			groups: []Group{
				{"main", akamai.TypeTag, []string{"Cart", "news"}, ""},
				{"media", akamai.TypeTag, []string{"shop-media-b"}, ""},
				{"shop", akamai.TypeTag, []string{"shop-a", "cart", "shop-"}, ""},
			},
		},
		{
			name: "cp codes listed, no default",
			ev:   event("", nil, nil, []int64{100, 200, 300, 101}),
			groups: []Group{
				{"media", akamai.TypeCPCode, []string{"200"}, ""},
				{"shop", akamai.TypeCPCode, []string{"100", "101"}, ""},
			},
			rej: []rej{{"300", NoRoute, "no route for CP code 300"}},
		},
		{
			name: "duplicates once, groups by account then type",
			ev:   event("", []string{"https://shop.example.com/a", "https://shop.example.com/a"}, []string{"cart", "cart"}, []int64{100, 100}),
			groups: []Group{
				{"shop", akamai.TypeURL, []string{"https://shop.example.com/a"}, ""},
				{"shop", akamai.TypeCPCode, []string{"100"}, ""},
				{"shop", akamai.TypeTag, []string{"cart"}, ""},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := r.Route(tc.ev, time.Now())
			if d.Retry {
				t.Fatal("Retry without quotas")
			}
			if !reflect.DeepEqual(d.Groups, tc.groups) {
				t.Errorf("groups\n got %+v\nwant %+v", d.Groups, tc.groups)
			}
			var got []rej
			for _, x := range d.Rejected {
				got = append(got, rej{x.Object, x.Reason, x.Message})
			}
			if !reflect.DeepEqual(got, tc.rej) {
				t.Errorf("rejected\n got %+v\nwant %+v", got, tc.rej)
			}
			if d.Action != akamai.ActionInvalidate || d.Network != akamai.NetworkProduction {
				t.Errorf("action %q network %q", d.Action, d.Network)
			}
		})
	}
}

func TestRouteAllowList(t *testing.T) {
	r := mustRouter(t, `
accounts: {a: {}}
allow:
  hosts: [www.example.com, "*.example.org"]
  tags: ["news-*", home]
  cpcodes: [7]
`)
	d := r.Route(event("", []string{"https://www.example.com/", "https://a.example.org/", "https://example.org/", "https://evil.com/"},
		[]string{"news-1", "home", "homepage"}, []int64{7, 8}), time.Now())
	wantGroups := []Group{
		{"a", akamai.TypeURL, []string{"https://www.example.com/", "https://a.example.org/"}, ""},
		{"a", akamai.TypeCPCode, []string{"7"}, ""},
		{"a", akamai.TypeTag, []string{"news-1", "home"}, ""},
	}
	if !reflect.DeepEqual(d.Groups, wantGroups) {
		t.Errorf("groups %+v", d.Groups)
	}
	want := []Rejection{
		{akamai.TypeURL, "https://example.org/", NotAllowed, `host "example.org" is not allowed`},
		{akamai.TypeURL, "https://evil.com/", NotAllowed, `host "evil.com" is not allowed`},
		{akamai.TypeTag, "homepage", NotAllowed, `tag "homepage" is not allowed`},
		{akamai.TypeCPCode, "8", NotAllowed, "CP code 8 is not allowed"},
	}
	if !reflect.DeepEqual(d.Rejected, want) {
		t.Errorf("rejected\n got %+v\nwant %+v", d.Rejected, want)
	}
}

func TestRouteAllowBeforeRoute(t *testing.T) {
	r := mustRouter(t, `
accounts: {a: {edgerc_section: a}, b: {edgerc_section: b}}
routes: [{hosts: [a.example.com], account: a}]
allow: {hosts: [b.example.com]}
`)
	d := r.Route(event("", []string{"https://a.example.com/", "https://b.example.com/", "https://c.example.com/"}, nil, nil), time.Now())
	var reasons []Reason
	for _, x := range d.Rejected {
		reasons = append(reasons, x.Reason)
	}
	if want := []Reason{NotAllowed, NoRoute, NotAllowed}; !reflect.DeepEqual(reasons, want) || len(d.Groups) != 0 {
		t.Errorf("reasons %v, groups %+v", reasons, d.Groups)
	}
}

func TestRouteDefaultConfig(t *testing.T) {
	r, err := NewRouter(Default())
	if err != nil {
		t.Fatal(err)
	}
	ev := event("x", []string{"https://anything.example/", "https://[::1]:8080/%7A"}, []string{"t"}, []int64{5})
	d := r.Route(ev, time.Now())
	want := []Group{
		{DefaultAccount, akamai.TypeURL, ev.URLs, ""},
		{DefaultAccount, akamai.TypeCPCode, []string{"5"}, ""},
		{DefaultAccount, akamai.TypeTag, []string{"t"}, ""},
	}
	if !reflect.DeepEqual(d.Groups, want) || d.Rejected != nil || d.Err() != nil {
		t.Errorf("decision %+v", d)
	}
}

func TestTooManyObjects(t *testing.T) {
	r := mustRouter(t, "accounts: {a: {}}\nmax_objects_per_event: 3\nallow: {cpcodes: []}\n")
	d := r.Route(event("", []string{"https://a/1", "https://a/1"}, []string{"x"}, []int64{9}), time.Now())
	if len(d.Groups) != 0 || len(d.Rejected) != 3 {
		t.Fatalf("decision %+v", d)
	}
	for _, x := range d.Rejected {
		if x.Reason != TooManyObjects || x.Message != "the event names 4 objects; at most 3 are allowed per event" {
			t.Errorf("rejection %+v", x)
		}
	}
	d = r.Route(event("", []string{"https://a/1"}, []string{"x"}, []int64{9}), time.Now())
	if d.Objects() != 2 || len(d.Rejected) != 1 || d.Rejected[0].Reason != NotAllowed {
		t.Errorf("3 objects: %+v", d)
	}
}

func TestDecisionFailuresAndErr(t *testing.T) {
	r := mustRouter(t, multiConfig)
	ev := event("", []string{"https://x.net/1", "https://x.net/2", "https://y.net/3", "https://www.example.com/"}, []string{"a"}, []int64{300})
	ev.Action, ev.Network = akamai.ActionDelete, akamai.NetworkStaging
	d := r.Route(ev, time.Now())
	want := []events.Failure{
		{Type: akamai.TypeURL, Action: akamai.ActionDelete, Network: akamai.NetworkStaging, Objects: []string{"https://x.net/1", "https://x.net/2"}, Title: "no route", Detail: `no route for host "x.net"`},
		{Type: akamai.TypeURL, Action: akamai.ActionDelete, Network: akamai.NetworkStaging, Objects: []string{"https://y.net/3"}, Title: "no route", Detail: `no route for host "y.net"`},
		{Type: akamai.TypeCPCode, Action: akamai.ActionDelete, Network: akamai.NetworkStaging, Objects: []string{"300"}, Title: "no route", Detail: "no route for CP code 300"},
	}
	if got := d.Failures(); !reflect.DeepEqual(got, want) {
		t.Errorf("failures\n got %+v\nwant %+v", got, want)
	}
	// The failures encode as a result's do, CP codes as integers.
	res := events.PurgeResult{Failures: d.Failures()}
	data, err := res.Encode()
	if err != nil || !strings.Contains(string(data), `"objects":[300]`) {
		t.Errorf("encoded %s, %v", data, err)
	}

	err = d.Err()
	if !errors.Is(err, NoRoute) || errors.Is(err, NotAllowed) || errors.Is(err, QuotaExceeded) {
		t.Errorf("errors.Is on %v", err)
	}
	var re *Error
	if !errors.As(err, &re) || re.Type != akamai.TypeURL || len(re.Objects) != 2 || re.Retryable() {
		t.Errorf("errors.As: %+v", re)
	}
	wantMsg := "routing: no route for host \"x.net\" (2 url objects)\n" +
		"routing: no route for host \"y.net\" (url \"https://y.net/3\")\n" +
		"routing: no route for CP code 300 (cpcode \"300\")"
	if err.Error() != wantMsg {
		t.Errorf("message\n%s\nwant\n%s", err, wantMsg)
	}

	d = r.Route(event("", []string{"https://nowhere.net/"}, nil, nil), time.Now())
	if err := d.Err(); err == nil || reflect.TypeOf(err) != reflect.TypeFor[*Error]() {
		t.Errorf("one group: %T %v", err, err)
	}
	d = r.Route(event("", []string{"https://www.example.com/"}, nil, nil), time.Now())
	if d.Err() != nil || d.Failures() == nil && len(d.Failures()) != 0 {
		t.Errorf("clean decision: %v", d.Err())
	}
}

func TestReason(t *testing.T) {
	for r, title := range map[Reason]string{NoRoute: "no route", NotAllowed: "not allowed", QuotaExceeded: "quota exceeded", TooManyObjects: "too many objects", "odd_one": "odd one"} {
		if r.Title() != title || r.Error() != string(r) {
			t.Errorf("%s: title %q", r, r.Title())
		}
	}
}

func TestRouteARL(t *testing.T) {
	r := mustRouter(t, multiConfig)
	ev := events.ContentChanged{URLs: []string{"/L/512/6848/1h/shop.example.com/a.jpg", "/=/1/2/3d/www.example.org/"}}
	d := r.Route(ev, time.Now())
	if want := []Group{{Account: "shop", Type: akamai.TypeURL, Objects: ev.URLs[:1]}}; !reflect.DeepEqual(d.Groups, want) {
		t.Errorf("groups %+v", d.Groups)
	}
	if len(d.Rejected) != 1 || d.Rejected[0].Message != `no route for host "www.example.org"` {
		t.Errorf("rejected %+v", d.Rejected)
	}
}

// TestRouteEscalating: the URLs of an escalating route make a group of
// their own, named by the route, after the account's other URLs.
func TestRouteEscalating(t *testing.T) {
	r := mustRouter(t, `
accounts: {a: {}}
routes:
  - hosts: [www.example.com, "*.www.example.com"]
    account: a
    escalate: {cpcode: 12345, after: 30s, max_per_hour: 4}
  - hosts: ["*"]
    account: a
`)
	d := r.Route(event("", []string{"https://www.example.com/1", "https://other.example.com/2", "https://x.www.example.com/3"}, []string{"t"}, nil), time.Now())
	want := []Group{
		{Account: "a", Type: akamai.TypeURL, Objects: []string{"https://other.example.com/2"}},
		{Account: "a", Type: akamai.TypeTag, Objects: []string{"t"}},
		{Account: "a", Type: akamai.TypeURL, Objects: []string{"https://www.example.com/1", "https://x.www.example.com/3"}, Route: "www.example.com,*.www.example.com"},
	}
	if !reflect.DeepEqual(d.Groups, want) {
		t.Errorf("groups\n got %+v\nwant %+v", d.Groups, want)
	}
}
