package akamaitest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/akamai/edgegrid"
)

// A fake Fast Purge server and a purge request signed with
// edgegrid.Signer, sent with plain net/http.
func Example() {
	srv := akamaitest.NewServer(akamaitest.Options{TimeScale: 10})
	defer srv.Close()

	body := []byte(`{"objects":["https://www.example.com/a","https://www.example.com/b"]}`)
	req, err := http.NewRequest(http.MethodPost, srv.URL()+"/ccu/v3/invalidate/url/production", bytes.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	signer := edgegrid.Signer{Credentials: srv.Credentials()}
	if err := signer.Sign(req); err != nil {
		log.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()

	var result struct {
		HTTPStatus       int    `json:"httpStatus"`
		EstimatedSeconds int    `json:"estimatedSeconds"`
		PurgeID          string `json:"purgeId"`
		Detail           string `json:"detail"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&result); err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Status, result.Detail, "in about", time.Duration(result.EstimatedSeconds)*time.Second)
	fmt.Println("requests left:", resp.Header.Get("X-Ratelimit-Remaining"), "URLs left:", resp.Header.Get("X-Ratelimit-Remaining-Objects"))

	p := srv.Purges()[0]
	fmt.Println(p.ID == result.PurgeID, p.Action, p.Type, p.Network, p.Objects)
	// Output:
	// 201 Created Request accepted in about 5s
	// requests left: 99 URLs left: 9998
	// true invalidate url production [https://www.example.com/a https://www.example.com/b]
}
