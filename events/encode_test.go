package events

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/purgebus/purgebus/akamai"
)

// referenceEncode is PurgeResult.Encode as encoding/json wrote it before
// this package moved to github.com/go-json-experiment/json: HTML escaping
// off, nil lists as [], CP codes as integers, the fields in this order.
// It is the wire format that subscribers parse, pinned here apart from
// the struct tags: Encode must write exactly this, and fail exactly when
// this fails.
func referenceEncode(r *PurgeResult) ([]byte, error) {
	c := refResult{EventID: r.EventID, Outcome: r.Outcome, Source: r.Source, Purges: []refPurge{}, Failures: []refFailure{},
		ReceivedAt: r.ReceivedAt, CompletedAt: r.CompletedAt, EstimatedCompleteAt: r.EstimatedCompleteAt,
		Subject: r.Subject, CorrelationID: r.CorrelationID, Metadata: r.Metadata, Truncated: r.Truncated}
	for _, p := range r.Purges {
		c.Purges = append(c.Purges, refPurge{p.PurgeID, p.SupportID, p.EstimatedSeconds, p.HTTPStatus, p.Type, p.Action,
			p.Network, p.Account, p.AcceptedAt, p.Escalation, p.ObjectsOmitted, refObjects{p.Type, p.Objects}})
	}
	for _, f := range r.Failures {
		c.Failures = append(c.Failures, refFailure{f.Type, f.Action, f.Network, f.HTTPStatus, f.Title, f.Detail,
			f.SupportID, f.ObjectsOmitted, refObjects{f.Type, f.Objects}})
	}
	return refMarshal(&c)
}

func refMarshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

type (
	refResult struct {
		EventID             string            `json:"event_id"`
		Outcome             Outcome           `json:"outcome"`
		Source              string            `json:"source,omitempty"`
		Purges              []refPurge        `json:"purges"`
		Failures            []refFailure      `json:"failures"`
		ReceivedAt          time.Time         `json:"received_at"`
		CompletedAt         time.Time         `json:"completed_at"`
		EstimatedCompleteAt time.Time         `json:"estimated_complete_at,omitzero"`
		Subject             string            `json:"subject,omitempty"`
		CorrelationID       string            `json:"correlation_id,omitempty"`
		Metadata            map[string]string `json:"metadata,omitempty"`
		Truncated           bool              `json:"truncated,omitempty"`
	}
	refPurge struct {
		PurgeID          string         `json:"purge_id"`
		SupportID        string         `json:"support_id"`
		EstimatedSeconds int            `json:"estimated_seconds"`
		HTTPStatus       int            `json:"http_status"`
		Type             akamai.Type    `json:"type"`
		Action           akamai.Action  `json:"action"`
		Network          akamai.Network `json:"network"`
		Account          string         `json:"account,omitempty"`
		AcceptedAt       time.Time      `json:"accepted_at,omitzero"`
		Escalation       *Escalation    `json:"escalation,omitempty"`
		ObjectsOmitted   int            `json:"objects_omitted,omitempty"`
		Objects          refObjects     `json:"objects"`
	}
	refFailure struct {
		Type           akamai.Type    `json:"type,omitempty"`
		Action         akamai.Action  `json:"action,omitempty"`
		Network        akamai.Network `json:"network,omitempty"`
		HTTPStatus     int            `json:"http_status,omitempty"`
		Title          string         `json:"title"`
		Detail         string         `json:"detail,omitempty"`
		SupportID      string         `json:"support_id,omitempty"`
		ObjectsOmitted int            `json:"objects_omitted,omitempty"`
		Objects        refObjects     `json:"objects"`
	}
	refObjects struct {
		typ  akamai.Type
		objs []string
	}
)

func (l refObjects) MarshalJSON() ([]byte, error) {
	if l.objs == nil {
		return []byte("[]"), nil
	}
	if l.typ != akamai.TypeCPCode {
		return refMarshal(l.objs)
	}
	b := []byte{'['}
	for i, o := range l.objs {
		if i > 0 {
			b = append(b, ',')
		}
		if _, err := strconv.ParseInt(o, 10, 64); err != nil {
			return nil, err
		}
		b = append(b, o...)
	}
	return append(b, ']'), nil
}

