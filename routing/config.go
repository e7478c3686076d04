package routing

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/edgegrid"
	"github.com/purgebus/purgebus/budget"
)

// DefaultAccount is the name of the one account of Default.
const DefaultAccount = "default"

// Defaults of the quota settings.
const (
	// DefaultMaxDelay is how long an over-quota event may be deferred
	// before it is refused instead.
	DefaultMaxDelay = 10 * time.Minute
	// DefaultMaxSources bounds the sources whose quota is tracked at once.
	DefaultMaxSources = 10000
	// DefaultMaxTrackedEvents bounds the events remembered so that a
	// redelivered event is not charged twice.
	DefaultMaxTrackedEvents = 100000
)

// maxConfigBytes bounds the size of a configuration file.
const maxConfigBytes = 1 << 20

// Config is the routing configuration; the package documentation shows
// it as YAML. Load and Parse return it checked and with its defaults
// filled in; NewRouter accepts one built in Go as well, with zero values
// meaning the defaults.
type Config struct {
	// Accounts are the Akamai accounts, by name. At least one is required.
	Accounts map[string]Account `yaml:"accounts"`
	// Routes say which account purges a URL, by the URL's host.
	Routes []Route `yaml:"routes"`
	// Tags say which account purges a cache tag.
	Tags TagRouting `yaml:"tags"`
	// CPCodes say which account purges a CP code.
	CPCodes CPCodeRouting `yaml:"cpcodes"`
	// Allow restricts which objects may be purged at all.
	Allow Allow `yaml:"allow"`
	// Quotas limit how many objects each event source may purge.
	Quotas Quotas `yaml:"quotas"`
	// MaxObjectsPerEvent refuses events that name more objects (URLs, tags
	// and CP codes together); 0 means no limit.
	MaxObjectsPerEvent int `yaml:"max_objects_per_event"`
}

// Account is one Akamai account: the credentials that purge on it and its
// limits.
type Account struct {
	// EdgercSection is the .edgerc section of the account's API client.
	// Required when there is more than one account; "" defers to the
	// command line and environment (--section, $AKAMAI_EDGERC_SECTION,
	// else "ccu").
	EdgercSection string `yaml:"edgerc_section"`
	// Edgerc is the .edgerc file; "" defers to the command line and
	// environment (--edgerc, $AKAMAI_EDGERC, else ~/.edgerc). A leading
	// "~/" is the home directory; a relative path is relative to the
	// working directory.
	Edgerc string `yaml:"edgerc"`
	// AccountKey is the account switch key, for API clients that manage
	// several accounts; "" means the one from the .edgerc section or the
	// environment, if any.
	AccountKey string `yaml:"account_key"`
	// Limits are the sizes of the account's Fast Purge token buckets; a
	// zero capacity or rate is Akamai's default (DefaultLimits).
	Limits Limits `yaml:"limits"`
	// MaxObjects caps the objects per purge request by type ("url",
	// "tag", "cpcode"); a missing type gets akamai.DefaultMaxObjects.
	MaxObjects map[akamai.Type]int `yaml:"max_objects"`
}

// LoadOptions returns base with the account's .edgerc path, section and
// account switch key put in where the account sets them. base normally
// carries the command line's values; with more than one account it
// should carry no AccountKey, which would otherwise apply to every
// account that sets none.
func (a Account) LoadOptions(base edgegrid.LoadOptions) edgegrid.LoadOptions {
	if a.Edgerc != "" {
		base.Path = a.Edgerc
	}
	if a.EdgercSection != "" {
		base.Section = a.EdgercSection
	}
	if a.AccountKey != "" {
		base.AccountKey = a.AccountKey
	}
	return base
}

// Limits are the sizes of an account's four Fast Purge token buckets.
type Limits = budget.Limits

// Bucket is the size of one token bucket.
type Bucket = budget.Bucket

// DefaultLimits returns Akamai's documented bucket sizes (see
// budget.AkamaiLimits).
func DefaultLimits() Limits { return budget.AkamaiLimits() }

