package edgegrid

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The constants and table below hand-encode Akamai's EdgeGrid signing test
// vectors (AkamaiOPEN-edgegrid-python akamai/edgegrid/test/testdata.json and
// testcases.json, plus the space-in-path case of edgegrid-golang v1). Every
// case uses the same credentials, max_body 2048, headers to sign X-Test1..3,
// nonce and timestamp.
const (
	vecHost         = "akaa-baseurl-xxxxxxxxxxx-xxxxxxxxxxxxx.luna.akamaiapis.net"
	vecClientToken  = "akab-client-token-xxx-xxxxxxxxxxxxxxxx"
	vecAccessToken  = "akab-access-token-xxx-xxxxxxxxxxxxxxxx"
	vecClientSecret = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx="
	vecMaxBody      = 2048
	vecNonce        = "nonce-xx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
	vecTimestamp    = "20140321T19:34:21+0000"
	// vecAuthPrefix is every expectedAuthorization up to the signature.
	vecAuthPrefix = "EG1-HMAC-SHA256 client_token=akab-client-token-xxx-xxxxxxxxxxxxxxxx;" +
		"access_token=akab-access-token-xxx-xxxxxxxxxxxxxxxx;" +
		"timestamp=20140321T19:34:21+0000;nonce=nonce-xx-xxxx-xxxx-xxxx-xxxxxxxxxxxx;signature="
)

var (
	vecTime          = time.Date(2014, 3, 21, 19, 34, 21, 0, time.UTC)
	vecHeadersToSign = []string{"X-Test1", "X-Test2", "X-Test3"}
	vecCredentials   = Credentials{
		Host:         vecHost,
		ClientToken:  vecClientToken,
		ClientSecret: vecClientSecret,
		AccessToken:  vecAccessToken,
		MaxBody:      vecMaxBody,
	}
)

// vecSigner returns a Signer reproducing the vectors' timestamp and nonce.
func vecSigner(c Credentials, headers []string) *Signer {
	return &Signer{
		Credentials:   c,
		HeadersToSign: headers,
		Now:           func() time.Time { return vecTime },
		Nonce:         func() string { return vecNonce },
	}
}

type vector struct {
	name    string
	method  string
	path    string      // as given to http.NewRequest (unescaped)
	body    string      // "" means none
	headers [][2]string // in the order the vector lists them
	// wantData is expectedDataToSign: the data to sign with an EMPTY
	// seventh field (the vectors call make_data_to_sign(req, "")).
	wantData string
	// wantSig is the signature of expectedAuthorization.
	wantSig string
}

