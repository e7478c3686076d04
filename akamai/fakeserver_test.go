package akamai_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/akamaitest"
)

// These tests run the client against the fake Fast Purge server, which
// verifies signatures and nonces, parses bodies as Akamai does and keeps
// token buckets.

func newFakeServerClient(t *testing.T, opts akamaitest.Options, accountKey string) (*akamaitest.Server, *akamai.Client) {
	t.Helper()
	srv := akamaitest.NewServer(opts)
	t.Cleanup(srv.Close)
	cred := srv.Credentials()
	cred.AccountKey = accountKey
	c, err := akamai.NewClient(akamai.Config{Credentials: cred, BaseURL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func TestFakeServerOperations(t *testing.T) {
	srv, c := newFakeServerClient(t, akamaitest.Options{}, "1-5C0YLB:1-8BYUX")
	objects := map[akamai.Type][]string{
		akamai.TypeURL:    {"https://foo1.bar.com/some/path", "http://foo2.bar.com/p?a=1&b=2"},
		akamai.TypeCPCode: akamai.CPCodes(12345, 98765),
		akamai.TypeTag:    {"black-friday", "a&b"},
	}
	var n int
	for _, a := range []akamai.Action{akamai.ActionInvalidate, akamai.ActionDelete} {
		for _, tp := range akamai.Types {
			for _, nw := range []akamai.Network{akamai.NetworkProduction, akamai.NetworkStaging} {
				res, err := c.Purge(context.Background(), akamai.Request{Action: a, Type: tp, Network: nw, Objects: objects[tp]})
				if err != nil {
					t.Fatalf("%s %s %s: %v", a, tp, nw, err)
				}
				p := srv.Purges()[n]
				n++
				if p.Action != a || p.Type != tp || p.Network != nw || !slices.Equal(p.Objects, objects[tp]) ||
					p.AccountSwitchKey != "1-5C0YLB:1-8BYUX" || p.ID != res.PurgeID || p.BodyBytes != res.BodyBytes {
					t.Errorf("server recorded %+v for result %+v", p, res)
				}
				if res.EstimatedSeconds != akamaitest.DefaultEstimatedSeconds || !res.RateLimit.Has(akamai.FieldRemaining|akamai.FieldRemainingObjects) {
					t.Errorf("result %+v", res)
				}
			}
		}
	}
	rl, err := c.RateLimitStatus(context.Background(), akamai.TypeCPCode)
	if err != nil {
		t.Fatal(err)
	}
	if !rl.Has(akamai.FieldLimitObjects) || rl.LimitObjects != 300 || rl.RemainingObjects > 300-8 {
		t.Errorf("RateLimitStatus = %+v; want the CP code bucket with 8 tokens used", rl)
	}
}

func TestFakeServerPurgeAll(t *testing.T) {
	srv, c := newFakeServerClient(t, akamaitest.Options{Buckets: akamaitest.BucketConfig{Disabled: true}}, "")
	var urls []string
	for i := range 9000 {
		urls = append(urls, fmt.Sprintf("https://www.example.com/articles/%06d/slug?a=1&b=%d", i, i))
	}
	results, err := c.PurgeAll(context.Background(), akamai.Request{Type: akamai.TypeURL, Objects: urls})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) < 2 || len(srv.Purges()) != len(results) {
		t.Fatalf("%d results, %d purges", len(results), len(srv.Purges()))
	}
	if got := srv.PurgedObjects(akamai.TypeURL); !slices.Equal(got, urls) {
		t.Errorf("server purged %d objects; want the %d sent, in order", len(got), len(urls))
	}
	if st := srv.Stats(); st.ByStatus[413] != 0 || st.Unsigned != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestFakeServerErrors(t *testing.T) {
	ctx := context.Background()
	url := akamai.Request{Type: akamai.TypeURL, Objects: []string{"https://www.example.com/"}}

	t.Run("rate limited", func(t *testing.T) {
		_, c := newFakeServerClient(t, akamaitest.Options{Buckets: akamaitest.BucketConfig{Tag: akamaitest.Bucket{Capacity: 5, PerSecond: 1}}}, "")
		_, err := c.Purge(ctx, akamai.Request{Type: akamai.TypeTag, Objects: []string{"a", "b", "c", "d", "e", "f", "g"}})
		var e *akamai.Error
		if !errors.As(err, &e) || !e.RateLimited() || !e.Temporary() || e.Title != "TAG Rate Limit exceeded" ||
			e.RateLimit != 5 || e.RateLimitCurrentRequestSize != 7 || e.RateLimitRemaining != 5 {
			t.Fatalf("err = %#v", err)
		}
		if d := e.RetryAfter(); d <= 0 || d > 10*time.Second {
			t.Errorf("RetryAfter = %v", d)
		}
	})

	t.Run("unauthorized object", func(t *testing.T) {
		srv, c := newFakeServerClient(t, akamaitest.Options{}, "")
		srv.Unauthorized("https://www.example.com/")
		_, err := c.Purge(ctx, url)
		var e *akamai.Error
		if !errors.As(err, &e) || e.HTTPStatus != 403 || !e.Permanent() || e.Detail != "https://www.example.com/" {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("wrong secret", func(t *testing.T) {
		srv := akamaitest.NewServer(akamaitest.Options{})
		t.Cleanup(srv.Close)
		cred := srv.Credentials()
		cred.ClientSecret = "d3Jvbmc="
		c, err := akamai.NewClient(akamai.Config{Credentials: cred, BaseURL: srv.URL()})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Purge(ctx, url)
		var e *akamai.Error
		if !errors.As(err, &e) || !e.Unauthorized() || e.Temporary() {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("server error", func(t *testing.T) {
		srv, c := newFakeServerClient(t, akamaitest.Options{}, "")
		srv.FailNext(1, 503)
		_, err := c.Purge(ctx, url)
		var e *akamai.Error
		if !errors.As(err, &e) || e.HTTPStatus != 503 || !e.Temporary() {
			t.Fatalf("err = %v", err)
		}
		if _, err := c.Purge(ctx, url); err != nil {
			t.Fatalf("after the fault: %v", err)
		}
	})

	t.Run("hang", func(t *testing.T) {
		srv, c := newFakeServerClient(t, akamaitest.Options{}, "")
		srv.HangNext(1)
		tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		_, err := c.Purge(tctx, url)
		var te *akamai.TransportError
		if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &te) || !te.Timeout() {
			t.Fatalf("err = %v", err)
		}
	})
}