// Route sends the URLs of some hosts to an account.
type Route struct {
	// Hosts are host patterns: "www.example.com" (exactly that host),
	// "*.example.com" (any subdomain, at any depth, but not example.com
	// itself) or "*" (any host). Case does not matter; a URL's port is
	// ignored.
	Hosts   []string `yaml:"hosts"`
	Account string   `yaml:"account"`
	// Escalate, when set, lets a flood of the route's URLs be purged by
	// one CP code or cache tag that covers them all; nil means the
	// route's URLs are always purged one by one.
	Escalate *Escalate `yaml:"escalate"`
}

// Name names the route in logs, metrics and results: its host patterns,
// comma-separated.
func (r Route) Name() string { return strings.Join(r.Hosts, ",") }

// Escalate is when and how a route's flood of URLs is purged by the CP
// code or cache tag that covers them: when the route's URLs waiting to be
// purged would take longer than After at the account's URL refill rate,
// at most MaxPerHour times in any hour.
type Escalate struct {
	// CPCode or Tag is the covering object; exactly one is set.
	CPCode int64  `yaml:"cpcode"`
	Tag    string `yaml:"tag"`
	// After is the longest wait for the route's waiting URLs that is
	// tolerated before escalating. In YAML a duration such as "30s".
	After time.Duration `yaml:"after"`
	// MaxPerHour bounds the escalations of the route in any sliding
	// hour; once spent, the route's URLs are purged one by one.
	MaxPerHour int `yaml:"max_per_hour"`
}

// Object returns the covering object's type and its value (a CP code in
// decimal).
func (e Escalate) Object() (akamai.Type, string) {
	if e.Tag != "" {
		return akamai.TypeTag, e.Tag
	}
	return akamai.TypeCPCode, strconv.FormatInt(e.CPCode, 10)
}

// TagRouting says which account purges each cache tag.
type TagRouting struct {
	// DefaultAccount purges the tags that no route matches; "" means such
	// tags are refused (no_route).
	DefaultAccount string `yaml:"default_account"`
	// Routes send tags to accounts by tag pattern.
	Routes []TagRoute `yaml:"routes"`
}

// TagRoute sends some cache tags to an account.
type TagRoute struct {
	// Tags are tag patterns: "homepage" (exactly that tag) or "shop-*"
	// (every tag that starts with "shop-"). Tags are case-sensitive.
	Tags    []string `yaml:"tags"`
	Account string   `yaml:"account"`
}

// CPCodeRouting says which account purges each CP code.
type CPCodeRouting struct {
	// DefaultAccount purges the CP codes that no route lists; "" means
	// such CP codes are refused (no_route).
	DefaultAccount string `yaml:"default_account"`
	// Routes send listed CP codes to accounts.
	Routes []CPCodeRoute `yaml:"routes"`
}

// CPCodeRoute sends some CP codes to an account.
type CPCodeRoute struct {
	CPCodes []int64 `yaml:"cpcodes"`
	Account string  `yaml:"account"`
}

// Allow is an allow-list per object type. A nil list (the key absent)
// allows every object of its type; a non-nil empty list ([]) allows none.
type Allow struct {
	// Hosts are host patterns, as in Route.
	Hosts []string `yaml:"hosts"`
	// Tags are tag patterns, as in TagRoute, or "*".
	Tags    []string `yaml:"tags"`
	CPCodes []int64  `yaml:"cpcodes"`
}

// OverQuota says what becomes of an event whose source is over quota.
type OverQuota string

// The two ways of handling an over-quota event.
const (
	// OverQuotaDefer defers the event until its source's quota allows it,
	// for at most Quotas.MaxDelay; an event that would have to wait longer
	// is refused. The default.
	OverQuotaDefer OverQuota = "defer"
	// OverQuotaReject refuses over-quota events at once.
	OverQuotaReject OverQuota = "reject"
)