var vectors = []vector{
	{
		name: "simple GET", method: "GET", path: "/",
		wantData: "GET\thttps\t" + vecHost + "\t/\t\t\t",
		wantSig:  "tL+y4hxyHxgWVD30X3pWnGKHcPzmrIF+LThiAOhMxYU=",
	},
	{
		name: "GET with querystring", method: "GET", path: "/testapi/v1/t1?p1=1&p2=2",
		wantData: "GET\thttps\t" + vecHost + "\t/testapi/v1/t1?p1=1&p2=2\t\t\t",
		wantSig:  "hKDH1UlnQySSHjvIcZpDMbQHihTQ0XyVAKZaApabdeA=",
	},
	{
		name: "POST inside limit", method: "POST", path: "/testapi/v1/t3", body: "datadatadatadatadatadatadatadata",
		wantData: "POST\thttps\t" + vecHost + "\t/testapi/v1/t3\t\tfDimoYqXOLntG3If/Z0K2aS9I19Pkv9P5OMCoL8lY0w=\t",
		wantSig:  "hXm4iCxtpN22m4cbZb4lVLW5rhX8Ca82vCFqXzSTPe4=",
	},
	{
		name: "POST too large", method: "POST", path: "/testapi/v1/t3", body: strings.Repeat("d", 2049),
		wantData: "POST\thttps\t" + vecHost + "\t/testapi/v1/t3\t\tiysZKJ78BqF0NvDrpv9Hc3pJBWC5f5apR4qUK/Qfo5k=\t",
		wantSig:  "6Q6PiTipLae6n4GsSIDTCJ54bEbHUBp+4MUXrbQCBoY=",
	},
	{
		name: "POST length equals max_body", method: "POST", path: "/testapi/v1/t3", body: strings.Repeat("d", 2048),
		wantData: "POST\thttps\t" + vecHost + "\t/testapi/v1/t3\t\tiysZKJ78BqF0NvDrpv9Hc3pJBWC5f5apR4qUK/Qfo5k=\t",
		wantSig:  "6Q6PiTipLae6n4GsSIDTCJ54bEbHUBp+4MUXrbQCBoY=",
	},
	{
		name: "POST empty body", method: "POST", path: "/testapi/v1/t6",
		wantData: "POST\thttps\t" + vecHost + "\t/testapi/v1/t6\t\t\t",
		wantSig:  "1gEDxeQGD5GovIkJJGcBaKnZ+VaPtrc4qBUHixjsPCQ=",
	},
	{
		name: "Simple header signing with GET", method: "GET", path: "/testapi/v1/t4",
		headers:  [][2]string{{"X-Test1", "test-simple-header"}},
		wantData: "GET\thttps\t" + vecHost + "\t/testapi/v1/t4\tx-test1:test-simple-header\t\t",
		wantSig:  "8F9AybcRw+PLxnvT+H0JRkjROrrUgsxJTnRXMzqvcwY=",
	},
	{
		name: "Header containing spaces", method: "GET", path: "/testapi/v1/t4",
		headers:  [][2]string{{"X-Test1", "\"     test-header-with-spaces     \""}},
		wantData: "GET\thttps\t" + vecHost + "\t/testapi/v1/t4\tx-test1:\" test-header-with-spaces \"\t\t",
		wantSig:  "ucq2AbjCNtobHfCTuS38fdkl5UDdWHZhQX46fYR8CqI=",
	},
	{
		// Python's requests refuses this header; the expected data to sign
		// is the one the vectors' notes give.
		name: "Header with leading and interior spaces", method: "GET", path: "/testapi/v1/t4",
		headers:  [][2]string{{"X-Test1", "     first-thing      second-thing"}},
		wantData: "GET\thttps\t" + vecHost + "\t/testapi/v1/t4\tx-test1:first-thing second-thing\t\t",
		wantSig:  "WtnneL539UadAAOJwnsXvPqT4Kt6z7HMgBEwAFpt3+c=",
	},
	{
		name: "Headers out of order", method: "GET", path: "/testapi/v1/t4",
		headers:  [][2]string{{"X-Test2", "t2"}, {"X-Test1", "t1"}, {"X-Test3", "t3"}},
		wantData: "GET\thttps\t" + vecHost + "\t/testapi/v1/t4\tx-test1:t1\tx-test2:t2\tx-test3:t3\t\t",
		wantSig:  "Wus73Nx8jOYM+kkBFF2q8D1EATRIMr0WLWwpLBgkBqY=",
	},
	{
		name: "Extra header", method: "GET", path: "/testapi/v1/t5",
		headers:  [][2]string{{"X-Test2", "t2"}, {"X-Test1", "t1"}, {"X-Test3", "t3"}, {"X-Extra", "this won't be included"}},
		wantData: "GET\thttps\t" + vecHost + "\t/testapi/v1/t5\tx-test1:t1\tx-test2:t2\tx-test3:t3\t\t",
		wantSig:  "Knd/jc0A5Ghhizjayr0AUUvl2MZjBpS3FDSzvtq4Ixc=",
	},
	{
		name: "PUT test", method: "PUT", path: "/testapi/v1/t6", body: "PPPPPPPPPPPPPPPPPPPPPPPPPPPPPPP",
		wantData: "PUT\thttps\t" + vecHost + "\t/testapi/v1/t6\t\t\t",
		wantSig:  "GNBWEYSEWOLtu+7dD52da2C39aX/Jchpon3K/AmBqBU=",
	},
	{
		name: "PATCH test", method: "PATCH", path: "/testapi/v1/t6", body: "PPPPPPPPPPPPPPPPPPPPPPPPPPPPPPP",
		wantData: "PATCH\thttps\t" + vecHost + "\t/testapi/v1/t6\t\t\t",
		wantSig:  "JIl05ImY1AOnMtmw+9LKgaFA8mnzsEKabbnHmI8LsQ4=",
	},
	{
		name: "GET with query params", method: "GET", path: "/testapi/v1/configs/111?from=12345&limit=200000",
		wantData: "GET\thttps\t" + vecHost + "\t/testapi/v1/configs/111?from=12345&limit=200000\t\t\t",
		wantSig:  "XM+hsuSs6nuy/5eDRty1IjtVCAdr8xPFRAZ/b8RXDm8=",
	},
	{
		name: "GET with query params and separator in path", method: "GET", path: "/testapi/v1/configs/111;222;333?from=12345&limit=200000",
		wantData: "GET\thttps\t" + vecHost + "\t/testapi/v1/configs/111;222;333?from=12345&limit=200000\t\t\t",
		wantSig:  "pmQF7Is2+O4r/mMojPR4yeF58BrempNNoBX5/DT0Fxs=",
	},
	{
		// edgegrid-golang v1: the path is signed percent-escaped.
		name: "Space in path", method: "GET", path: "/testapi/v1/t 4",
		headers:  [][2]string{{"X-Test1", "test-simple-header"}},
		wantData: "GET\thttps\t" + vecHost + "\t/testapi/v1/t%204\tx-test1:test-simple-header\t\t",
		wantSig:  "nks5K9Q96uegodgNmzAhLQMgAKaP48dAcKTX+T7Xu8k=",
	},
}

