package routing

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/edgegrid"
)

// docExample returns the YAML example of the package documentation.
func docExample(t *testing.T) []byte {
	t.Helper()
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	in := false
	for line := range strings.Lines(string(src)) {
		switch {
		case strings.HasPrefix(line, "//\t"):
			in = true
			b.WriteString(strings.TrimPrefix(line, "//\t"))
		case in && line == "//\n":
			b.WriteString("\n")
		case in:
			return []byte(b.String())
		}
	}
	t.Fatal("no example in doc.go")
	return nil
}

func TestParseDocExample(t *testing.T) {
	cfg, err := Parse(docExample(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := sortedKeys(cfg.Accounts); !reflect.DeepEqual(got, []string{"main", "shop"}) {
		t.Errorf("accounts %v", got)
	}
	shop := cfg.Accounts["shop"]
	if shop.EdgercSection != "ccu-shop" || shop.AccountKey != "1-ABCDE:1-23456" || shop.MaxObjects[akamai.TypeURL] != 2000 {
		t.Errorf("shop %+v", shop)
	}
	if shop.Limits != DefaultLimits() && shop.Limits.Tag.PerSecond != 8.333 {
		t.Errorf("shop limits %+v", shop.Limits)
	}
	if cfg.Accounts["main"].Limits != DefaultLimits() {
		t.Errorf("main limits not defaulted: %+v", cfg.Accounts["main"].Limits)
	}
	q := cfg.Quotas
	if q.PerSourceObjectsPerMinute != 6000 || q.Burst != 2000 || q.OverQuota != OverQuotaDefer || q.MaxDelay != 10*time.Minute ||
		q.MaxSources != DefaultMaxSources || q.MaxTrackedEvents != DefaultMaxTrackedEvents {
		t.Errorf("quotas %+v", q)
	}
	if q.Sources["cms"] != (SourceQuota{60000, 60000}) || q.Sources["bulk-import"] != (SourceQuota{1200, 100}) {
		t.Errorf("sources %+v", q.Sources)
	}
	if cfg.Allow.Tags != nil || len(cfg.Allow.Hosts) != 3 || len(cfg.Allow.CPCodes) != 3 {
		t.Errorf("allow %+v", cfg.Allow)
	}
	if cfg.MaxObjectsPerEvent != 5000 {
		t.Errorf("max_objects_per_event %d", cfg.MaxObjectsPerEvent)
	}
	if _, err := NewRouter(cfg); err != nil {
		t.Fatal(err)
	}
}

func TestParseProblems(t *testing.T) {
	const two = "accounts:\n  a: {edgerc_section: a}\n  b: {edgerc_section: b}\n"
	for _, tc := range []struct {
		name, yaml string
		want       []string // "line N: text" or text; each must appear in one problem
	}{
		{"empty", "", []string{"the configuration is empty"}},
		{"comments only", "# nothing\n", []string{"the configuration is empty"}},
		{"no accounts", "routes: []\n", []string{"accounts: at least one account is required"}},
		{"unknown top-level field", "accounts:\n  a: {}\nroute:\n  - hosts: [x]\n", []string{"line 3: field route not found"}},
		{"unknown account field", "accounts:\n  a:\n    section: ccu\n", []string{"line 3: field section not found"}},
		{"unknown limit field", "accounts:\n  a:\n    limits:\n      url: {capacity: 1, rate: 2}\n", []string{"line 4: field rate not found"}},
		{"unknown source quota field", "accounts: {a: {}}\nquotas:\n  per_source_objects_per_minute: 10\n  sources:\n    cms:\n      per_minute: 5\n", []string{"line 6: field per_minute not found in a source quota"}},
		{"source quota of the wrong kind", "accounts: {a: {}}\nquotas:\n  sources:\n    cms: [1]\n", []string{"line 4: a source quota is a number"}},
		{"wrong type", "accounts: {a: {}}\nmax_objects_per_event: lots\n", []string{"line 2: cannot unmarshal !!str `lots` into int"}},
		{"duration as a number", "accounts: {a: {}}\nquotas: {max_delay: 600}\n", []string{"line 2: cannot unmarshal !!int `600` into time.Duration"}},
		{"duplicate key", "accounts: {a: {}}\naccounts: {b: {}}\n", []string{`line 2: mapping key "accounts" already defined at line 1`}},
		{"syntax", "accounts:\n  a: {\n", []string{"line 2: did not find expected node content"}},
		{"two documents", "accounts: {a: {}}\n---\naccounts: {b: {}}\n", []string{"line 2: only one YAML document is allowed"}},
		{"bad account name", "accounts:\n  \"a b\": {}\n", []string{`line 2: accounts["a b"]: account name "a b" must be`}},
		{"section required", "accounts:\n  a: {edgerc_section: a}\n  b: {}\n", []string{"line 3: accounts.b.edgerc_section: required when there is more than one account"}},
		{"bad section", "accounts:\n  a: {edgerc_section: \"x]\"}\n", []string{`line 2: accounts.a.edgerc_section: "x]" is not a section name`}},
		{"same credentials", "accounts:\n  a: {edgerc_section: s}\n  b: {edgerc_section: s}\n", []string{`line 3: accounts.b: uses the same credentials (edgerc, edgerc_section, account_key) as account "a"`}},
		{"negative limits", "accounts:\n  a:\n    limits:\n      tag: {capacity: -1, per_second: -2}\n", []string{"line 4: accounts.a.limits.tag.capacity: must not be negative", "line 4: accounts.a.limits.tag.per_second: must be a finite, non-negative number"}},
		{"max objects", "accounts:\n  a:\n    max_objects:\n      url: 0\n      tag: 6000\n      arl: 5\n",
			[]string{"line 6: accounts.a.max_objects.arl: unknown object type", "line 5: accounts.a.max_objects.tag: is 6000, above the tag bucket's capacity of 5000", "line 4: accounts.a.max_objects.url: is 0; it must be at least 1"}},
		{"max objects within raised capacity", "accounts:\n  a:\n    limits: {tag: {capacity: 8000}}\n    max_objects: {tag: 6000}\n", nil},
		{"route to unknown account", two + "routes:\n  - hosts: [www.example.com]\n    account: c\n", []string{`line 6: routes[0].account: unknown account "c" (accounts: a, b)`}},
		{"route without account", two + "routes:\n  - hosts: [www.example.com]\n", []string{"line 5: routes[0].account: an account is required"}},
		{"route without hosts", two + "routes:\n  - account: a\n", []string{"routes[0].hosts: at least one host pattern is required"}},
		{"bad host patterns", two + "routes:\n  - hosts:\n    - https://www.example.com/\n    - www.example.com:443\n    - www.*.com\n    - \"*example.com\"\n    - \"*.\"\n    - example.com.\n    - exa mple.com\n    - \"\"\n    account: a\n",
			[]string{"line 6: routes[0].hosts[0]: \"https://www.example.com/\": a host pattern is a bare host name",
				"line 7: routes[0].hosts[1]", "line 8: routes[0].hosts[2]: \"www.*.com\": \"*\" may only stand alone",
				"line 9: routes[0].hosts[3]", "line 10: routes[0].hosts[4]: \"*.\": empty host name",
				"line 11: routes[0].hosts[5]: \"example.com.\": host name must not end with a dot",
				"line 12: routes[0].hosts[6]: \"exa mple.com\": not a valid host name", "line 13: routes[0].hosts[7]"}},
		{"duplicate host pattern", two + "routes:\n  - hosts: [www.example.com]\n    account: a\n  - hosts: [WWW.example.com]\n    account: b\n",
			[]string{`line 7: routes[1].hosts[0]: "WWW.example.com" is already routed by routes[0]`}},
		{"tag routes", two + "tags:\n  default_account: c\n  routes:\n    - tags: [\"*\", \"a*b\", \"sp ace\", news, news]\n      account: a\n",
			[]string{`line 5: tags.default_account: unknown account "c"`, `line 7: tags.routes[0].tags[0]: "*" routes every tag: use tags.default_account`,
				`tags.routes[0].tags[1]: "a*b": "*" may only end a tag pattern`, `tags.routes[0].tags[2]: "sp ace": character ' ' is not allowed`,
				`tags.routes[0].tags[4]: "news" is already routed by tags.routes[0]`}},
		{"cpcode routes", two + "cpcodes:\n  routes:\n    - cpcodes: [0, 12, 12]\n      account: a\n    - cpcodes: [12]\n      account: b\n    - cpcodes: []\n      account: a\n",
			[]string{"line 6: cpcodes.routes[0].cpcodes[0]: CP code 0 is not a positive integer", "cpcodes.routes[0].cpcodes[2]: CP code 12 is already routed by cpcodes.routes[0]",
				"line 8: cpcodes.routes[1].cpcodes[0]: CP code 12 is already routed", "line 10: cpcodes.routes[2].cpcodes: at least one CP code is required"}},
		{"allow", "accounts: {a: {}}\nallow:\n  hosts: [\"*.\"]\n  tags: [\"x y\"]\n  cpcodes: [-1]\n",
			[]string{`line 3: allow.hosts[0]`, `line 4: allow.tags[0]`, `line 5: allow.cpcodes[0]: CP code -1 is not a positive integer`}},
		{"quotas", "accounts: {a: {}}\nquotas:\n  per_source_objects_per_minute: -1\n  burst: -1\n  sources: {cms: 0, \"bulk job\": {objects_per_minute: 5, burst: -1}}\n  over_quota: drop\n  max_delay: -1s\n  max_sources: -1\n  max_tracked_events: -1\nmax_objects_per_event: -1\n",
			[]string{"line 3: quotas.per_source_objects_per_minute: must not be negative", "line 4: quotas.burst: must not be negative",
				"line 5: quotas.sources.cms: objects per minute must be at least 1", `line 5: quotas.sources["bulk job"].burst: must not be negative`,
				`line 6: quotas.over_quota: "drop" is neither defer nor reject`, "line 7: quotas.max_delay: must not be negative",
				"line 8: quotas.max_sources: must not be negative", "line 9: quotas.max_tracked_events: must not be negative",
				"line 10: max_objects_per_event: must not be negative"}},
		{"reject mode with bursts below the event size", "accounts: {a: {}}\nquotas:\n  per_source_objects_per_minute: 60\n  over_quota: reject\n  sources: {cms: 500, big: 5000, bulk: {objects_per_minute: 5000, burst: 10}}\nmax_objects_per_event: 1000\n",
			[]string{"line 3: quotas.per_source_objects_per_minute: is 60, below max_objects_per_event (1000): with over_quota: reject, larger events could never pass",
				"line 5: quotas.sources.cms: is 500, below", "line 5: quotas.sources.bulk.burst: is 10, below"}},
		{"reject mode with a large burst", "accounts: {a: {}}\nquotas: {per_source_objects_per_minute: 60, burst: 1000, over_quota: reject}\nmax_objects_per_event: 1000\n", nil},
		{"burst without rate", "accounts: {a: {}}\nquotas:\n  burst: 10\n", []string{"line 3: quotas.burst: has no effect without per_source_objects_per_minute"}},
		{"escalate", "accounts: {a: {}}\nroutes:\n  - hosts: [www.example.com]\n    account: a\n    escalate: {cpcode: 12345, after: 30s, max_per_hour: 4}\n  - hosts: [shop.example.com]\n    account: a\n    escalate: {tag: site-shop, after: 1m, max_per_hour: 1}\n", nil},
		{"escalate problems", "accounts: {a: {}}\nroutes:\n  - hosts: [a.example.com]\n    account: a\n    escalate: {after: 0s, max_per_hour: 0}\n  - hosts: [b.example.com]\n    account: a\n    escalate:\n      cpcode: 1\n      tag: t\n      after: 1s\n      max_per_hour: 1\n  - hosts: [c.example.com]\n    account: a\n    escalate: {cpcode: -5, after: 1s, max_per_hour: 1}\n  - hosts: [d.example.com]\n    account: a\n    escalate: {tag: \"sp ace\", after: 1s, max_per_hour: 1}\n",
			[]string{"line 5: routes[0].escalate: names no covering object: set cpcode or tag", "line 5: routes[0].escalate.after: must be a positive duration",
				"line 5: routes[0].escalate.max_per_hour: must be at least 1", "line 10: routes[1].escalate.tag: set cpcode or tag, not both",
				"line 15: routes[2].escalate.cpcode: CP code -5 is not a positive integer", `line 18: routes[3].escalate.tag: "sp ace" is not a cache tag`}},
		{"escalate unknown field", "accounts: {a: {}}\nroutes:\n  - hosts: [a.example.com]\n    account: a\n    escalate: {cpcode: 1, after: 1s, max_per_hour: 1, per_day: 3}\n", []string{"line 5: field per_day not found"}},
		{"escalate to objects not allowed", "accounts: {a: {}}\nroutes:\n  - hosts: [a.example.com]\n    account: a\n    escalate: {cpcode: 7, after: 1s, max_per_hour: 1}\n  - hosts: [b.example.com]\n    account: a\n    escalate:\n      tag: site-b\n      after: 1s\n      max_per_hour: 1\n  - hosts: [c.example.com]\n    account: a\n    escalate: {tag: news-c, after: 1s, max_per_hour: 1}\nallow: {cpcodes: [8], tags: [\"news-*\"]}\n",
			[]string{"line 5: routes[0].escalate.cpcode: CP code 7 is not allowed by allow.cpcodes", `line 9: routes[1].escalate.tag: tag "site-b" is not allowed by allow.tags`}},
		{"explicit zero max_delay", "accounts: {a: {}}\nquotas:\n  per_source_objects_per_minute: 10\n  max_delay: 0s\n", []string{"line 4: quotas.max_delay: must be positive; to refuse over-quota events at once, set over_quota: reject"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T), want a *ConfigError", err, err)
			}
			var got []string
			for _, p := range ce.Problems {
				got = append(got, p.String())
			}
			for _, w := range tc.want {
				found := false
				for _, g := range got {
					if strings.Contains(g, w) {
						found = true
					}
				}
				if !found {
					t.Errorf("no problem contains %q; got:\n  %s", w, strings.Join(got, "\n  "))
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("%d problems, want %d:\n  %s", len(got), len(tc.want), strings.Join(got, "\n  "))
			}
		})
	}
}

func TestConfigErrorMessage(t *testing.T) {
	_, err := Parse([]byte("accounts: {a: {}}\nrouts: []\nquotas: {burst: -1}\n"))
	if want := "routing: line 2: field routs not found in type routing.Config"; err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		t.Errorf("the decoder's error is not wrapped: %#v", err)
	}
	_, err = Parse([]byte("accounts: {a: {}}\nquotas: {burst: -1}\nmax_objects_per_event: -1\n"))
	want := "routing: 2 problems:\n  line 2: quotas.burst: must not be negative\n  line 3: max_objects_per_event: must not be negative"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()

	cfg, err := Load("")
	if err != nil || !reflect.DeepEqual(cfg, Default()) {
		t.Errorf("Load(\"\") = %+v, %v; want Default()", cfg, err)
	}

	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("accounts: {a: {}}\nroutes:\n  - hosts: [x]\n    account: b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(bad)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.File != bad || !strings.HasPrefix(err.Error(), "routing: "+bad+": line 4: routes[0].account: unknown account") {
		t.Errorf("bad file: %v", err)
	}

	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("#"+strings.Repeat("x", maxConfigBytes)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); !errors.As(err, &ce) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big file: %v", err)
	}

	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("accounts:\n  only: {edgerc_section: ccu-x}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = Load(good)
	if err != nil {
		t.Fatal(err)
	}
	want := []Route{{Hosts: []string{"*"}, Account: "only"}}
	if !reflect.DeepEqual(cfg.Routes, want) || cfg.Tags.DefaultAccount != "only" || cfg.CPCodes.DefaultAccount != "only" {
		t.Errorf("one account: routes %+v, tags %q, cpcodes %q", cfg.Routes, cfg.Tags.DefaultAccount, cfg.CPCodes.DefaultAccount)
	}
}

