package events_test

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/purgebus/purgebus/events"
)

// referenceDecode is Decode without its fast path: the library for
// every event.
func referenceDecode(data []byte, maxBytes int) (events.ContentChanged, error) {
	return events.DecodeLibrary(data, maxBytes)
}

// jsonDecode is what the library makes of data, before Normalize, and
// whether it took it as one event object.
func jsonDecode(data []byte) (events.ContentChanged, bool) {
	var e events.ContentChanged
	err := events.Unmarshal(data, &e)
	return e, err == nil
}

// identical compares events field by field, nil and empty lists apart;
// times must be the same instant in the same zone (each decoding makes a
// new *time.Location for an offset).
func identical(a, b events.ContentChanged) bool {
	ta, tb := a.OccurredAt, b.OccurredAt
	na, oa := ta.Zone()
	nb, ob := tb.Zone()
	if !ta.Equal(tb) || na != nb || oa != ob || ta.Location().String() != tb.Location().String() {
		return false
	}
	a.OccurredAt, b.OccurredAt = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

// checkDecode compares the fast path with the library, and Decode with
// referenceDecode. It reports whether the fast path took data.
func checkDecode(t *testing.T, data []byte, maxBytes int) bool {
	t.Helper()
	var fast events.ContentChanged
	took := utf8.Valid(data) && events.DecodeFast(data, &fast)
	if took {
		ref, ok := jsonDecode(data)
		if !ok {
			t.Fatalf("fast path took %q, which the library refuses", data)
		}
		if !identical(fast, ref) {
			t.Fatalf("fast path decoded %q as\n%#v\nthe library as\n%#v", data, fast, ref)
		}
	}
	got, err := events.Decode(data, maxBytes)
	want, wantErr := referenceDecode(data, maxBytes)
	if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("Decode(%q) error %v, want %v", data, err, wantErr)
	}
	if !identical(got, want) {
		t.Fatalf("Decode(%q) =\n%#v\nwant\n%#v", data, got, want)
	}
	return took
}

