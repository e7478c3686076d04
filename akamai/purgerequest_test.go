package akamai

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync/atomic"
	"testing"
)

// page is a model with an absolute URL, like a Django model.
type page struct{ slug string }

func (p page) AbsoluteURL() string { return "https://www.example.com/" + p.slug }

type article struct{ id int }

func (a *article) AbsoluteURL() string { return fmt.Sprintf("https://www.example.com/a/%d", a.id) }

type path string

func TestPurgeRequestAdd(t *testing.T) {
	u, _ := url.Parse("https://e.com/u?x=1&y=2")
	var nilArticle *article
	tests := []struct {
		name    string
		typ     Type
		items   []any
		want    []string
		wantErr func(error) bool
	}{
		{"string", TypeURL, []any{"https://e.com/a"}, []string{"https://e.com/a"}, nil},
		{"several strings", TypeURL, []any{"https://e.com/a", "https://e.com/b"}, []string{"https://e.com/a", "https://e.com/b"}, nil},
		{"[]string", TypeURL, []any{[]string{"https://e.com/a", "https://e.com/b"}}, []string{"https://e.com/a", "https://e.com/b"}, nil},
		{"URLer value", TypeURL, []any{page{"x"}}, []string{"https://www.example.com/x"}, nil},
		{"URLer pointer", TypeURL, []any{&article{7}}, []string{"https://www.example.com/a/7"}, nil},
		{"[]page", TypeURL, []any{[]page{{"a"}, {"b"}}}, []string{"https://www.example.com/a", "https://www.example.com/b"}, nil},
		{"[]*article", TypeURL, []any{[]*article{{1}, {2}}}, []string{"https://www.example.com/a/1", "https://www.example.com/a/2"}, nil},
		{"[]URLer", TypeURL, []any{[]URLer{page{"a"}, &article{3}}}, []string{"https://www.example.com/a", "https://www.example.com/a/3"}, nil},
		{"*url.URL", TypeURL, []any{u}, []string{"https://e.com/u?x=1&y=2"}, nil},
		{"named string", TypeURL, []any{path("https://e.com/p")}, []string{"https://e.com/p"}, nil},
		{"nested and mixed", TypeURL, []any{[]any{"https://e.com/1", [][]string{{"https://e.com/2"}}, [2]page{{"3"}, {"4"}}}},
			[]string{"https://e.com/1", "https://e.com/2", "https://www.example.com/3", "https://www.example.com/4"}, nil},
		{"normalized", TypeURL, []any{"HTTPS://e.com/ü"}, []string{"https://e.com/%C3%BC"}, nil},
		{"CP codes", TypeCPCode, []any{12345, int64(2), uint16(3), []int64{4, 5}, "006"}, []string{"12345", "2", "3", "4", "5", "6"}, nil},
		{"tags", TypeTag, []any{"a", []string{"b&c"}}, []string{"a", "b&c"}, nil},
		{"nothing", TypeURL, nil, nil, nil},

		{"invalid objects: valid ones added", TypeURL, []any{"https://e.com/ok", "ftp://x", page{"y"}, "/rel"},
			[]string{"https://e.com/ok", "https://www.example.com/y"}, func(err error) bool {
				var ies *InvalidObjectsError
				return errors.As(err, &ies) && len(ies.Objects) == 2
			}},
		{"unsupported type: nothing added", TypeURL, []any{"https://e.com/ok", 1.5}, nil, isInvalidRequest},
		{"struct without AbsoluteURL", TypeURL, []any{struct{ URL string }{"x"}}, nil, isInvalidRequest},
		{"map", TypeURL, []any{map[string]string{"a": "b"}}, nil, isInvalidRequest},
		{"nil", TypeURL, []any{nil}, nil, isInvalidRequest},
		{"nil pointer", TypeURL, []any{nilArticle}, nil, isInvalidRequest},
		{"nil *url.URL", TypeURL, []any{(*url.URL)(nil)}, nil, isInvalidRequest},
		{"nested unsupported", TypeURL, []any{[]any{"https://e.com/ok", true}}, nil, isInvalidRequest},
	}
	c := newTestClient(t, "http://127.0.0.1:1", nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr := NewPurgeRequest(c, "", tt.typ, "")
			err := pr.Add(tt.items...)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !tt.wantErr(err) {
				t.Fatalf("Add = %v", err)
			}
			if !slices.Equal(pr.pending, tt.want) || pr.Pending() != len(tt.want) {
				t.Errorf("pending %q; want %q", pr.pending, tt.want)
			}
		})
	}
}

