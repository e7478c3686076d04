package events_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/events"
)

// The shared wire vectors in testdata/wire are read by the Go, Python and
// TypeScript tests alike, so a change to the contract fails every
// language until each follows. This file checks them against the Go
// package: the events its builder encodes, the events its publisher
// refuses, the results its decoder reads.

var updateWire = flag.Bool("update-wire", false, "rewrite the json of testdata/wire/events.json from the Go builder")

const wireDir = "testdata/wire"

// wireInput is a builder input of events.json and invalid_events.json.
type wireInput struct {
	Source       string            `json:"source"`
	ID           string            `json:"id"`
	OccurredAt   string            `json:"occurred_at"`
	URLs         []string          `json:"urls"`
	URLsGenerate *wireGenerate     `json:"urls_generate"`
	Tags         []string          `json:"tags"`
	CPCodes      []int64           `json:"cpcodes"`
	Action       string            `json:"action"`
	Network      string            `json:"network"`
	Metadata     map[string]string `json:"metadata"`
}

// wireGenerate stands for count URLs prefix+"0" … prefix+"<count-1>",
// appended after urls: a large event without a large file.
type wireGenerate struct {
	Prefix string `json:"prefix"`
	Count  int    `json:"count"`
}

// build makes the event with the Go builder, as a publisher's caller would.
func (in wireInput) build(t *testing.T) *events.ContentChanged {
	t.Helper()
	e := events.NewContentChanged(in.Source)
	e.ID = in.ID
	if in.OccurredAt != "" {
		at, err := time.Parse(time.RFC3339Nano, in.OccurredAt)
		if err != nil {
			t.Fatalf("occurred_at: %v", err)
		}
		e.OccurredAt = at
	}
	e.AddURLs(in.URLs...)
	if g := in.URLsGenerate; g != nil {
		for i := range g.Count {
			e.AddURLs(g.Prefix + strconv.Itoa(i))
		}
	}
	e.AddTags(in.Tags...).AddCPCodes(in.CPCodes...)
	if in.Action != "" {
		e.WithAction(akamai.Action(in.Action))
	}
	if in.Network != "" {
		e.WithNetwork(akamai.Network(in.Network))
	}
	keys := make([]string, 0, len(in.Metadata))
	for k := range in.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		e.WithMetadata(k, in.Metadata[k])
	}
	return e
}

// readWire decodes a vector file strictly: a misspelt key is an error,
// not a silently ignored input.
func readWire(t *testing.T, name string, v any) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(wireDir, name))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return data
}

// wireEvents is events.json. Its inputs stay raw, so that -update-wire
// rewrites only the json of each case.
type wireEvents struct {
	About []string `json:"about"`
	Cases []struct {
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
		JSON  string          `json:"json"`
	} `json:"cases"`
}

// parseInput decodes a raw builder input strictly.
func parseInput(t *testing.T, raw json.RawMessage) wireInput {
	t.Helper()
	var in wireInput
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		t.Fatalf("input: %v", err)
	}
	return in
}