// Quotas limit how many objects each event source (the event's "source"
// field) may purge. Each source has a token bucket of its own, refilled
// at its rate; an event takes one token per object that is to be purged.
// Quotas are per consumer process.
type Quotas struct {
	// PerSourceObjectsPerMinute is the rate of every source that Sources
	// does not list; 0 means such sources are not limited.
	PerSourceObjectsPerMinute int `yaml:"per_source_objects_per_minute"`
	// Burst is the capacity of those sources' buckets (default: one
	// minute's worth, PerSourceObjectsPerMinute).
	Burst int `yaml:"burst"`
	// Sources set the quota of particular sources. In YAML a source's
	// quota is either its objects per minute or a mapping with
	// objects_per_minute and burst.
	Sources map[string]SourceQuota `yaml:"sources"`
	// OverQuota is "defer" (default) or "reject".
	OverQuota OverQuota `yaml:"over_quota"`
	// MaxDelay is how long an over-quota event may be deferred (default
	// DefaultMaxDelay). In YAML a duration such as "10m".
	MaxDelay time.Duration `yaml:"max_delay"`
	// MaxSources bounds the unlisted sources tracked at once (default
	// DefaultMaxSources); beyond it, new sources share one bucket.
	MaxSources int `yaml:"max_sources"`
	// MaxTrackedEvents bounds the events remembered so that a redelivered
	// event is charged only once (default DefaultMaxTrackedEvents). Events
	// are remembered for an hour after they may pass; beyond the bound,
	// the oldest are forgotten, and charged again should they come back.
	MaxTrackedEvents int `yaml:"max_tracked_events"`
}

// SourceQuota is the quota of one source.
type SourceQuota struct {
	ObjectsPerMinute int `yaml:"objects_per_minute"`
	// Burst is the bucket's capacity (default: ObjectsPerMinute).
	Burst int `yaml:"burst"`
}

// UnmarshalYAML accepts a number of objects per minute or a mapping with
// objects_per_minute and burst.
func (q *SourceQuota) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var perMinute int
		if err := n.Decode(&perMinute); err != nil {
			return err
		}
		*q = SourceQuota{ObjectsPerMinute: perMinute}
		return nil
	}
	if n.Kind == yaml.MappingNode {
		var unknown []string
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Value != "objects_per_minute" && k.Value != "burst" {
				unknown = append(unknown, fmt.Sprintf("line %d: field %s not found in a source quota (objects_per_minute, burst)", k.Line, k.Value))
			}
		}
		if unknown != nil {
			return &yaml.TypeError{Errors: unknown}
		}
		type plain SourceQuota
		return n.Decode((*plain)(q))
	}
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: a source quota is a number of objects per minute or a mapping with objects_per_minute and burst", n.Line)}}
}

// Default returns the configuration used without a file: one account,
// "default", whose credentials come from the command line and
// environment, purges everything.
func Default() *Config {
	c := Config{Accounts: map[string]Account{DefaultAccount: {}}}
	d := c.withDefaults()
	return &d
}

