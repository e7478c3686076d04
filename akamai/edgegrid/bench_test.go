package edgegrid

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// purgeBody returns a Fast Purge URL body of about 10 KB.
func purgeBody(tb testing.TB) []byte {
	var objects []string
	for i := 0; len(objects)*50 < 10_000; i++ {
		objects = append(objects, fmt.Sprintf("https://www.example.com/products/item-%06d.html", i))
	}
	b, err := json.Marshal(map[string][]string{"objects": objects})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func BenchmarkSign(b *testing.B) {
	body := purgeBody(b)
	s := &Signer{Credentials: testCredentials()}
	const url = "https://akab-test.luna.akamaiapis.net/ccu/v3/invalidate/url"
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Sign(req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	body := purgeBody(b)
	cred := testCredentials()
	now := time.Now()
	const url = "https://akab-test.luna.akamaiapis.net/ccu/v3/invalidate/url"
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err := (&Signer{Credentials: cred, Now: func() time.Time { return now }}).Sign(req); err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, url, nil)
	r.Header.Set("Authorization", req.Header.Get("Authorization"))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(r, body, cred, now, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}
