package events_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/events"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string // substring; "" means valid
		check   func(t *testing.T, e events.ContentChanged)
	}{
		{name: "full", in: `{"id":"e1","urls":["https://www.example.com/a"],"tags":["news"],"cpcodes":[12345],"action":"delete","network":"staging","source":"cms","occurred_at":"2026-11-25T12:00:00Z"}`,
			check: func(t *testing.T, e events.ContentChanged) {
				if e.ID != "e1" || e.Action != akamai.ActionDelete || e.Network != akamai.NetworkStaging || e.Source != "cms" || e.CPCodes[0] != 12345 || e.OccurredAt.IsZero() {
					t.Errorf("decoded %+v", e)
				}
			}},
		{name: "defaults", in: `{"urls":["https://www.example.com/a"]}`,
			check: func(t *testing.T, e events.ContentChanged) {
				if e.Action != akamai.ActionInvalidate || e.Network != akamai.NetworkProduction {
					t.Errorf("defaults not applied: %+v", e)
				}
			}},
		{name: "unknown fields ignored", in: `{"urls":["https://www.example.com/a"],"priority":"high"}`},
		{name: "non-ASCII percent-encoded", in: `{"urls":["https://www.example.com/café"]}`,
			check: func(t *testing.T, e events.ContentChanged) {
				if e.URLs[0] != "https://www.example.com/caf%C3%A9" {
					t.Errorf("URL = %q", e.URLs[0])
				}
			}},
		{name: "wrong type", in: `{"urls":"https://www.example.com/a"}`, wantErr: "undecodable JSON"},
		{name: "cpcode as string", in: `{"cpcodes":["12345"]}`, wantErr: "undecodable JSON"},
		{name: "malformed", in: `{"urls":[`, wantErr: "undecodable JSON"},
		{name: "trailing data", in: `{"urls":["https://a.example/"]} {}`, wantErr: "data after"},
		{name: "duplicate key", in: `{"id":"d1","urls":["https://a.example/"],"urls":["https://b.example/"]}`,
			wantErr: `duplicate key "urls": refused as ambiguous`,
			check: func(t *testing.T, e events.ContentChanged) {
				if e.ID != "d1" {
					t.Errorf("ID of an event with a duplicate key = %q, want d1", e.ID)
				}
			}},
		{name: "duplicate unknown key", in: `{"urls":["https://a.example/"],"x":1,"x":1}`, wantErr: `duplicate key "x"`},
		{name: "names match exactly", in: `{"URLS":["https://a.example/"]}`, wantErr: "no objects"},
		{name: "stray brace", in: `{"urls":["https://a.example/"]}}`, wantErr: "data after"},
		{name: "no objects", in: `{"source":"cms"}`, wantErr: "no objects"},
		{name: "empty lists", in: `{"urls":[],"tags":[],"cpcodes":[]}`, wantErr: "no objects"},
		{name: "ftp URL", in: `{"urls":["ftp://www.example.com/a"]}`, wantErr: "scheme must be http or https"},
		{name: "relative URL", in: `{"urls":["/a"]}`, wantErr: "invalid url"},
		{name: "bad tag", in: `{"tags":["has space"]}`, wantErr: "not allowed in a tag"},
		{name: "negative cpcode", in: `{"cpcodes":[-1]}`, wantErr: "positive integer"},
		{name: "bad action", in: `{"urls":["https://a.example/"],"action":"nuke"}`, wantErr: "neither invalidate nor delete"},
		{name: "bad network", in: `{"urls":["https://a.example/"],"network":"qa"}`, wantErr: "neither production nor staging"},
		{name: "not UTF-8", in: "{\"urls\":[\"https://a.example/\xff\"]}", wantErr: "UTF-8"},
		{name: "too large", in: `{"id":"big","urls":["https://a.example/` + strings.Repeat("x", events.DefaultMaxEventBytes) + `"]}`, wantErr: "limit",
			check: func(t *testing.T, e events.ContentChanged) {
				if e.ID != "big" {
					t.Errorf("ID of an oversized event = %q, want it peeked from the prefix", e.ID)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := events.Decode([]byte(tt.in), 0)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if tt.wantErr != "" {
				var ie *events.InvalidEventError
				if !errors.As(err, &ie) {
					t.Fatalf("Decode error = %v, want an *InvalidEventError", err)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Decode error = %q, want it to mention %q", err, tt.wantErr)
				}
			}
			if tt.check != nil {
				tt.check(t, e)
			}
		})
	}
}

func TestDecodeKeepsIDOfUndecodableEvent(t *testing.T) {
	e, err := events.Decode([]byte(`{"id":"keep-me","source":"cms","urls":"wrong"}`), 0)
	if err == nil {
		t.Fatal("want an error")
	}
	if e.ID != "keep-me" || e.Source != "cms" {
		t.Fatalf("labels = %q/%q, want keep-me/cms so the failed result reaches its waiter", e.ID, e.Source)
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"8d2c6a4e-0f7b-4c1e-9d55-1f7f0b6a2c11": true,
		"blog:post-42":                         true,
		"":                                     false,
		"a.b":                                  false,
		"a*":                                   false,
		"a>":                                   false,
		"has space":                            false,
		strings.Repeat("x", 129):               false,
	} {
		if got := events.ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestSubjects(t *testing.T) {
	if got := events.ResultSubject(events.OutcomePartial, "e1"); got != "purge.result.partial.e1" {
		t.Errorf("ResultSubject = %q", got)
	}
	if got := events.ResultFilter("e1"); got != "purge.result.*.e1" {
		t.Errorf("ResultFilter = %q", got)
	}
	if got := events.DeadLetterSubject("e1"); got != "purge.deadletter.e1" {
		t.Errorf("DeadLetterSubject = %q", got)
	}
}

type article struct{ slug string }

func (a article) AbsoluteURL() string { return "https://www.example.com/articles/" + a.slug }

func TestBuilders(t *testing.T) {
	e := events.NewContentChanged("cms").
		AddURLs("https://www.example.com/").
		AddObjects(article{"a"}).
		AddTags("news").
		AddCPCodes(12345).
		WithAction(akamai.ActionDelete).
		WithNetwork(akamai.NetworkStaging)
	events.AddAll(e, []article{{"b"}, {"c"}})
	want := []string{"https://www.example.com/", "https://www.example.com/articles/a", "https://www.example.com/articles/b", "https://www.example.com/articles/c"}
	if strings.Join(e.URLs, " ") != strings.Join(want, " ") {
		t.Errorf("URLs = %v, want %v", e.URLs, want)
	}
	if e.Source != "cms" || e.OccurredAt.IsZero() || e.Tags[0] != "news" || e.CPCodes[0] != 12345 || e.Action != akamai.ActionDelete || e.Network != akamai.NetworkStaging {
		t.Errorf("event = %+v", e)
	}
}