// Load reads, checks and returns the configuration in the YAML file at
// path, with defaults filled in; an empty path means Default. Problems
// with the configuration are reported as a *ConfigError, which names the
// line of each; an unreadable file as a wrapped I/O error.
func Load(path string) (*Config, error) {
	if path == "" {
		return Default(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("routing: reading config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("routing: reading config %s: %w", path, err)
	}
	if len(data) > maxConfigBytes {
		return nil, &ConfigError{File: path, Problems: []Problem{{Message: fmt.Sprintf("the file is larger than %d bytes", maxConfigBytes)}}}
	}
	return parse(data, path)
}

// Parse decodes and checks a YAML configuration and fills in its
// defaults. Decoding is strict: an unknown field, a value of the wrong
// type or a duplicate key is an error. Every problem is reported at once,
// with its line, in a *ConfigError.
func Parse(data []byte) (*Config, error) { return parse(data, "") }

func parse(data []byte, file string) (*Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ConfigError{File: file, Problems: []Problem{{Message: "the configuration is empty"}}}
		}
		return nil, yamlError(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &ConfigError{File: file, Problems: []Problem{{Line: extra.Line, Message: "only one YAML document is allowed"}}}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(file, err)
	}
	probs := cfg.problems()
	if _, set := nodeAt(&root, path{"quotas", "max_delay"}); set && cfg.Quotas.MaxDelay == 0 {
		probs = append(probs, problem{path{"quotas", "max_delay"}, "must be positive; to refuse over-quota events at once, set over_quota: reject"})
	}
	if len(probs) > 0 {
		e := &ConfigError{File: file}
		for _, p := range probs {
			line := 0
			if n, _ := nodeAt(&root, p.path); n != nil {
				line = n.Line
			}
			e.Problems = append(e.Problems, Problem{Line: line, Path: p.path.String(), Message: p.msg})
		}
		return nil, e
	}
	c := cfg.withDefaults()
	return &c, nil
}

// yamlError turns a decoding error into a *ConfigError with one problem per
// message, each with its line.
func yamlError(file string, err error) *ConfigError {
	e := &ConfigError{File: file, err: err}
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	for _, m := range msgs {
		p := Problem{Message: m}
		if rest, ok := strings.CutPrefix(m, "line "); ok {
			if num, msg, ok := strings.Cut(rest, ": "); ok {
				if n, err := strconv.Atoi(num); err == nil {
					p.Line, p.Message = n, msg
				}
			}
		}
		e.Problems = append(e.Problems, p)
	}
	return e
}

// Validate reports every problem of c at once as a *ConfigError: no
// accounts, routes naming unknown accounts, invalid or duplicate
// patterns, negative or inconsistent limits and quotas. A Config from
// Default, Load or Parse is valid.
func (c *Config) Validate() error {
	probs := c.problems()
	if len(probs) == 0 {
		return nil
	}
	e := &ConfigError{}
	for _, p := range probs {
		e.Problems = append(e.Problems, Problem{Path: p.path.String(), Message: p.msg})
	}
	return e
}

// problem is a Problem before its line is known.
type problem struct {
	path path
	msg  string
}

// path locates a setting: string elements are mapping keys, int elements
// sequence indexes.
type path []any

// with returns a new path with elems appended.
func (p path) with(elems ...any) path { return append(slices.Clip(p), elems...) }

func (p path) String() string {
	var b strings.Builder
	for i, e := range p {
		switch e := e.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", e)
		case string:
			if !plainKey(e) {
				fmt.Fprintf(&b, "[%q]", e)
				continue
			}
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(e)
		}
	}
	return b.String()
}

// nodeAt returns the node at p in a YAML document (for a mapping key its
// key node, for a sequence element the element) and true; or, if there is
// none, the node of p's longest prefix that is there and false.
func nodeAt(root *yaml.Node, p path) (*yaml.Node, bool) {
	n := root
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil, false
		}
		n = n.Content[0]
	}
	var at *yaml.Node
	for _, e := range p {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		switch e := e.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return at, false
			}
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == e {
					at, n, found = n.Content[i], n.Content[i+1], true
					break
				}
			}
			if !found {
				return at, false
			}
		case int:
			if n.Kind != yaml.SequenceNode || e >= len(n.Content) {
				return at, false
			}
			n = n.Content[e]
			at = n
		}
	}
	return at, true
}