// checkEncode compares Encode with referenceEncode. The one difference
// allowed: a byte of invalid UTF-8 (which no decoded event or Akamai
// response holds) becomes U+FFFD written as itself, not as the escape
// \ufffd that encoding/json wrote; both are the same JSON string.
func checkEncode(t *testing.T, r *PurgeResult) {
	t.Helper()
	want, wantErr := referenceEncode(r)
	got, err := r.Encode()
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("Encode error %v, encoding/json error %v; result %#v", err, wantErr, r)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Encode differs from encoding/json:\n got %q\nwant %q", got, want)
	}
	fast, ok := appendResult(nil, r)
	if ok != (wantErr == nil) || ok && !bytes.Equal(fast, want) {
		t.Fatalf("hand-written encoder: ok=%v %q; encoding/json: %v %q", ok, fast, wantErr, want)
	}
	lib, err := marshal(r)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("library error %v, encoding/json error %v", err, wantErr)
	}
	if !bytes.Equal(lib, want) && !bytes.Equal(lib, bytes.ReplaceAll(want, []byte(`\ufffd`), []byte("\ufffd"))) {
		t.Fatalf("library differs from encoding/json:\n got %q\nwant %q", lib, want)
	}
}

// TestHandWrittenEncoderCoversResult: a field added to a result's types
// must be added to the hand-written encoder too (result_encode.go), or
// Encode takes the slower library path for every result.
func TestHandWrittenEncoderCoversResult(t *testing.T) {
	if !handWritten {
		t.Fatal("PurgeResult, Purge or Failure has fields the hand-written encoder does not know: " +
			"add them to appendResult and handWrittenFields (Encode meanwhile takes the library path)")
	}
	if coversFields(map[reflect.Type][]string{reflect.TypeFor[Failure](): {"Type"}}) {
		t.Fatal("coversFields missed a type with fields it does not list")
	}
}

// trickyStrings exercise every branch of encoding/json's string escaping
// with HTML escaping off.
var trickyStrings = []string{
	"",
	"plain",
	"https://www.example.com/a?x=1&y=<2>#'`",
	"\x00\x01\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x1b\x1f \x7f",
	`quote " backslash \ slash / done`,
	"\u2028line\u2029para\u202a\u2027",
	"\xe2\x80\xa8\xe2\x80\xa9\xe2\x80\xaa",
	"invalid \xff \xfe \xc0\xaf end",
	"truncated \xe2\x80",
	"\xe2",
	"surrogate \xed\xa0\x80 half",
	"overlong \xc1\xbf \xe0\x80\xaf",
	"max \xf4\x8f\xbf\xbf over \xf4\x90\x80\x80",
	"café 日本 😀 \U0010FFFF",
	"\ufffd replacement already",
	strings.Repeat("a\"b", 50),
}

var (
	utc    = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	nanos  = time.Date(2026, 11, 25, 12, 0, 0, 120000000, time.UTC)
	zoned  = time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("", 5*3600+30*60))
	west   = time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("X", -(11*3600+59*60+59)))
	year0  = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
	y9999  = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
	y10000 = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	yNeg   = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)
	tz24   = time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600))
	local  = time.Date(2026, 6, 1, 0, 0, 0, 1, time.Local)
)

var cpCodes = []string{"0", "-0", "7", "12345", "-12", "9223372036854775807", "-9223372036854775808",
	// encoding/json or objectList refuses these.
	"+1", "01", "-01", "00", "", "-", "1e3", "1.0", " 1", "x", "9223372036854775808", "0x1f", "1_000"}

