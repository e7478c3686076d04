package akamaitest

import (
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/edgegrid"
)

// Defaults of Options.
const (
	// DefaultMaxSkew is how far a signature's timestamp may be from the
	// server's clock, either way: Akamai's edge allows ±30 seconds.
	DefaultMaxSkew = 30 * time.Second
	// DefaultEstimatedSeconds is the estimatedSeconds of a 201 answer.
	DefaultEstimatedSeconds = 5
)

// Options configure a Server. The zero value is a server with random
// credentials and Akamai's real limits in real time.
type Options struct {
	// Credentials are the only credentials the server accepts (client
	// token, access token, client secret; MaxBody as the bytes of body
	// hashed, 0 meaning 131072). Host is ignored: Server.Credentials
	// reports the listener's address. Zero: NewCredentials().
	Credentials edgegrid.Credentials

	// Buckets sizes the token buckets; zero fields take Akamai's sizes
	// (DefaultBuckets). Buckets.Disabled turns rate limiting off.
	Buckets BucketConfig

	// TimeScale multiplies every bucket's refill rate, so that TimeScale 10
	// refills ten times faster than Akamai: a test of N seconds of Akamai
	// traffic takes N/10 seconds. Capacities are unchanged, and the
	// X-Ratelimit-Limit-Per-Second[-Objects] headers report the scaled
	// rate. Zero or negative means 1 (real time).
	TimeScale float64

	// MaxSkew is how far a signature's timestamp may be from Now, either
	// way; zero means DefaultMaxSkew. Nonces are remembered for as long.
	MaxSkew time.Duration

	// EstimatedSeconds is the estimatedSeconds of accepted purges; zero
	// means DefaultEstimatedSeconds.
	EstimatedSeconds int

	// Now is the server's clock for the buckets, timestamp checks, nonce
	// expiry and records; nil means time.Now. Clients must sign with the
	// same clock (edgegrid.Signer.Now). Latency and hangs use real time.
	Now func() time.Time

	// Logger, if set, gets one record per request (never a secret).
	Logger *slog.Logger

	// MaxRecords bounds the purge and request records kept (the most recent
	// are kept); zero keeps all. Set it, and MaxRecordBytes, for a
	// long-running server. Stats are never trimmed.
	MaxRecords int
	// MaxRecordBytes bounds the memory of the purge records, which hold
	// every object purged: the oldest go once their objects (and some
	// overhead each) add up to more; the latest is always kept. Zero
	// means no bound but MaxRecords: 10,000 purges of long URLs hold
	// tens of megabytes.
	MaxRecordBytes int

	// Listener, if set, is the listener the server serves on; nil means a
	// new one on 127.0.0.1 and a free port.
	Listener net.Listener
}