// fastDecodeSeeds are the edges of the fast path.
var fastDecodeSeeds = []string{
	`{"id":"ingest-1","urls":["https://www.example.com/hot/1?a=1&b=2"],"source":"purgeload"}`,
	`{"urls":["https:\/\/www.example.com\/a"],"source":"caf\u00e9 \ud83d\ude00 \"q\" \\ \b\f\n\r\t \u0000"}`,
	`{"urls":["https://e.com/"],"source":"\ud800\u0041 \udc00 \ud800\ud800\udc00 \ud83d \ud83d\u"}`,
	`{"urls":["https://e.com/"],"source":"\ud800"}`,
	`{"urls":["https://e.com/"],"source":"\ud800\\"}`,
	`{"urls":["https://e.com/"],"source":"\ud800\u00"}`,
	`{"urls":["https://e.com/"],"source":"\U0041"}`,
	`{"urls":["https://e.com/"],"source":"\'"}`,
	`{"urls":["https://e.com/"],"source":"\x41"}`,
	`{"urls":["https://e.com/"],"id":"a\u002Db"}`,
	" \t\r\n{ \"urls\" : [ \"https://e.com/\" , \"https://e.com/b\" ] , \"tags\" : [ ] } \n",
	`{"urls":["https://e.com/"],"priority":"high","n":-1.5e+3,"o":{"a":[1,{"b":null}],"c":true,"d":false},"e":[],"f":{}}`,
	`{"urls":["https://e.com/"],"Source":"caps"}`,
	`{"urls":["https://e.com/"],"SOURCE":"caps","source":"lower"}`,
	`{"urls":["https://e.com/"],"occurred_At":"2026-11-25T12:00:00Z"}`,
	`{"urls":["https://e.com/"],"ſource":"long s"}`,
	`{"urls":["https://e.com/"],"\u0073ource":"escaped key"}`,
	`{"urls":["https://e.com/"],"ids":"x","id_":"y","url":"z","cpcodes_and_more":1}`,
	`{"urls":["https://e.com/"],"id":"a","id":"b"}`,
	`{"urls":["https://e.com/"],"id":null}`,
	`{"urls":null,"tags":["t"]}`,
	`{"urls":["https://e.com/",null]}`,
	`{"cpcodes":[1,-0,0,9223372036854775807,-9223372036854775808]}`,
	`{"cpcodes":[9223372036854775808]}`,
	`{"cpcodes":[-9223372036854775809]}`,
	`{"cpcodes":[12345678901234567890]}`,
	`{"cpcodes":[01]}`,
	`{"cpcodes":[1.0]}`,
	`{"cpcodes":[1e0]}`,
	`{"cpcodes":[1E0]}`,
	`{"cpcodes":[-]}`,
	`{"cpcodes":[+1]}`,
	`{"cpcodes":[1,]}`,
	`{"cpcodes":[,1]}`,
	`{"cpcodes":[1 2]}`,
	`{"cpcodes":[]}`,
	`{"cpcodes":{}}`,
	`{"urls":["https://e.com/"],"occurred_at":"2026-11-25T12:00:00.5+05:30"}`,
	`{"urls":["https://e.com/"],"occurred_at":"2026-11-25T12:00:00\u005a"}`,
	`{"urls":["https://e.com/"],"occurred_at":"2026-11-25t12:00:00z"}`,
	`{"urls":["https://e.com/"],"occurred_at":null}`,
	`{"urls":["https://e.com/"],"occurred_at":""}`,
	`{"urls":["https://e.com/"],"occurred_at":1}`,
	`{"urls":["https://e.com/"],"x":01}`,
	`{"urls":["https://e.com/"],"x":-}`,
	`{"urls":["https://e.com/"],"x":1.}`,
	`{"urls":["https://e.com/"],"x":1.e1}`,
	`{"urls":["https://e.com/"],"x":1e}`,
	`{"urls":["https://e.com/"],"x":tru}`,
	`{"urls":["https://e.com/"],"x":nul}`,
	`{"urls":["https://e.com/"],"x":[1,]}`,
	`{"urls":["https://e.com/"],"x":{"a":1,}}`,
	`{"urls":["https://e.com/"],"x":{"a"}}`,
	`{"urls":["https://e.com/"],"x":{1:2}}`,
	`{"urls":["https://e.com/"],"x":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`,
	`{"urls":["https://e.com/"],}`,
	`{,"urls":["https://e.com/"]}`,
	`{"urls":["https://e.com/"]`,
	`{"urls":["https://e.com/"]} x`,
	`{"urls":["https://e.com/"]}{}`,
	`{"urls":["https://e.com/"]` + "\x00}",
	"{\"urls\":[\"https://e.com/\ta\"]}",
	"{\"urls\":[\"https://e.com/\x7f\"]}",
	`{"urls":["https://e.com/"],"source":"` + "\u2028\u2029" + `"}`,
	`{"urls":["https://e.com/"],"metadata":{"page":"42","editor":"caf\u00e9 \ud83d\ude00","":"","\u0061":"escaped key"}}`,
	`{"urls":["https://e.com/"],"metadata":{}}`,
	`{"urls":["https://e.com/"],"metadata":{ "a" : "1" , "a" : "2" }}`,
	`{"urls":["https://e.com/"],"metadata":null}`,
	`{"urls":["https://e.com/"],"metadata":{"a":null}}`,
	`{"urls":["https://e.com/"],"metadata":{"a":1}}`,
	`{"urls":["https://e.com/"],"metadata":{"a":"1",}}`,
	`{"urls":["https://e.com/"],"metadata":{"a"}}`,
	`{"urls":["https://e.com/"],"metadata":["a"]}`,
	`{"urls":["https://e.com/"],"metadata":"a"}`,
	`{"urls":["https://e.com/"],"metadata":{"a":"1"},"metadata":{"b":"2"}}`,
	`{"urls":["https://e.com/"],"Metadata":{"a":"1"}}`,
	`{}`,
	`{ }`,
	`{"urls":[]}`,
	`{"urls":[""]}`,
	`{"urls":"https://e.com/"}`,
	`{"urls":[1]}`,
	`{"id":1,"urls":["https://e.com/"]}`,
	`{"id":"e","urls":["https://e.com/","https://e.com/a","https://e.com/b","https://e.com/c","https://e.com/d"],"tags":["a","b"],"cpcodes":[1,2,3],"action":"delete","network":"staging","source":"s","occurred_at":"2026-11-25T12:00:00Z"}`,
}