// plainKey reports whether a mapping key can be written bare in a path.
func plainKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// validAccountName reports whether s is 1-64 letters, digits, '.', '-' or
// '_', starting with a letter or digit.
func validAccountName(s string) bool {
	if s == "" || len(s) > 64 || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// problems lists every problem of c, in the order of the settings.
func (c *Config) problems() []problem {
	var probs []problem
	add := func(p path, format string, args ...any) {
		probs = append(probs, problem{p, fmt.Sprintf(format, args...)})
	}
	checkAccount := func(p path, name string) {
		switch _, ok := c.Accounts[name]; {
		case name == "":
			add(p, "an account is required")
		case !ok:
			add(p, "unknown account %q (accounts: %s)", name, strings.Join(sortedKeys(c.Accounts), ", "))
		}
	}

	// Accounts.
	if len(c.Accounts) == 0 {
		add(path{"accounts"}, "at least one account is required")
	}
	type creds struct{ file, section, key string }
	seen := map[creds]string{}
	for _, name := range sortedKeys(c.Accounts) {
		a := c.Accounts[name]
		p := path{"accounts", name}
		if !validAccountName(name) {
			add(p, "account name %q must be 1-64 letters, digits, '.', '-' or '_', starting with a letter or digit", name)
		}
		switch {
		case a.EdgercSection == "" && len(c.Accounts) > 1:
			add(p.with("edgerc_section"), "required when there is more than one account")
		case strings.ContainsAny(a.EdgercSection, "[]\r\n") || strings.TrimSpace(a.EdgercSection) != a.EdgercSection:
			add(p.with("edgerc_section"), "%q is not a section name", a.EdgercSection)
		}
		if strings.ContainsAny(a.AccountKey, " \t\r\n") {
			add(p.with("account_key"), "must not contain white space")
		}
		if strings.ContainsRune(a.Edgerc, 0) {
			add(p.with("edgerc"), "must not contain NUL")
		}
		k := creds{a.Edgerc, a.EdgercSection, a.AccountKey}
		if other, dup := seen[k]; dup {
			add(p, "uses the same credentials (edgerc, edgerc_section, account_key) as account %q", other)
		} else {
			seen[k] = name
		}
		for _, b := range []struct {
			key string
			b   Bucket
		}{{"requests", a.Limits.Requests}, {"url", a.Limits.URL}, {"cpcode", a.Limits.CPCode}, {"tag", a.Limits.Tag}} {
			if b.b.Capacity < 0 {
				add(p.with("limits", b.key, "capacity"), "must not be negative")
			}
			if b.b.PerSecond < 0 || math.IsNaN(b.b.PerSecond) || math.IsInf(b.b.PerSecond, 0) {
				add(p.with("limits", b.key, "per_second"), "must be a finite, non-negative number")
			}
		}
		lim := a.Limits.WithDefaults()
		for _, t := range sortedKeys(a.MaxObjects) {
			n := a.MaxObjects[t]
			switch capacity := lim.Objects(t).Capacity; {
			case !t.Valid():
				add(p.with("max_objects", string(t)), "unknown object type %q (url, tag, cpcode)", t)
			case n < 1:
				add(p.with("max_objects", string(t)), "is %d; it must be at least 1", n)
			case n > capacity:
				add(p.with("max_objects", string(t)), "is %d, above the %s bucket's capacity of %d: such a request could never be accepted", n, t, capacity)
			}
		}
	}

	// URL routes.
	routed := map[hostPattern]int{}
	for i, r := range c.Routes {
		p := path{"routes", i}
		if len(r.Hosts) == 0 {
			add(p.with("hosts"), "at least one host pattern is required")
		}
		for j, h := range r.Hosts {
			hp, err := parseHostPattern(h)
			if err != nil {
				add(p.with("hosts", j), "%q: %v", h, err)
				continue
			}
			if other, dup := routed[hp]; dup {
				add(p.with("hosts", j), "%q is already routed by routes[%d]", h, other)
				continue
			}
			routed[hp] = i
		}
		checkAccount(p.with("account"), r.Account)
		if r.Escalate != nil {
			probs = append(probs, c.escalateProblems(p.with("escalate"), *r.Escalate)...)
		}
	}

	// Tag routes.
	if c.Tags.DefaultAccount != "" {
		checkAccount(path{"tags", "default_account"}, c.Tags.DefaultAccount)
	}
	tagRouted := map[tagPattern]int{}
	for i, r := range c.Tags.Routes {
		p := path{"tags", "routes", i}
		if len(r.Tags) == 0 {
			add(p.with("tags"), "at least one tag pattern is required")
		}
		for j, t := range r.Tags {
			tp, err := parseTagPattern(t)
			switch {
			case err != nil:
				add(p.with("tags", j), "%q: %v", t, err)
			case tp.any:
				add(p.with("tags", j), `"*" routes every tag: use tags.default_account instead`)
			default:
				if other, dup := tagRouted[tp]; dup {
					add(p.with("tags", j), "%q is already routed by tags.routes[%d]", t, other)
				} else {
					tagRouted[tp] = i
				}
			}
		}
		checkAccount(p.with("account"), r.Account)
	}

	// CP code routes.
	if c.CPCodes.DefaultAccount != "" {
		checkAccount(path{"cpcodes", "default_account"}, c.CPCodes.DefaultAccount)
	}
	codeRouted := map[int64]int{}
	for i, r := range c.CPCodes.Routes {
		p := path{"cpcodes", "routes", i}
		if len(r.CPCodes) == 0 {
			add(p.with("cpcodes"), "at least one CP code is required")
		}
		for j, code := range r.CPCodes {
			if code <= 0 {
				add(p.with("cpcodes", j), "CP code %d is not a positive integer", code)
			} else if other, dup := codeRouted[code]; dup {
				add(p.with("cpcodes", j), "CP code %d is already routed by cpcodes.routes[%d]", code, other)
			} else {
				codeRouted[code] = i
			}
		}
		checkAccount(p.with("account"), r.Account)
	}

	// Allow-list.
	for i, h := range c.Allow.Hosts {
		if _, err := parseHostPattern(h); err != nil {
			add(path{"allow", "hosts", i}, "%q: %v", h, err)
		}
	}
	for i, t := range c.Allow.Tags {
		if _, err := parseTagPattern(t); err != nil {
			add(path{"allow", "tags", i}, "%q: %v", t, err)
		}
	}
	for i, code := range c.Allow.CPCodes {
		if code <= 0 {
			add(path{"allow", "cpcodes", i}, "CP code %d is not a positive integer", code)
		}
	}

	// Quotas.
	q := c.Quotas
	qp := path{"quotas"}
	if q.PerSourceObjectsPerMinute < 0 {
		add(qp.with("per_source_objects_per_minute"), "must not be negative")
	}
	switch {
	case q.Burst < 0:
		add(qp.with("burst"), "must not be negative")
	case q.Burst > 0 && q.PerSourceObjectsPerMinute == 0:
		add(qp.with("burst"), "has no effect without per_source_objects_per_minute")
	}
	for _, name := range sortedKeys(q.Sources) {
		s := q.Sources[name]
		if s.ObjectsPerMinute < 1 {
			add(qp.with("sources", name), "objects per minute must be at least 1")
		}
		if s.Burst < 0 {
			add(qp.with("sources", name, "burst"), "must not be negative")
		}
	}
	switch q.OverQuota {
	case "", OverQuotaDefer, OverQuotaReject:
	default:
		add(qp.with("over_quota"), "%q is neither defer nor reject", q.OverQuota)
	}
	if q.MaxDelay < 0 {
		add(qp.with("max_delay"), "must not be negative")
	}
	if q.MaxSources < 0 {
		add(qp.with("max_sources"), "must not be negative")
	}
	if q.MaxTrackedEvents < 0 {
		add(qp.with("max_tracked_events"), "must not be negative")
	}
	if c.MaxObjectsPerEvent < 0 {
		add(path{"max_objects_per_event"}, "must not be negative")
	}
	// In reject mode, an event larger than its source's burst never passes.
	if q.OverQuota == OverQuotaReject && c.MaxObjectsPerEvent > 0 {
		tooSmall := func(p path, burst int) {
			if burst > 0 && burst < c.MaxObjectsPerEvent {
				add(p, "is %d, below max_objects_per_event (%d): with over_quota: reject, larger events could never pass", burst, c.MaxObjectsPerEvent)
			}
		}
		if q.Burst > 0 {
			tooSmall(qp.with("burst"), q.Burst)
		} else {
			tooSmall(qp.with("per_source_objects_per_minute"), q.PerSourceObjectsPerMinute)
		}
		for _, name := range sortedKeys(q.Sources) {
			if s := q.Sources[name]; s.Burst > 0 {
				tooSmall(qp.with("sources", name, "burst"), s.Burst)
			} else {
				tooSmall(qp.with("sources", name), s.ObjectsPerMinute)
			}
		}
	}
	return probs
}

// escalateProblems lists the problems of a route's escalate setting at p.
func (c *Config) escalateProblems(p path, e Escalate) []problem {
	var probs []problem
	add := func(p path, format string, args ...any) {
		probs = append(probs, problem{p, fmt.Sprintf(format, args...)})
	}
	switch {
	case e.CPCode == 0 && e.Tag == "":
		add(p, "names no covering object: set cpcode or tag")
	case e.CPCode != 0 && e.Tag != "":
		add(p.with("tag"), "set cpcode or tag, not both")
	case e.CPCode < 0:
		add(p.with("cpcode"), "CP code %d is not a positive integer", e.CPCode)
	case e.CPCode > 0 && c.Allow.CPCodes != nil && !slices.Contains(c.Allow.CPCodes, e.CPCode):
		add(p.with("cpcode"), "CP code %d is not allowed by allow.cpcodes: the covering purge would be refused", e.CPCode)
	case e.Tag != "":
		if _, err := akamai.NormalizeObject(akamai.TypeTag, e.Tag); err != nil {
			add(p.with("tag"), "%q is not a cache tag: %v", e.Tag, err)
		} else if !c.tagAllowed(e.Tag) {
			add(p.with("tag"), "tag %q is not allowed by allow.tags: the covering purge would be refused", e.Tag)
		}
	}
	if e.After <= 0 {
		add(p.with("after"), "must be a positive duration, such as 30s")
	}
	if e.MaxPerHour < 1 {
		add(p.with("max_per_hour"), "must be at least 1")
	}
	return probs
}

// tagAllowed reports whether allow.tags allows tag.
func (c *Config) tagAllowed(tag string) bool {
	if c.Allow.Tags == nil {
		return true
	}
	t := newTagTable[struct{}]()
	for _, s := range c.Allow.Tags {
		if p, err := parseTagPattern(s); err == nil {
			t.add(p, struct{}{})
		}
	}
	_, ok := t.lookup(tag)
	return ok
}

// withDefaults returns a copy of c with its defaults filled in. c's maps
// and slices are not modified.
func (c *Config) withDefaults() Config {
	d := *c
	d.Accounts = make(map[string]Account, len(c.Accounts))
	for name, a := range c.Accounts {
		a.Limits = a.Limits.WithDefaults()
		d.Accounts[name] = a
	}
	if len(c.Accounts) == 1 {
		only := sortedKeys(c.Accounts)[0]
		if d.Routes == nil {
			d.Routes = []Route{{Hosts: []string{"*"}, Account: only}}
		}
		if d.Tags.DefaultAccount == "" {
			d.Tags.DefaultAccount = only
		}
		if d.CPCodes.DefaultAccount == "" {
			d.CPCodes.DefaultAccount = only
		}
	}
	q := &d.Quotas
	if q.PerSourceObjectsPerMinute > 0 && q.Burst == 0 {
		q.Burst = q.PerSourceObjectsPerMinute
	}
	if c.Quotas.Sources != nil {
		q.Sources = make(map[string]SourceQuota, len(c.Quotas.Sources))
		for name, s := range c.Quotas.Sources {
			if s.Burst == 0 {
				s.Burst = s.ObjectsPerMinute
			}
			q.Sources[name] = s
		}
	}
	if q.OverQuota == "" {
		q.OverQuota = OverQuotaDefer
	}
	if q.MaxDelay == 0 {
		q.MaxDelay = DefaultMaxDelay
	}
	if q.MaxSources == 0 {
		q.MaxSources = DefaultMaxSources
	}
	if q.MaxTrackedEvents == 0 {
		q.MaxTrackedEvents = DefaultMaxTrackedEvents
	}
	return d
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
