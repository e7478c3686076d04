package akamaitest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/edgegrid"
)

// BenchmarkServerPurge sends signed 200-URL purge requests over HTTP from
// parallel clients (signing included) and reports accepted requests and
// URLs per second.
func BenchmarkServerPurge(b *testing.B) {
	s := NewServer(Options{Buckets: BucketConfig{Disabled: true}, MaxRecords: 1000})
	defer s.Close()
	payload := urlBody(200)
	signer := edgegrid.Signer{Credentials: s.Credentials()}
	client := s.Client()
	target := s.URL() + "/ccu/v3/invalidate/url"
	var failures atomic.Int64
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, target, bytes.NewReader(payload))
			req.Header.Set("Content-Type", "application/json")
			if err := signer.Sign(req); err != nil {
				b.Error(err)
				return
			}
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				failures.Add(1)
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failures.Load(); n > 0 {
		b.Fatalf("%d requests not accepted", n)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(b.N)*200/elapsed.Seconds(), "URLs/s")
}

// BenchmarkServeHTTP measures the handler alone on pre-signed 200-URL
// requests, without network or signing.
func BenchmarkServeHTTP(b *testing.B) {
	cred := NewCredentials()
	cred.Host = "akab-bench.purge.akamaiapis.net"
	s := New(Options{Credentials: cred, Buckets: BucketConfig{Disabled: true}, MaxRecords: 1000})
	payload := urlBody(200)
	reqs := make([]*http.Request, b.N)
	for i := range reqs {
		r := httptest.NewRequest(http.MethodPost, "http://"+cred.Host+"/ccu/v3/invalidate/url", bytes.NewReader(payload))
		r.Header.Set("Content-Type", "application/json")
		n := "bench-" + strconv.Itoa(i)
		signer := edgegrid.Signer{Credentials: cred, Nonce: func() string { return n }}
		// The signer reads GetBody, which httptest.NewRequest does not set.
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(payload)), nil }
		if err := signer.Sign(r); err != nil {
			b.Fatal(err)
		}
		reqs[i] = r
	}
	w := httptest.NewRecorder()
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		w.Body.Reset()
		s.ServeHTTP(w, reqs[i])
		if w.Code != http.StatusCreated {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	if got := s.Stats().Objects[akamai.TypeURL]; got != b.N*200 {
		b.Fatalf("%d URLs purged", got)
	}
}