// NewCredentials returns random test credentials in Akamai's format, with
// Host empty and MaxBody 131072.
func NewCredentials() edgegrid.Credentials {
	return edgegrid.Credentials{
		ClientToken:  "akab-" + randomToken(16) + "-" + randomToken(16),
		ClientSecret: base64.StdEncoding.EncodeToString(randomBytes(32)),
		AccessToken:  "akab-" + randomToken(16) + "-" + randomToken(16),
		MaxBody:      edgegrid.DefaultMaxBody,
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return b
}

// randomToken returns n random lower-case letters and digits.
func randomToken(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := randomBytes(n)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// Server is a fake Akamai Fast Purge (CCU v3) server. Its methods are safe
// for concurrent use.
type Server struct {
	cred      edgegrid.Credentials
	revoked   atomic.Bool
	buckets   BucketConfig
	scale     float64
	maxSkew   time.Duration
	estimated int
	now       func() time.Time
	logger    *slog.Logger
	readLimit int // body bytes read at most

	ts        *httptest.Server // nil when used only as a Handler
	client    *http.Client
	closing   chan struct{}
	closeOnce sync.Once

	nonces *nonceCache
	bufs   sync.Pool // *[]byte of readLimit capacity

	acctMu   sync.RWMutex
	accounts map[string]*account

	faults   faults
	counters counters
	records  records
}

// New returns a Server that is an http.Handler only; it does not listen,
// and its Credentials().Host is Options.Credentials.Host. Use it to mount
// the fake under another server; NewServer is the usual constructor. It
// panics if Options.Credentials has some but not all of ClientToken,
// ClientSecret and AccessToken.
func New(opts Options) *Server {
	s := &Server{
		cred:      opts.Credentials,
		buckets:   opts.Buckets.withDefaults(),
		scale:     opts.TimeScale,
		maxSkew:   opts.MaxSkew,
		estimated: opts.EstimatedSeconds,
		now:       opts.Now,
		logger:    opts.Logger,
		closing:   make(chan struct{}),
		nonces:    newNonceCache(),
		accounts:  make(map[string]*account),
	}
	switch c := s.cred; {
	case c.ClientToken == "" && c.AccessToken == "" && c.ClientSecret == "":
		s.cred = NewCredentials()
		s.cred.Host = c.Host
	case c.ClientToken == "" || c.AccessToken == "" || c.ClientSecret == "":
		panic("akamaitest: Options.Credentials needs ClientToken, ClientSecret and AccessToken, or none of them")
	}
	if s.cred.MaxBody <= 0 {
		s.cred.MaxBody = edgegrid.DefaultMaxBody
	}
	if !(s.scale > 0) {
		s.scale = 1
	}
	if s.maxSkew <= 0 {
		s.maxSkew = DefaultMaxSkew
	}
	if s.estimated <= 0 {
		s.estimated = DefaultEstimatedSeconds
	}
	if s.now == nil {
		s.now = time.Now
	}
	// Read enough to verify the signature over the first MaxBody bytes
	// and to tell a body over akamai.MaxBodyBytes.
	s.readLimit = max(s.cred.MaxBody, akamai.MaxBodyBytes+1)
	s.bufs.New = func() any {
		b := make([]byte, s.readLimit)
		return &b
	}
	s.records.purges.max = opts.MaxRecords
	s.records.purges.maxBytes, s.records.purges.size = opts.MaxRecordBytes, purgeSize
	s.records.requests.max = opts.MaxRecords
	s.faults.init()
	return s
}

// NewUnstartedServer returns a Server listening on opts.Listener (or on
// 127.0.0.1 and a free port) that does not serve until Start or StartTLS.
func NewUnstartedServer(opts Options) *Server {
	s := New(opts)
	s.ts = httptest.NewUnstartedServer(s)
	if opts.Listener != nil {
		_ = s.ts.Listener.Close()
		s.ts.Listener = opts.Listener
	}
	s.cred.Host = s.ts.Listener.Addr().String()
	return s
}

// NewServer starts and returns a Server serving plain HTTP on
// opts.Listener or on 127.0.0.1 and a free port. Close it when done.
func NewServer(opts Options) *Server {
	s := NewUnstartedServer(opts)
	s.Start()
	return s
}

// Start serves plain HTTP.
func (s *Server) Start() {
	s.ts.Start()
	s.client = newClient(s.ts.Client())
}

// StartTLS serves HTTPS with a self-signed certificate that Client trusts.
func (s *Server) StartTLS() {
	s.ts.StartTLS()
	s.client = newClient(s.ts.Client())
}

// newClient returns a client like base (which trusts the server's
// certificate) that keeps enough idle connections for load tests.
func newClient(base *http.Client) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if bt, ok := base.Transport.(*http.Transport); ok && bt.TLSClientConfig != nil {
		tr.TLSClientConfig = bt.TLSClientConfig.Clone()
	}
	tr.MaxIdleConns = 0
	tr.MaxIdleConnsPerHost = 1024
	return &http.Client{Transport: tr}
}

// URL returns the base URL, e.g. http://127.0.0.1:41234, without a
// trailing slash; empty for a server made by New.
func (s *Server) URL() string {
	if s.ts == nil {
		return ""
	}
	return s.ts.URL
}

// Client returns an HTTP client for the server: it trusts the TLS
// certificate of StartTLS and keeps up to 1024 idle connections. It does
// not sign; wrap its transport or sign each request.
func (s *Server) Client() *http.Client {
	if s.client == nil {
		return http.DefaultClient
	}
	return s.client
}

// Credentials returns the credentials the server accepts, Host set to the
// listener's host:port, so that a client with base URL URL() signs what
// the server verifies.
func (s *Server) Credentials() edgegrid.Credentials { return s.cred }

// Close ends hanging requests, stops the server and waits for the
// requests in progress. It may be called more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		if s.ts != nil {
			s.ts.Close()
		}
		if s.client != nil {
			s.client.CloseIdleConnections()
		}
	})
}

