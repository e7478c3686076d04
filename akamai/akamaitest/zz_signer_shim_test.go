package akamaitest

// TEMPORARY: signs like edgegrid.Signer until it exists.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sort"
	"time"

	"github.com/purgebus/purgebus/akamai/edgegrid"
)

func sortStrings(s []string) { sort.Strings(s) }

func signRequest(req *http.Request, cred edgegrid.Credentials, now time.Time, nonce string) error {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return err
		}
		body = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	ts := now.UTC().Format(timestampLayout)
	unsigned := fmt.Sprintf("EG1-HMAC-SHA256 client_token=%s;access_token=%s;timestamp=%s;nonce=%s;", cred.ClientToken, cred.AccessToken, ts, nonce)
	scheme := req.URL.Scheme
	sig := shimSignature(req.Method, scheme, req.URL.Host, req.URL.RequestURI(), body, cred, unsigned, ts)
	req.Header.Set("Authorization", unsigned+"signature="+sig)
	return nil
}