// TestWireEvents: the Go builder and encoder make exactly each case's
// json, which is also an event that Publish accepts and the consumer
// decodes.
func TestWireEvents(t *testing.T) {
	var f wireEvents
	readWire(t, "events.json", &f)
	if len(f.Cases) < 10 {
		t.Fatalf("%d cases", len(f.Cases))
	}
	for i := range f.Cases {
		c := &f.Cases[i]
		t.Run(c.Name, func(t *testing.T) {
			in := parseInput(t, c.Input)
			if in.OccurredAt == "" {
				t.Fatal("occurred_at is required in events.json: without it the output is not deterministic")
			}
			e := in.build(t)
			got, err := e.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if *updateWire {
				c.JSON = string(got)
			} else if string(got) != c.JSON {
				t.Errorf("Go encodes\n%s\nthe vector says\n%s", got, c.JSON)
			}
			if e.ID == "" {
				e.ID = "wire-test"
			}
			if _, err := events.EncodeForPublish(e, events.DefaultMaxEventBytes); err != nil {
				t.Errorf("Publish would refuse a valid case: %v", err)
			}
			dec, err := events.Decode(got, 0)
			if err != nil {
				t.Fatalf("the consumer refuses it: %v", err)
			}
			if !maps.Equal(dec.Metadata, e.Metadata) || dec.Source != e.Source || !dec.OccurredAt.Equal(e.OccurredAt) {
				t.Errorf("decoded %+v", dec)
			}
		})
	}
	if *updateWire {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(wireDir, "events.json"), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// wireErrorClasses tells each error class of invalid_events.json by what
// Go's error says.
var wireErrorClasses = map[string]string{
	"no_objects":   "no objects",
	"relative_url": "not an absolute http or https URL",
	"not_http":     "scheme must be http or https",
	"bad_url":      "invalid url",
	"user_info":    "user info",
	"bad_port":     "invalid port",
	"bad_escape":   "invalid percent-escape",
	"fragment":     "fragment",
	"bad_action":   "action",
	"bad_network":  "network",
	"bad_cpcode":   "CP code must be a positive integer",
	"bad_tag":      "invalid tag",
	"bad_id":       "not a valid subject token",
	"too_large":    "the limit is",
	"bad_metadata": "metadata",
}

// TestWireInvalidEvents: Publish refuses every case before publishing,
// for the reason its class names.
func TestWireInvalidEvents(t *testing.T) {
	var f struct {
		About []string `json:"about"`
		Cases []struct {
			Name  string    `json:"name"`
			Input wireInput `json:"input"`
			Error string    `json:"error"`
		} `json:"cases"`
	}
	readWire(t, "invalid_events.json", &f)
	seen := map[string]bool{}
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			want, ok := wireErrorClasses[c.Error]
			if !ok {
				t.Fatalf("unknown error class %q", c.Error)
			}
			seen[c.Error] = true
			e := c.Input.build(t)
			if e.ID == "" {
				e.ID = "wire-test"
			}
			_, err := events.EncodeForPublish(e, events.DefaultMaxEventBytes)
			if err == nil {
				t.Fatal("Publish would publish it")
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q, want one with %q (%s)", err, want, c.Error)
			}
			if c.Error != "bad_id" {
				var ie *events.InvalidEventError
				if !errors.As(err, &ie) {
					t.Errorf("error %T, want an *InvalidEventError", err)
				}
			}
		})
	}
	for class := range wireErrorClasses {
		if !seen[class] {
			t.Errorf("no case of class %s", class)
		}
	}
}

// TestWireResults: each case's json decodes to its expect. expect is the
// decoded PurgeResult as Go writes it again: snake_case names, optional
// fields absent when empty, purges and failures always present, objects as
// strings (CP codes too: Go's Objects is []string), times as on the wire.
func TestWireResults(t *testing.T) {
	var f struct {
		About []string `json:"about"`
		Cases []struct {
			Name   string         `json:"name"`
			JSON   string         `json:"json"`
			Expect map[string]any `json:"expect"`
		} `json:"cases"`
	}
	readWire(t, "results.json", &f)
	var escalations int
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			r, err := events.DecodeResult([]byte(c.JSON))
			if err != nil {
				t.Fatal(err)
			}
			enc, err := r.Encode()
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(enc, &got); err != nil {
				t.Fatal(err)
			}
			for _, list := range []string{"purges", "failures"} {
				items, _ := got[list].([]any)
				for _, it := range items {
					m := it.(map[string]any)
					objs, _ := m["objects"].([]any)
					for i, o := range objs {
						if n, ok := o.(float64); ok {
							objs[i] = strconv.FormatFloat(n, 'f', -1, 64)
						}
					}
				}
			}
			want := c.Expect
			if wp, _ := want["purges"].([]any); len(wp) > 0 {
				for _, p := range wp {
					if _, ok := p.(map[string]any)["escalation"]; ok {
						escalations++
					}
				}
			}
			if !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(want)
				t.Errorf("Go decodes\n%s\nexpect says\n%s", g, w)
			}
		})
	}
	if escalations == 0 {
		t.Error("no case has a purge with an escalation")
	}
}