func isInvalidRequest(err error) bool { return errors.Is(err, ErrInvalidRequest) }

func TestAddURLers(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1", nil)
	pr := NewPurgeRequest(c, "", "", "")
	if err := AddURLers(pr, []page{{"a"}, {"b"}}); err != nil {
		t.Fatal(err)
	}
	if err := AddURLers(pr, []*article{{1}}); err != nil {
		t.Fatal(err)
	}
	var ies *InvalidObjectsError
	if err := AddURLers(pr, []page{{"c d"}, {"\n"}}); !errors.As(err, &ies) || len(ies.Objects) != 1 {
		t.Fatalf("AddURLers with an invalid URL: %v", err)
	}
	want := []string{"https://www.example.com/a", "https://www.example.com/b", "https://www.example.com/a/1", "https://www.example.com/c%20d"}
	if !slices.Equal(pr.pending, want) {
		t.Errorf("pending %q", pr.pending)
	}
}

func TestPurgeRequestPurge(t *testing.T) {
	var fail atomic.Bool
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if fail.Load() {
			answer(503, "busy")(w, r, body)
			return
		}
		accepted(w, r, body)
	})
	c := newTestClient(t, f.URL, nil)
	pr := NewPurgeRequest(c, ActionDelete, TypeURL, NetworkStaging)
	if _, err := pr.Purge(context.Background()); !errors.Is(err, ErrNoObjects) {
		t.Fatalf("Purge with nothing pending: %v", err)
	}
	var all []string
	for i := range 2000 {
		all = append(all, fmt.Sprintf("https://www.example.com/articles/%06d/some-slug?a=1&b=2", i))
	}
	if err := pr.Add(all); err != nil {
		t.Fatal(err)
	}

	res, err := pr.Purge(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	first := len(res.Objects)
	if first == 0 || first == len(all) || pr.Pending() != len(all)-first || !slices.Equal(res.Objects, all[:first]) {
		t.Fatalf("first Purge sent %d objects, %d pending", first, pr.Pending())
	}
	if res.BodyBytes > MaxBodyBytes || res.BodyBytes+len(all[first])+3 <= MaxBodyBytes {
		t.Errorf("first request of %d bytes is not full", res.BodyBytes)
	}
	if r := f.requests()[0]; r.Path != "/ccu/v3/delete/url/staging" {
		t.Errorf("path %s", r.Path)
	}

	fail.Store(true)
	var e *Error
	if _, err := pr.Purge(context.Background()); !errors.As(err, &e) || e.HTTPStatus != 503 {
		t.Fatalf("failing Purge: %v", err)
	}
	if pr.Pending() != len(all)-first {
		t.Fatalf("a failed request removed objects: %d pending", pr.Pending())
	}
	results, err := pr.PurgeAll(context.Background())
	if !errors.As(err, &e) || len(results) != 0 || pr.Pending() != len(all)-first {
		t.Fatalf("failing PurgeAll = %d results, %v, %d pending", len(results), err, pr.Pending())
	}

	fail.Store(false)
	results, err = pr.PurgeAll(context.Background())
	if err != nil || pr.Pending() != 0 {
		t.Fatalf("PurgeAll = %v, %d pending", err, pr.Pending())
	}
	sent := slices.Clone(res.Objects)
	for _, r := range results {
		sent = append(sent, r.Objects...)
	}
	if !slices.Equal(sent, all) {
		t.Errorf("sent %d objects, want all %d in order", len(sent), len(all))
	}
}

func TestPurgeRequestInvalidOperation(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1", nil)
	pr := NewPurgeRequest(c, "purge", TypeURL, "")
	if err := pr.Add("https://e.com/"); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("Add: %v", err)
	}
	if err := AddURLers(pr, []page{{"a"}}); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("AddURLers: %v", err)
	}
	if _, err := pr.Purge(context.Background()); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("Purge: %v", err)
	}
	if _, err := pr.PurgeAll(context.Background()); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("PurgeAll: %v", err)
	}
}