// Reset makes the server as new, but for its address, credentials and
// remembered nonces: records and stats cleared, every bucket full, faults,
// latency and unauthorised objects removed, hanging requests released.
func (s *Server) Reset() {
	s.acctMu.Lock()
	s.accounts = make(map[string]*account)
	s.acctMu.Unlock()
	s.faults.reset()
	s.records.reset()
	s.counters.reset()
}

// account returns the buckets of the account named by accountSwitchKey key
// ("" for the credentials' own account), creating them full.
func (s *Server) account(key string) *account {
	if a := s.peekAccount(key); a != nil {
		return a
	}
	s.acctMu.Lock()
	defer s.acctMu.Unlock()
	a := s.accounts[key]
	if a == nil {
		a = newAccount(&s.buckets, s.scale)
		s.accounts[key] = a
	}
	return a
}

// peekAccount returns the buckets of account key if it has any.
func (s *Server) peekAccount(key string) *account {
	s.acctMu.RLock()
	defer s.acctMu.RUnlock()
	return s.accounts[key]
}

// Tokens returns the tokens in the buckets of the account named by
// accountSwitchKey ("" for the default account) now.
func (s *Server) Tokens(accountSwitchKey string) Tokens {
	a := s.account(accountSwitchKey)
	a.mu.Lock()
	defer a.mu.Unlock()
	now := s.now()
	return Tokens{
		Requests: a.req.tokens(now),
		URL:      a.obj[0].tokens(now),
		CPCode:   a.obj[1].tokens(now),
		Tag:      a.obj[2].tokens(now),
	}
}

// SpendTokens takes tokens from the default account's buckets, as another
// client of the same account would: requests request tokens and urls,
// cpcodes and tags object tokens, each at most what its bucket holds.
func (s *Server) SpendTokens(requests, urls, cpcodes, tags int) {
	s.SpendAccountTokens("", requests, urls, cpcodes, tags)
}

// SpendAccountTokens is SpendTokens for the account named by
// accountSwitchKey.
func (s *Server) SpendAccountTokens(accountSwitchKey string, requests, urls, cpcodes, tags int) {
	a := s.account(accountSwitchKey)
	a.mu.Lock()
	defer a.mu.Unlock()
	now := s.now()
	a.req.spend(now, requests)
	a.obj[0].spend(now, urls)
	a.obj[1].spend(now, cpcodes)
	a.obj[2].spend(now, tags)
}

// Purges returns every accepted purge, oldest first (the last
// Options.MaxRecords when set).
func (s *Server) Purges() []Purge {
	s.records.mu.Lock()
	defer s.records.mu.Unlock()
	return s.records.purges.all()
}

// Requests returns every request received, in the order their handling
// ended (the last Options.MaxRecords when set).
func (s *Server) Requests() []RequestRecord {
	s.records.mu.Lock()
	defer s.records.mu.Unlock()
	return s.records.requests.all()
}

// PurgedObjects returns the objects of type t of the accepted purges that
// Purges returns, in acceptance order, duplicates included.
func (s *Server) PurgedObjects(t akamai.Type) []string {
	s.records.mu.Lock()
	defer s.records.mu.Unlock()
	var out []string
	for _, p := range s.records.purges.view() {
		if p.Type == t {
			out = append(out, p.Objects...)
		}
	}
	return out
}

// Stats returns the counters.
func (s *Server) Stats() Stats { return s.counters.stats() }

// newID returns an Akamai-style id: prefix ("edup", "edcp" or "edtp"), a
// dash and a random UUID.
func newID(prefix string) string { return prefix + "-" + uuid.NewString() }