func TestEncodeTable(t *testing.T) {
	full := func() *PurgeResult {
		return &PurgeResult{
			EventID: "e1", Outcome: OutcomePartial, Source: "cms",
			Purges: []Purge{
				{PurgeID: "p1", SupportID: "s1", EstimatedSeconds: 5, HTTPStatus: 201, Type: akamai.TypeURL, Action: akamai.ActionInvalidate, Network: akamai.NetworkProduction, Objects: []string{"https://a.example/?x=1&y=<2>"}, AcceptedAt: utc},
				{PurgeID: "p2", SupportID: "s2", EstimatedSeconds: -1, HTTPStatus: 0, Type: akamai.TypeCPCode, Action: akamai.ActionDelete, Network: akamai.NetworkStaging, Account: "acct", Objects: []string{"12345", "-0"}},
				{PurgeID: "p3", Type: akamai.TypeTag, Objects: []string{}},
				{},
				{PurgeID: "p4", Type: akamai.TypeURL, Objects: []string{"https://a.example/1"}, AcceptedAt: utc,
					Escalation: &Escalation{Type: akamai.TypeCPCode, Object: "12345", Reason: "50000 URLs would wait 250 s"}},
				{PurgeID: "p5", Escalation: &Escalation{}},
			},
			Failures: []Failure{
				{Type: akamai.TypeCPCode, Objects: []string{"999"}, HTTPStatus: 403, Title: "unauthorized cpcode", Detail: "999", SupportID: "x"},
				{},
				{Title: "t"},
				{Action: akamai.ActionDelete, Title: "only action", Objects: []string{}},
				{Network: akamai.NetworkStaging, Objects: []string{"a", "b"}},
				{HTTPStatus: -5},
				{Type: akamai.TypeTag, Action: "a", Network: "n", HTTPStatus: 500, Title: "T", Detail: "D", SupportID: "S", Objects: []string{"t1"}},
			},
			ReceivedAt: utc, CompletedAt: nanos, EstimatedCompleteAt: zoned,
			Subject: "content.changed.cms", CorrelationID: "c-1",
			Metadata: map[string]string{"page": "42", "z": "<&>", "é": "\u2028", "😀": "", "ｚ": "x"},
		}
	}
	tests := map[string]*PurgeResult{
		"zero":  {},
		"empty": {EventID: "e", Outcome: OutcomeFailed, Purges: []Purge{}, Failures: []Failure{}},
		"full":  full(),
		"truncated": func() *PurgeResult {
			r := full()
			r.Truncated, r.Purges[0].ObjectsOmitted, r.Failures[0].ObjectsOmitted, r.Failures[1].ObjectsOmitted = true, 3, 7, 1
			return r
		}(),
	}
	for i, tm := range []time.Time{utc, nanos, zoned, west, year0, y9999, y10000, yNeg, tz24, local, {}} {
		for j, field := range []string{"received", "completed", "estimated", "accepted"} {
			r := full()
			switch j {
			case 0:
				r.ReceivedAt = tm
			case 1:
				r.CompletedAt = tm
			case 2:
				r.EstimatedCompleteAt = tm
			case 3:
				r.Purges[1].AcceptedAt = tm
			}
			tests["time "+field+" "+string(rune('a'+i))] = r
		}
	}
	for i, s := range trickyStrings {
		r := full()
		r.EventID, r.Source, r.Subject, r.CorrelationID = s, s, s, s
		r.Metadata = map[string]string{s: s, "k": s}
		r.Outcome = Outcome(s)
		r.Purges[0].PurgeID, r.Purges[0].SupportID, r.Purges[0].Account = s, s, s
		r.Purges[0].Action, r.Purges[0].Network = akamai.Action(s), akamai.Network(s)
		r.Purges[0].Objects = []string{s, s}
		r.Purges[4].Escalation = &Escalation{Type: akamai.Type(s), Object: s, Reason: s}
		r.Failures[0].Title, r.Failures[0].Detail, r.Failures[0].SupportID = s, s, s
		r.Failures[1].Type, r.Failures[1].Objects = akamai.Type(s), []string{s}
		tests["string "+string(rune('a'+i))] = r
	}
	for i, cp := range cpCodes {
		r := full()
		r.Purges[1].Objects = []string{"1", cp}
		tests["cpcode purge "+string(rune('a'+i))] = r
		r = full()
		r.Failures[0].Objects = []string{cp}
		tests["cpcode failure "+string(rune('a'+i))] = r
		// Not a CP code: any string goes.
		r = full()
		r.Purges[0].Objects = []string{cp}
		tests["string object "+string(rune('a'+i))] = r
	}
	for name, r := range tests {
		t.Run(name, func(t *testing.T) { checkEncode(t, r) })
	}
}