func TestDefaultsOnlyForOneAccount(t *testing.T) {
	cfg, err := Parse([]byte("accounts:\n  a: {edgerc_section: a}\n  b: {edgerc_section: b}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Routes != nil || cfg.Tags.DefaultAccount != "" || cfg.CPCodes.DefaultAccount != "" {
		t.Errorf("two accounts got implicit routes: %+v", cfg)
	}
	// An explicit empty list of routes stays empty with one account.
	cfg, err = Parse([]byte("accounts: {a: {}}\nroutes: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Routes == nil || len(cfg.Routes) != 0 {
		t.Errorf("routes: [] became %+v", cfg.Routes)
	}
}

func TestValidateBuiltInGo(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Errorf("Default: %v", err)
	}
	err := (&Config{}).Validate()
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0] != (Problem{Path: "accounts", Message: "at least one account is required"}) {
		t.Errorf("empty Config: %#v", err)
	}
	cfg := &Config{
		Accounts: map[string]Account{"a": {}},
		Routes:   []Route{{Hosts: []string{"*.example.com"}, Account: "b"}},
	}
	if err := cfg.Validate(); err == nil || err.Error() != `routing: routes[0].account: unknown account "b" (accounts: a)` {
		t.Errorf("got %v", err)
	}
	if _, err := NewRouter(cfg); !errors.As(err, &ce) {
		t.Errorf("NewRouter: %v", err)
	}
	// Zero values are defaults; the Config is not modified.
	cfg = &Config{Accounts: map[string]Account{"a": {}}, Quotas: Quotas{PerSourceObjectsPerMinute: 60}}
	if _, err := NewRouter(cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Routes != nil || cfg.Quotas.Burst != 0 || cfg.Accounts["a"].Limits != (Limits{}) {
		t.Errorf("NewRouter modified its Config: %+v", cfg)
	}
}

func TestAccountLoadOptions(t *testing.T) {
	base := edgegrid.LoadOptions{Path: "/flag/edgerc", Section: "flag", AccountKey: "flag-key"}
	got := Account{}.LoadOptions(base)
	if got.Path != base.Path || got.Section != base.Section || got.AccountKey != base.AccountKey {
		t.Errorf("empty account changed the options: %+v", got)
	}
	got = Account{Edgerc: "/etc/edgerc", EdgercSection: "ccu-b", AccountKey: "K"}.LoadOptions(base)
	if got.Path != "/etc/edgerc" || got.Section != "ccu-b" || got.AccountKey != "K" {
		t.Errorf("account settings not applied: %+v", got)
	}
}

func TestLimits(t *testing.T) {
	l := Limits{URL: Bucket{Capacity: 20000}, Tag: Bucket{PerSecond: 10}}.WithDefaults()
	d := DefaultLimits()
	if l.URL != (Bucket{Capacity: 20000, PerSecond: d.URL.PerSecond}) || l.Tag != (Bucket{Capacity: d.Tag.Capacity, PerSecond: 10}) || l.Requests != d.Requests || l.CPCode != d.CPCode {
		t.Errorf("WithDefaults: %+v", l)
	}
	for _, typ := range akamai.Types {
		if d.Objects(typ).Capacity != akamai.DefaultMaxObjects[typ] {
			t.Errorf("%s bucket capacity %d, akamai.DefaultMaxObjects %d", typ, d.Objects(typ).Capacity, akamai.DefaultMaxObjects[typ])
		}
	}
}

func TestAllowListAbsentVersusEmpty(t *testing.T) {
	cfg, err := Parse([]byte("accounts: {a: {}}\nallow:\n  tags: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Allow.Hosts != nil || cfg.Allow.CPCodes != nil || cfg.Allow.Tags == nil {
		t.Fatalf("allow %#v", cfg.Allow)
	}
	r, err := NewRouter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := r.Route(event("", []string{"https://a.example/x"}, []string{"news"}, []int64{1}), time.Now())
	if len(d.Rejected) != 1 || d.Rejected[0].Reason != NotAllowed || d.Rejected[0].Object != "news" || d.Objects() != 2 {
		t.Errorf("decision %+v", d)
	}
}

func TestAccountNames(t *testing.T) {
	for name, ok := range map[string]bool{
		"a": true, "main": true, "shop-eu_2.prod": true, "9": true, strings.Repeat("a", 64): true,
		"": false, "-a": false, ".a": false, "a b": false, "ä": false, strings.Repeat("a", 65): false,
	} {
		if validAccountName(name) != ok {
			t.Errorf("%q: valid %v", name, !ok)
		}
	}
	if got := (path{"accounts", "a.b", "x", 2, "my key"}).String(); got != `accounts["a.b"].x[2]["my key"]` {
		t.Errorf("path %s", got)
	}
}
