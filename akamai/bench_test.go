package akamai

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// benchURLs returns n URLs of about 60 bytes.
func benchURLs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("https://www.example.com/articles/%07d/some-article-slug", i)
	}
	return out
}

// benchAmpURLs returns n &-heavy URLs of about 100 bytes.
func benchAmpURLs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = ampURL(i, 100)
	}
	return out
}

func totalBytes(objects []string) int64 {
	var n int64
	for _, o := range objects {
		n += int64(len(o))
	}
	return n
}

func BenchmarkPack(b *testing.B) {
	for _, bc := range []struct {
		name    string
		objects []string
	}{
		{"30000x60B", benchURLs(30000)},
		{"30000x100B-ampersands", benchAmpURLs(30000)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(totalBytes(bc.objects))
			b.ReportAllocs()
			var groups [][]string
			for b.Loop() {
				var err error
				if groups, err = Pack(TypeURL, bc.objects, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(groups)), "requests")
		})
	}
}

func BenchmarkEncodeBody(b *testing.B) {
	for _, bc := range []struct {
		name    string
		objects []string
	}{
		{"60B", benchURLs(30000)},
		{"100B-ampersands", benchAmpURLs(30000)},
	} {
		groups, err := Pack(TypeURL, bc.objects, 0)
		if err != nil {
			b.Fatal(err)
		}
		full := groups[0]
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(EncodeBody(TypeURL, full))))
			b.ReportAllocs()
			for b.Loop() {
				EncodeBody(TypeURL, full)
			}
		})
	}
}

func BenchmarkNormalizeURL(b *testing.B) {
	for _, bc := range []struct{ name, url string }{
		{"ascii", "https://www.example.com/articles/0001234/some-article-slug?a=1&b=2"},
		{"non-ascii", "https://www.example.com/artículos/0001234/ñandú-café?q=日本"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.url)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := NormalizeObject(TypeURL, bc.url); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkClientPurge measures whole purge requests (normalize, encode,
// sign, send over loopback HTTP, decode) of 100 URLs against an httptest
// server that accepts everything.
func BenchmarkClientPurge(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set(HeaderLimit, "100")
		w.Header().Set(HeaderRemaining, "99")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, exampleResponses[0].body)
	}))
	defer srv.Close()
	c := newTestClient(b, srv.URL, nil)
	req := Request{Type: TypeURL, Objects: benchURLs(100)}
	reqPerSec := func(b *testing.B) {
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
	}

	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Purge(context.Background(), req); err != nil {
				b.Fatal(err)
			}
		}
		reqPerSec(b)
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Purge(context.Background(), req); err != nil {
					b.Error(err)
					return
				}
			}
		})
		reqPerSec(b)
	})
}