// randomResult builds a result from pieces that reach every branch of
// the encoder.
func randomResult(rng *rand.Rand) *PurgeResult {
	str := func() string {
		if rng.IntN(3) == 0 {
			return ""
		}
		var b strings.Builder
		for range rng.IntN(4) {
			switch rng.IntN(4) {
			case 0:
				b.WriteString(trickyStrings[rng.IntN(len(trickyStrings))])
			case 1:
				b.WriteByte(byte(rng.IntN(256)))
			case 2:
				b.WriteRune(rune(rng.IntN(0x110000)))
			default:
				b.WriteString("https://www.example.com/p?a=1&b=2")
			}
		}
		return b.String()
	}
	tm := func() time.Time {
		switch rng.IntN(6) {
		case 0:
			return time.Time{}
		case 1:
			return []time.Time{utc, nanos, zoned, west, year0, y9999, y10000, yNeg, tz24, local}[rng.IntN(10)]
		}
		t := time.Unix(rng.Int64N(400e9)-200e9, rng.Int64N(1e9))
		if rng.IntN(2) == 0 {
			return t.In(time.FixedZone("", rng.IntN(2*26*3600)-26*3600))
		}
		return t.UTC()
	}
	typ := func() akamai.Type {
		if rng.IntN(5) == 0 {
			return akamai.Type(str())
		}
		return []akamai.Type{akamai.TypeURL, akamai.TypeTag, akamai.TypeCPCode, ""}[rng.IntN(4)]
	}
	objs := func(t akamai.Type) []string {
		switch rng.IntN(5) {
		case 0:
			return nil
		case 1:
			return []string{}
		}
		o := make([]string, 1+rng.IntN(4))
		for i := range o {
			switch {
			case t == akamai.TypeCPCode && rng.IntN(8) == 0:
				o[i] = cpCodes[rng.IntN(len(cpCodes))]
			case t == akamai.TypeCPCode:
				o[i] = []string{"1", "12345", "-7", "0"}[rng.IntN(4)]
			default:
				o[i] = str()
			}
		}
		return o
	}
	num := func() int {
		return []int{0, 1, -1, 201, 403, 1 << 40, -(1 << 62)}[rng.IntN(7)]
	}
	r := &PurgeResult{EventID: str(), Outcome: Outcome(str()), Source: str(), ReceivedAt: tm(), CompletedAt: tm(),
		EstimatedCompleteAt: tm(), Subject: str(), CorrelationID: str()}
	switch rng.IntN(3) {
	case 0:
		r.Metadata = map[string]string{}
	case 1:
		r.Metadata = map[string]string{}
		for range 1 + rng.IntN(4) {
			r.Metadata[str()] = str()
		}
	}
	if rng.IntN(4) > 0 {
		r.Purges = []Purge{}
		for range rng.IntN(4) {
			t := typ()
			r.Purges = append(r.Purges, Purge{PurgeID: str(), SupportID: str(), EstimatedSeconds: num(), HTTPStatus: num(),
				Type: t, Action: akamai.Action(str()), Network: akamai.Network(str()), Account: str(), Objects: objs(t), AcceptedAt: tm()})
			if rng.IntN(3) == 0 {
				r.Purges[len(r.Purges)-1].Escalation = &Escalation{Type: typ(), Object: str(), Reason: str()}
			}
		}
	}
	if rng.IntN(4) > 0 {
		r.Failures = []Failure{}
		for range rng.IntN(4) {
			t := typ()
			r.Failures = append(r.Failures, Failure{Type: t, Action: akamai.Action(str()), Network: akamai.Network(str()),
				Objects: objs(t), HTTPStatus: num(), Title: str(), Detail: str(), SupportID: str()})
		}
	}
	return r
}

// TestEncodeRandom compares the encoders on random results.
func TestEncodeRandom(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	for range n {
		checkEncode(t, randomResult(rng))
	}
}

// FuzzEncode compares the encoders on results built from fuzzed strings,
// numbers and times.
func FuzzEncode(f *testing.F) {
	for i, s := range trickyStrings {
		f.Add(s, cpCodes[i%len(cpCodes)], int64(i)*1e15, int32(i*3600), int64(i*100), uint8(i))
	}
	f.Add("", "", int64(math.MinInt64), int32(0), int64(0), uint8(0xff))
	f.Fuzz(func(t *testing.T, s, cp string, unixNano int64, offset int32, n int64, flags uint8) {
		tm := time.Unix(0, unixNano).In(time.FixedZone("", int(offset)))
		if flags&1 != 0 {
			tm = tm.AddDate(int(n%20000), 0, 0)
		}
		var zero time.Time
		pick := func(bit uint8) time.Time {
			if flags&bit != 0 {
				return zero
			}
			return tm
		}
		typ := akamai.TypeURL
		if flags&2 != 0 {
			typ = akamai.TypeCPCode
		}
		r := &PurgeResult{
			EventID: s, Outcome: Outcome(s), Source: s, Subject: s, CorrelationID: s,
			ReceivedAt: tm, CompletedAt: pick(4), EstimatedCompleteAt: pick(8),
			Purges: []Purge{{PurgeID: s, SupportID: s, EstimatedSeconds: int(n), HTTPStatus: int(n >> 3), Type: typ,
				Action: akamai.Action(s), Network: akamai.Network(s), Account: s, Objects: []string{cp, s}, AcceptedAt: pick(16)},
				{PurgeID: s, Type: akamai.TypeURL, Objects: []string{s}, Escalation: &Escalation{Type: typ, Object: cp, Reason: s}}},
			Failures: []Failure{{Type: akamai.Type(s), Objects: []string{cp}, HTTPStatus: int(n), Title: s, Detail: s, SupportID: s},
				{Type: typ, Objects: []string{cp}}},
		}
		if flags&32 != 0 {
			r.Purges, r.Failures = nil, nil
		}
		if flags&64 != 0 {
			r.Metadata = map[string]string{s: cp, cp: s}
		}
		checkEncode(t, r)
	})
}