// newVectorRequest builds the client request of v.
func newVectorRequest(t testing.TB, v vector) *http.Request {
	t.Helper()
	var body io.Reader
	if v.body != "" {
		body = strings.NewReader(v.body)
	}
	req, err := http.NewRequest(v.method, "https://"+vecHost+v.path, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range v.headers {
		req.Header.Set(h[0], h[1])
	}
	return req
}

func TestVectorsDataToSign(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			req := newVectorRequest(t, v)
			if got := DataToSign(req, []byte(v.body), vecMaxBody, vecHeadersToSign, ""); got != v.wantData {
				t.Errorf("client request:\n got %q\nwant %q", got, v.wantData)
			}

			// The same request as a server receives it.
			uri := strings.Split(v.wantData, "\t")[3]
			sreq := httptest.NewRequest(v.method, "https://"+vecHost+uri, strings.NewReader(v.body))
			for _, h := range v.headers {
				sreq.Header.Set(h[0], h[1])
			}
			if got := DataToSign(sreq, []byte(v.body), vecMaxBody, vecHeadersToSign, ""); got != v.wantData {
				t.Errorf("server request:\n got %q\nwant %q", got, v.wantData)
			}
		})
	}
}

func TestVectorsSign(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			req := newVectorRequest(t, v)
			if err := vecSigner(vecCredentials, vecHeadersToSign).Sign(req); err != nil {
				t.Fatal(err)
			}
			if got, want := req.Header.Get("Authorization"), vecAuthPrefix+v.wantSig; got != want {
				t.Errorf("Authorization:\n got %s\nwant %s", got, want)
			}
		})
	}
}