// TestDecodeFastPath compares the fast path with encoding/json on its
// edges and checks that the usual events take it.
func TestDecodeFastPath(t *testing.T) {
	for _, s := range fastDecodeSeeds {
		checkDecode(t, []byte(s), 0)
	}
	for _, s := range fuzzDecodeSeeds {
		checkDecode(t, []byte(s.data), int(s.limit))
	}
	usual := [][]byte{benchEvent, []byte(fastDecodeSeeds[0]), []byte(fastDecodeSeeds[1]), []byte(fastDecodeSeeds[len(fastDecodeSeeds)-1]),
		[]byte(`{"urls":["https://e.com/"],"priority":"high","meta":{"by":["x"],"n":1}}`)}
	for _, ev := range []*events.ContentChanged{
		events.NewContentChanged("cms").AddURLs("https://www.example.com/a?x=1&y=<2>", "https://www.example.com/café").AddTags("news").AddCPCodes(12345),
		{ID: "e1", URLs: []string{"https://e.com/"}, Action: "delete", Network: "staging", OccurredAt: time.Now()},
		events.NewContentChanged("cms").AddURLs("https://e.com/").WithMetadata("page", "42").WithMetadata("by", "Zoë"),
	} {
		data, err := ev.Encode()
		if err != nil {
			t.Fatal(err)
		}
		usual = append(usual, data)
	}
	for _, data := range usual {
		if !checkDecode(t, data, 0) {
			t.Errorf("%s did not take the fast path", data)
		}
	}
}

// TestDecodeFastRandom compares Decode with referenceDecode on events
// spliced from the seeds' pieces.
func TestDecodeFastRandom(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	var pieces []string
	for _, s := range fastDecodeSeeds {
		pieces = append(pieces, strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ':' })...)
	}
	seps := []string{",", ":", " ", "[", "]", "{", "}", `"`, `\`, ""}
	rng := rand.New(rand.NewPCG(2, uint64(time.Now().UnixNano())))
	for range n {
		var b strings.Builder
		switch rng.IntN(3) {
		case 0:
			b.WriteString(fastDecodeSeeds[rng.IntN(len(fastDecodeSeeds))])
		default:
			b.WriteString("{")
			for range rng.IntN(6) {
				b.WriteString(pieces[rng.IntN(len(pieces))])
				b.WriteString(seps[rng.IntN(2)])
			}
			b.WriteString(pieces[rng.IntN(len(pieces))])
			b.WriteString("}")
		}
		data := []byte(b.String())
		// Mutate a byte or two.
		for range rng.IntN(3) {
			if len(data) > 0 {
				i := rng.IntN(len(data))
				if rng.IntN(2) == 0 {
					data[i] = seps[rng.IntN(len(seps)-1)][0]
				} else {
					data = append(data[:i], data[i+1:]...)
				}
			}
		}
		checkDecode(t, data, 0)
	}
}

// FuzzDecodeFast compares Decode with referenceDecode, and the fast path
// with encoding/json, on arbitrary input.
func FuzzDecodeFast(f *testing.F) {
	for _, s := range fastDecodeSeeds {
		f.Add([]byte(s))
	}
	for _, s := range fuzzDecodeSeeds {
		if len(s.data) < 4096 {
			f.Add([]byte(s.data))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkDecode(t, data, 0) })
}
