package akamai_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/edgegrid"
)

// exampleServer stands in for Akamai: it prints each request it gets and
// accepts it with 201, or answers with status when it is not 0.
func exampleServer(status int, body string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		signed := strings.HasPrefix(r.Header.Get("Authorization"), "EG1-HMAC-SHA256 ")
		fmt.Printf("akamai got %s %s (signed: %v) %s\n", r.Method, r.URL.Path, signed, b)
		w.Header().Set("Content-Type", "application/json")
		if status != 0 {
			w.WriteHeader(status)
			io.WriteString(w, body)
			return
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"httpStatus":201,"estimatedSeconds":5,"purgeId":"edcp-example","supportId":"edcp-example","detail":"Request accepted"}`)
	}))
}

func exampleClient(baseURL string) *akamai.Client {
	c, err := akamai.NewClient(akamai.Config{
		// Normally from edgegrid.Load: the "ccu" section of ~/.edgerc.
		Credentials: edgegrid.Credentials{
			Host:         "akab-xxxxxxxx.luna.akamaiapis.net",
			ClientToken:  "akab-client-token",
			ClientSecret: "client-secret",
			AccessToken:  "akab-access-token",
		},
		BaseURL: baseURL, // omit to talk to Credentials.Host
		Now:     func() time.Time { return time.Date(2024, 11, 29, 10, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		log.Fatal(err)
	}
	return c
}

func ExampleClient_Purge() {
	srv := exampleServer(0, "")
	defer srv.Close()
	c := exampleClient(srv.URL)

	res, err := c.Purge(context.Background(), akamai.Request{
		Type:    akamai.TypeURL,
		Objects: []string{"https://www.example.com/a?x=1&y=2", "https://www.example.com/café"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.PurgeID, res.EstimatedCompleteAt().Format(time.RFC3339))
	// Output:
	// akamai got POST /ccu/v3/invalidate/url/production (signed: true) {"objects":["https://www.example.com/a?x=1&y=2","https://www.example.com/caf%C3%A9"]}
	// edcp-example 2024-11-29T10:00:05Z
}

func ExampleClient_PurgeAll() {
	srv := exampleServer(0, "")
	defer srv.Close()
	c := exampleClient(srv.URL)

	results, err := c.PurgeAll(context.Background(), akamai.Request{
		Action:  akamai.ActionDelete,
		Type:    akamai.TypeCPCode,
		Network: akamai.NetworkStaging,
		Objects: append(akamai.CPCodes(12345, 98765), "not-a-cp-code"),
	})
	var invalid *akamai.InvalidObjectsError
	if errors.As(err, &invalid) {
		for _, o := range invalid.Objects {
			fmt.Printf("not sent: %q (%s)\n", o.Object, o.Reason)
		}
	} else if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(results), "request(s) accepted")
	// Output:
	// akamai got POST /ccu/v3/delete/cpcode/staging (signed: true) {"objects":[12345,98765]}
	// not sent: "not-a-cp-code" (CP code must be a positive integer)
	// 1 request(s) accepted
}

func ExampleClient_Purge_rateLimited() {
	srv := exampleServer(http.StatusTooManyRequests,
		`{"supportId":"edup-1","title":"URL Rate Limit exceeded","httpStatus":429,"detail":"","rateLimit":10000,"rateLimitCurrentRequestSize":110,"rateLimitRemaining":94}`)
	defer srv.Close()
	c := exampleClient(srv.URL)

	_, err := c.Purge(context.Background(), akamai.Request{Type: akamai.TypeURL, Objects: []string{"https://www.example.com/"}})
	var e *akamai.Error
	if errors.As(err, &e) && e.RateLimited() {
		fmt.Printf("%s: %d tokens left, %d needed; temporary: %v\n", e.Title, e.RateLimitRemaining, e.RateLimitCurrentRequestSize, e.Temporary())
	}
	// Output:
	// akamai got POST /ccu/v3/invalidate/url/production (signed: true) {"objects":["https://www.example.com/"]}
	// URL Rate Limit exceeded: 94 tokens left, 110 needed; temporary: true
}

// Page is a model that knows its URL, like a Django model with
// get_absolute_url.
type Page struct{ Slug string }

func (p Page) AbsoluteURL() string { return "https://www.example.com/" + p.Slug }

func ExamplePurgeRequest() {
	srv := exampleServer(0, "")
	defer srv.Close()

	pr := akamai.NewPurgeRequest(exampleClient(srv.URL), akamai.ActionInvalidate, akamai.TypeURL, akamai.NetworkProduction)
	if err := pr.Add("https://www.example.com/", []Page{{"about"}, {"news"}}); err != nil {
		log.Fatal(err)
	}
	if err := akamai.AddURLers(pr, []Page{{"contact"}}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("pending:", pr.Pending())
	results, err := pr.PurgeAll(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("requests:", len(results), "pending:", pr.Pending())
	// Output:
	// pending: 4
	// akamai got POST /ccu/v3/invalidate/url/production (signed: true) {"objects":["https://www.example.com/","https://www.example.com/about","https://www.example.com/news","https://www.example.com/contact"]}
	// requests: 1 pending: 0
}

func ExamplePack() {
	var urls []string
	for i := range 2000 {
		urls = append(urls, fmt.Sprintf("https://www.example.com/articles/%04d?utm=x&ref=y", i))
	}
	groups, err := akamai.Pack(akamai.TypeURL, urls, 0)
	if err != nil {
		log.Fatal(err)
	}
	for _, g := range groups {
		fmt.Println(len(g), "objects,", len(akamai.EncodeBody(akamai.TypeURL, g)), "bytes")
	}
	// Output:
	// 961 objects, 49985 bytes
	// 961 objects, 49985 bytes
	// 78 objects, 4069 bytes
}

func ExampleEncodeBody() {
	fmt.Printf("%s\n", akamai.EncodeBody(akamai.TypeCPCode, akamai.CPCodes(12345, 98765)))
	fmt.Printf("%s\n", akamai.EncodeBody(akamai.TypeTag, []string{"black-friday", "a&b"}))
	// Output:
	// {"objects":[12345,98765]}
	// {"objects":["black-friday","a&b"]}
}

func ExampleNormalizeObject() {
	for _, u := range []string{"HTTPS://www.example.com/ñ?q=a b", "ftp://www.example.com/", "https://bücher.de/"} {
		n, err := akamai.NormalizeObject(akamai.TypeURL, u)
		fmt.Printf("%q %v\n", n, err)
	}
	// Output:
	// "https://www.example.com/%C3%B1?q=a%20b" <nil>
	// "" akamai: invalid url "ftp://www.example.com/": scheme must be http or https
	// "" akamai: invalid url "https://bücher.de/": non-ASCII host: use its punycode (xn--) form
}