// TestVectorsVerify checks that Verify accepts every vector without signed
// headers (Verify signs none).
func TestVectorsVerify(t *testing.T) {
	for _, v := range vectors {
		if len(v.headers) > 0 {
			continue
		}
		t.Run(v.name, func(t *testing.T) {
			uri := strings.Split(v.wantData, "\t")[3]
			r := httptest.NewRequest(v.method, "https://"+vecHost+uri, nil)
			r.Header.Set("Authorization", vecAuthPrefix+v.wantSig)
			if _, err := Verify(r, []byte(v.body), vecCredentials, vecTime, time.Second); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestVectorsHelpers(t *testing.T) {
	if got, want := Timestamp(vecTime), vecTimestamp; got != want {
		t.Errorf("Timestamp = %q, want %q", got, want)
	}
	// A non-UTC time renders in UTC.
	if got := Timestamp(vecTime.In(time.FixedZone("X", -5*3600))); got != vecTimestamp {
		t.Errorf("Timestamp(non-UTC) = %q, want %q", got, vecTimestamp)
	}
	if got, want := signingKey(vecClientSecret, vecTimestamp), "znsRMDBRqTXGJ7Ojip3/h2FGPu3LuoMYWgv9PKEnE/o="; got != want {
		t.Errorf("signingKey = %q, want %q", got, want)
	}
	if got, want := contentHash("POST", []byte("test_body"), 0), "REPGqEEubBHzJMhwqDZtbt515/ntEvAMNriNR53zcdY="; got != want {
		t.Errorf("contentHash = %q, want %q", got, want)
	}
	if got := contentHash("PUT", []byte("test_body"), 0); got != "" {
		t.Errorf("contentHash(PUT) = %q, want empty", got)
	}
}

// TestVectorsJSON reproduces testdata.jsontest_hash: max_body 131072, no
// signed headers.
func TestVectorsJSON(t *testing.T) {
	req, err := http.NewRequest("POST", "https://"+vecHost+"/testapi/v1/t3?extended=true", strings.NewReader(`{"key": "value"}`))
	if err != nil {
		t.Fatal(err)
	}
	c := vecCredentials
	c.MaxBody = 0 // DefaultMaxBody
	if err := vecSigner(c, nil).Sign(req); err != nil {
		t.Fatal(err)
	}
	if got, want := req.Header.Get("Authorization"), vecAuthPrefix+"nONuDe50qGrPius4Rg4D2jfi/2zDZWAYRUG6RudJLNM="; got != want {
		t.Errorf("Authorization:\n got %s\nwant %s", got, want)
	}
}

// TestVectorsNegative checks the two signatures a correct signer must NOT
// produce for the inputs of correct vectors.
func TestVectorsNegative(t *testing.T) {
	body := strings.Repeat("d", 2049)
	t.Run("body beyond max_body is not hashed", func(t *testing.T) {
		const untruncated = "rCaSkSoKda8ZdbaXz2H08k0gJn5KF0sN0Nkm68iwAFA="
		sign := func(maxBody int) string {
			req, _ := http.NewRequest("POST", "https://"+vecHost+"/testapi/v1/t3", strings.NewReader(body))
			c := vecCredentials
			c.MaxBody = maxBody
			if err := vecSigner(c, vecHeadersToSign).Sign(req); err != nil {
				t.Fatal(err)
			}
			return req.Header.Get("Authorization")
		}
		if got := sign(vecMaxBody); got == vecAuthPrefix+untruncated {
			t.Error("max_body 2048 ignored")
		}
		if got := sign(4096); got != vecAuthPrefix+untruncated {
			t.Errorf("max_body 4096: got %s, want signature %s", got, untruncated)
		}
	})
	t.Run("query is not escaped into the path", func(t *testing.T) {
		// edgegrid-golang v1's harness put "?" into url.Path, signing
		// "/testapi/v1/t1%3Fp1=1&p2=2"; a real query must sign as such.
		const artifact = "d6CRM7lMZvSlwqNU9he5VN1ey+gi5QKvrFHemBAfnjk="
		req, _ := http.NewRequest("GET", "https://"+vecHost+"/testapi/v1/t1?p1=1&p2=2", nil)
		if err := vecSigner(vecCredentials, vecHeadersToSign).Sign(req); err != nil {
			t.Fatal(err)
		}
		if req.Header.Get("Authorization") == vecAuthPrefix+artifact {
			t.Error("query signed as part of the path")
		}
		req.URL.RawQuery = ""
		req.URL.Path = "/testapi/v1/t1?p1=1&p2=2"
		if err := vecSigner(vecCredentials, vecHeadersToSign).Sign(req); err != nil {
			t.Fatal(err)
		}
		if got := req.Header.Get("Authorization"); got != vecAuthPrefix+artifact {
			t.Errorf("escaped '?': got %s, want signature %s", got, artifact)
		}
	})
}
