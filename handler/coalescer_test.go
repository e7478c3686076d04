package handler

// The coalescer's tests run against the fake Akamai (akamaitest) over real
// HTTP with real EdgeGrid signatures, through the real akamai.Client.
// They are internal tests only so that TestCoalescerCloseDrainsPending can
// hand a submission to a lane and know it has been taken before Close.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/akamai/akamaitest"
	"github.com/purgebus/purgebus/internal/testwait"
)

var (
	urlKey     = Key{Type: akamai.TypeURL, Action: akamai.ActionInvalidate, Network: akamai.NetworkProduction}
	tagKey     = Key{Type: akamai.TypeTag, Action: akamai.ActionInvalidate, Network: akamai.NetworkProduction}
	stagingKey = Key{Type: akamai.TypeURL, Action: akamai.ActionInvalidate, Network: akamai.NetworkStaging}
)

// newFake starts a fake Akamai and returns it with a real client for it.
func newFake(t *testing.T, opts akamaitest.Options) (*akamaitest.Server, *akamai.Client) {
	t.Helper()
	fake := akamaitest.NewServer(opts)
	t.Cleanup(fake.Close)
	client, err := akamai.NewClient(akamai.Config{Credentials: fake.Credentials(), BaseURL: fake.URL()})
	if err != nil {
		t.Fatalf("akamai.NewClient: %v", err)
	}
	return fake, client
}

func fastBackoff(int) time.Duration { return 5 * time.Millisecond }

// newCoalescer returns a coalescer with a fast back-off that is closed
// when the test ends (before the fake, which was registered earlier).
func newCoalescer(t *testing.T, p Purger, cfg CoalescerConfig) *Coalescer {
	t.Helper()
	if cfg.Backoff == nil {
		cfg.Backoff = fastBackoff
	}
	c := NewCoalescer(p, cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// testURLs returns n distinct short URLs.
func testURLs(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("https://www.example.com/%s/%04d?a=1&b=2", prefix, i)
	}
	return out
}

// ampURL returns a URL of exactly n bytes whose query is mostly '&'-joined
// parameters: '&' must not be HTML-escaped (\u0026) in request bodies, or
// exact packing overflows 50,000 bytes.
func ampURL(i, n int) string {
	u := fmt.Sprintf("https://www.example.com/p/%06d?", i)
	for len(u) < n {
		u += "a=&"
	}
	return u[:n]
}

// purgeWithin calls c.Purge with a deadline, so a lost outcome fails the
// test instead of hanging it. It may run in any goroutine.
func purgeWithin(t *testing.T, c *Coalescer, d time.Duration, key Key, objs []string) []Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	out := c.Purge(ctx, key, objs)
	if len(out) != len(objs) {
		t.Errorf("Purge returned %d outcomes for %d objects", len(out), len(objs))
		return make([]Outcome, len(objs))
	}
	for i, o := range out {
		if o.Object != objs[i] {
			t.Errorf("outcome %d is for %q, want %q (order of objects)", i, o.Object, objs[i])
		}
	}
	return out
}

func requireAllPurged(t *testing.T, out []Outcome) {
	t.Helper()
	for _, o := range out {
		if o.Err != nil {
			t.Fatalf("%s: %v", o.Object, o.Err)
		}
		if o.Result == nil || o.Result.PurgeID == "" || o.Result.HTTPStatus != 201 {
			t.Fatalf("%s: no accepted result: %+v", o.Object, o.Result)
		}
		if !slices.Contains(o.Result.Objects, o.Object) {
			t.Fatalf("%s: result %s does not carry the object", o.Object, o.Result.PurgeID)
		}
	}
}

// purgedCounts counts how often each object was accepted by the fake.
func purgedCounts(fake *akamaitest.Server) map[string]int {
	m := map[string]int{}
	for _, p := range fake.Purges() {
		for _, o := range p.Objects {
			m[o]++
		}
	}
	return m
}

func TestCoalescerMergesAndDeduplicatesConcurrentCallers(t *testing.T) {
	const callers = 50
	fake, client := newFake(t, akamaitest.Options{})
	// The batch is full exactly when every caller's objects are in,
	// deduplicated: then it goes at once, long before Linger. Without
	// deduplication it would overflow into a second request.
	c := newCoalescer(t, client, CoalescerConfig{
		Linger:     10 * time.Second,
		MaxObjects: map[akamai.Type]int{akamai.TypeURL: callers + 1},
	})
	shared := "https://www.example.com/shared?x=1&y=2"
	outs := make([][]Outcome, callers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			<-start
			outs[i] = purgeWithin(t, c, 8*time.Second, urlKey, []string{shared, fmt.Sprintf("https://www.example.com/own/%d", i)})
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	if el := time.Since(began); el > 5*time.Second {
		t.Errorf("a full batch took %v; it should go without lingering (Linger 10 s)", el)
	}

	purges := fake.Purges()
	if len(purges) != 1 {
		t.Fatalf("%d requests accepted, want 1 merged request", len(purges))
	}
	p := purges[0]
	if n := strings.Count(strings.Join(p.Objects, "\n")+"\n", shared+"\n"); n != 1 {
		t.Errorf("shared URL appears %d times in the request, want once", n)
	}
	if len(p.Objects) != callers+1 {
		t.Errorf("request has %d objects, want %d", len(p.Objects), callers+1)
	}
	for i, out := range outs {
		requireAllPurged(t, out)
		for _, o := range out {
			if o.Result.PurgeID != p.ID {
				t.Errorf("caller %d: %s has purge ID %s, want %s", i, o.Object, o.Result.PurgeID, p.ID)
			}
		}
	}
	if got := len(fake.Requests()); got != 1 {
		t.Errorf("%d requests sent, want 1", got)
	}
}

// TestCoalescerPacksFullBatchesExactly submits more than fits one request
// and checks that each request is packed as full as 50,000 bytes allow,
// never more, and that a request goes as soon as it is full.
func TestCoalescerPacksFullBatchesExactly(t *testing.T) {
	// 13 + n*(L+3) = 50,000 bytes for n URLs of L bytes: 193 URLs of 256
	// bytes fill a body exactly.
	const perFull, urlLen = 193, 256
	varied := func() []string {
		r := rand.New(rand.NewPCG(7, 11))
		out := make([]string, 2000)
		for i := range out {
			out[i] = ampURL(i, 40+r.IntN(400))
		}
		return out
	}
	uniform := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = ampURL(i, urlLen)
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		objs      []string
		wantSizes []int // exact body sizes in input order, when known
	}{
		{"uniform 256-byte URLs fill 50,000 bytes", uniform(3*perFull + 10), []int{50000, 50000, 50000, 13 + 10*(urlLen+3)}},
		{"varied lengths", varied(), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, client := newFake(t, akamaitest.Options{})
			var mu sync.Mutex
			var stats []RequestStats
			c := newCoalescer(t, client, CoalescerConfig{
				Linger: 100 * time.Millisecond,
				Observe: func(s RequestStats) {
					mu.Lock()
					stats = append(stats, s)
					mu.Unlock()
				},
			})
			requireAllPurged(t, purgeWithin(t, c, 20*time.Second, urlKey, tc.objs))

			index := make(map[string]int, len(tc.objs))
			for i, o := range tc.objs {
				index[o] = i
			}
			purges := fake.Purges()
			// Requests may be accepted out of order (several in flight);
			// within one submission batches are cut in input order.
			slices.SortFunc(purges, func(a, b akamaitest.Purge) int { return index[a.Objects[0]] - index[b.Objects[0]] })
			next := 0
			for k, p := range purges {
				if p.BodyBytes > akamai.MaxBodyBytes {
					t.Errorf("request %d has %d body bytes > %d", k, p.BodyBytes, akamai.MaxBodyBytes)
				}
				if want := len(akamai.EncodeBody(akamai.TypeURL, p.Objects)); p.BodyBytes != want {
					t.Errorf("request %d: body %d bytes, but its objects encode to %d", k, p.BodyBytes, want)
				}
				if !slices.Equal(p.Objects, tc.objs[next:next+len(p.Objects)]) {
					t.Fatalf("request %d does not carry the next %d objects in order", k, len(p.Objects))
				}
				next += len(p.Objects)
				if k < len(purges)-1 {
					if room := akamai.MaxBodyBytes - p.BodyBytes; room >= 1+akamai.EncodedSize(akamai.TypeURL, tc.objs[next]) {
						t.Errorf("request %d (%d bytes) was sent with room (%d bytes) for the next object", k, p.BodyBytes, room)
					}
				}
				if tc.wantSizes != nil {
					if k >= len(tc.wantSizes) || p.BodyBytes != tc.wantSizes[k] {
						t.Errorf("request %d: %d bytes, want sizes %v", k, p.BodyBytes, tc.wantSizes)
					}
				}
			}
			if next != len(tc.objs) {
				t.Errorf("%d of %d objects purged", next, len(tc.objs))
			}
			if tc.wantSizes != nil && len(purges) != len(tc.wantSizes) {
				t.Errorf("%d requests, want %d", len(purges), len(tc.wantSizes))
			}
			mu.Lock()
			defer mu.Unlock()
			if len(stats) != len(purges) {
				t.Fatalf("Observe saw %d requests, fake accepted %d", len(stats), len(purges))
			}
			byID := map[string]akamaitest.Purge{}
			for _, p := range purges {
				byID[p.ID] = p
			}
			for _, s := range stats {
				p, ok := byID[s.PurgeID]
				if !ok || s.Status != 201 || s.Bytes != p.BodyBytes || s.Objects != len(p.Objects) || s.Err != nil || s.Key != urlKey {
					t.Errorf("RequestStats %+v does not describe accepted purge %+v", s, p.ID)
				}
			}
		})
	}
}

func TestCoalescerSendsPartialBatchAfterLinger(t *testing.T) {
	for _, linger := range []time.Duration{80 * time.Millisecond, 300 * time.Millisecond} {
		t.Run(linger.String(), func(t *testing.T) {
			fake, client := newFake(t, akamaitest.Options{})
			c := newCoalescer(t, client, CoalescerConfig{Linger: linger})
			start := time.Now()
			out := purgeWithin(t, c, 10*time.Second, urlKey, testURLs("linger", 3))
			el := time.Since(start)
			requireAllPurged(t, out)
			if el < linger {
				t.Errorf("a batch that is not full went after %v, before Linger %v", el, linger)
			}
			if el > linger+5*time.Second {
				t.Errorf("a lingering batch took %v (Linger %v)", el, linger)
			}
			if n := len(fake.Purges()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

func TestCoalescerKeysTravelSeparately(t *testing.T) {
	fake, client := newFake(t, akamaitest.Options{})
	c := newCoalescer(t, client, CoalescerConfig{Linger: 20 * time.Millisecond})
	const u = "https://www.example.com/same?a=1&b=2"
	subs := []struct {
		key  Key
		objs []string
	}{
		{urlKey, []string{u}},
		{stagingKey, []string{u}},
		{Key{akamai.TypeURL, akamai.ActionDelete, akamai.NetworkProduction}, []string{u}},
		{tagKey, []string{"news", "sport"}},
		{Key{akamai.TypeCPCode, akamai.ActionInvalidate, akamai.NetworkProduction}, akamai.CPCodes(12345)},
	}
	outs := make([][]Outcome, len(subs))
	var wg sync.WaitGroup
	for i, s := range subs {
		wg.Go(func() { outs[i] = purgeWithin(t, c, 10*time.Second, s.key, s.objs) })
	}
	wg.Wait()
	purges := fake.Purges()
	if len(purges) != len(subs) {
		t.Fatalf("%d requests, want one per key (%d)", len(purges), len(subs))
	}
	seen := map[Key]bool{}
	for _, p := range purges {
		seen[Key{p.Type, p.Action, p.Network}] = true
	}
	for i, s := range subs {
		if !seen[s.key] {
			t.Errorf("no request for key %s", s.key)
		}
		requireAllPurged(t, outs[i])
		for _, o := range outs[i] {
			if r := o.Result; r.Type != s.key.Type || r.Action != s.key.Action || r.Network != s.key.Network {
				t.Errorf("key %s: %s purged as %s/%s/%s", s.key, o.Object, r.Action, r.Type, r.Network)
			}
		}
	}
}

func TestCoalescerHangingKeyDoesNotBlockAnother(t *testing.T) {
	fake, client := newFake(t, akamaitest.Options{})
	c := newCoalescer(t, client, CoalescerConfig{
		Linger:     10 * time.Millisecond,
		MaxObjects: map[akamai.Type]int{akamai.TypeURL: 1},
	})
	fake.HangNext(1)
	hung := make(chan []Outcome, 1)
	go func() { hung <- purgeWithin(t, c, 20*time.Second, urlKey, []string{"https://www.example.com/hangs"}) }()
	testwait.Until(t, 10*time.Second, "the url request to hang", func() bool { return fake.Stats().Faults == 1 })

	for _, key := range []Key{tagKey, stagingKey} {
		start := time.Now()
		objs := []string{"tag-a"}
		if key.Type == akamai.TypeURL {
			objs = []string{"https://www.example.com/hangs"}
		}
		requireAllPurged(t, purgeWithin(t, c, 10*time.Second, key, objs))
		if el := time.Since(start); el > 3*time.Second {
			t.Errorf("key %s took %v while another key hung", key, el)
		}
	}
	select {
	case <-hung:
		t.Fatal("the hanging request finished before it was released")
	default:
	}
	// Dropped without an answer: a transport error, retried.
	fake.ReleaseHangs()
	select {
	case out := <-hung:
		requireAllPurged(t, out)
	case <-time.After(15 * time.Second):
		t.Fatal("the released request was not retried to success")
	}
}

// TestCoalescerForbiddenObjectFailsAlone: Akamai refuses a whole request
// with 403 for one unauthorised object and names it in the detail; only
// that object fails, at the cost of few extra requests.
func TestCoalescerForbiddenObjectFailsAlone(t *testing.T) {
	for _, tc := range []struct {
		n   int
		bad []int
	}{
		{1000, []int{737}},
		{1000, []int{0, 999}},
		{2, []int{1}},
		{1, []int{0}},
	} {
		t.Run(fmt.Sprintf("%d objects %v bad", tc.n, tc.bad), func(t *testing.T) {
			fake, client := newFake(t, akamaitest.Options{})
			c := newCoalescer(t, client, CoalescerConfig{Linger: 10 * time.Millisecond})
			objs := testURLs("forbidden", tc.n)
			bad := map[string]bool{}
			for _, i := range tc.bad {
				bad[objs[i]] = true
				fake.Unauthorized(objs[i])
			}
			out := purgeWithin(t, c, 20*time.Second, urlKey, objs)
			checkOnlyBadFail(t, fake, out, bad, 403)
			extra := len(fake.Requests()) - 1
			if limit := len(tc.bad) * (int(math.Ceil(math.Log2(float64(tc.n)))) + 1); extra > limit {
				t.Errorf("%d extra requests to isolate %d unauthorised objects among %d, want ≤ %d", extra, len(tc.bad), tc.n, limit)
			}
		})
	}
}

// TestCoalescerBadRequestBisects: a 400 whose detail does not name the
// object (an injected fault's detail is "Injected fault") is narrowed down
// by bisection.
func TestCoalescerBadRequestBisects(t *testing.T) {
	for _, tc := range []struct {
		n   int
		bad []int
	}{
		{1000, []int{500}},
		{64, []int{0, 63}},
		{5, []int{0, 1, 2, 3, 4}},
		{1, []int{0}},
	} {
		t.Run(fmt.Sprintf("%d objects %d bad", tc.n, len(tc.bad)), func(t *testing.T) {
			fake, client := newFake(t, akamaitest.Options{})
			c := newCoalescer(t, client, CoalescerConfig{Linger: 10 * time.Millisecond})
			objs := testURLs("bisect", tc.n)
			bad := map[string]bool{}
			for _, i := range tc.bad {
				bad[objs[i]] = true
			}
			fake.SetFaultFunc(func(_ *http.Request, p akamaitest.PurgeRequest) (akamaitest.Fault, bool) {
				for _, o := range p.Objects {
					if bad[o] {
						return akamaitest.Fault{Status: 400}, true
					}
				}
				return akamaitest.Fault{}, false
			})
			out := purgeWithin(t, c, 20*time.Second, urlKey, objs)
			checkOnlyBadFail(t, fake, out, bad, 400)
			for _, o := range out {
				var ae *akamai.Error
				if errors.As(o.Err, &ae) && strings.Contains(ae.Detail, "example.com") {
					t.Fatalf("the 400's detail %q names an object; this test needs one that does not", ae.Detail)
				}
			}
			// Bisection costs at most two requests per level per bad object.
			limit := 1 + 2*len(tc.bad)*int(math.Ceil(math.Log2(float64(tc.n))))
			if got := len(fake.Requests()); got > limit {
				t.Errorf("%d requests to isolate %d bad objects among %d, want ≤ %d", got, len(tc.bad), tc.n, limit)
			}
		})
	}
}

// checkOnlyBadFail checks that exactly the bad objects failed, permanently
// with Akamai's status, and every other object was purged exactly once.
func checkOnlyBadFail(t *testing.T, fake *akamaitest.Server, out []Outcome, bad map[string]bool, status int) {
	t.Helper()
	counts := purgedCounts(fake)
	for _, o := range out {
		if !bad[o.Object] {
			if o.Err != nil {
				t.Errorf("good object %s failed: %v", o.Object, o.Err)
			}
			if counts[o.Object] != 1 {
				t.Errorf("good object %s purged %d times, want once", o.Object, counts[o.Object])
			}
			continue
		}
		var ae *akamai.Error
		switch {
		case o.Err == nil:
			t.Errorf("bad object %s did not fail", o.Object)
		case !Permanent(o.Err) || errors.Is(o.Err, ErrTransient):
			t.Errorf("bad object %s failed transiently: %v", o.Object, o.Err)
		case !errors.As(o.Err, &ae) || ae.HTTPStatus != status:
			t.Errorf("bad object %s: error %v, want an *akamai.Error %d", o.Object, o.Err, status)
		}
		if counts[o.Object] != 0 {
			t.Errorf("bad object %s was purged", o.Object)
		}
	}
}

func TestCoalescerRetriesAndSplits(t *testing.T) {
	const n = 10
	for _, tc := range []struct {
		name         string
		setup        func(*akamaitest.Server)
		maxAttempts  int
		wantRequests int
		wantPurges   []int // objects per accepted request, sorted
		wantStatus   int   // 0: every object purged; else their transient failure's status
	}{
		{"503 twice then success", func(f *akamaitest.Server) { f.FailNext(2, 503) }, 5, 3, []int{n}, 0},
		{"429 once", func(f *akamaitest.Server) { f.FailNext(1, 429) }, 5, 2, []int{n}, 0},
		{"500 once", func(f *akamaitest.Server) { f.FailNext(1, 500) }, 5, 2, []int{n}, 0},
		{"401 once is retried", func(f *akamaitest.Server) { f.FailNext(1, 401) }, 5, 2, []int{n}, 0},
		{"hang once times out and is retried", func(f *akamaitest.Server) { f.HangNext(1) }, 5, 2, []int{n}, 0},
		{"413 once splits in halves", func(f *akamaitest.Server) { f.InjectNext(1, akamaitest.Fault{Status: 413}) }, 5, 3, []int{n / 2, n / 2}, 0},
		{"413 twice splits twice", func(f *akamaitest.Server) { f.InjectNext(2, akamaitest.Fault{Status: 413}) }, 5, 5, []int{2, 3, 5}, 0},
		{"503 beyond MaxAttempts", func(f *akamaitest.Server) { f.FailNext(3, 503) }, 3, 3, nil, 503},
		{"429 beyond MaxAttempts", func(f *akamaitest.Server) { f.FailNext(2, 429) }, 2, 2, nil, 429},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, client := newFake(t, akamaitest.Options{})
			c := newCoalescer(t, client, CoalescerConfig{
				Linger:         10 * time.Millisecond,
				MaxAttempts:    tc.maxAttempts,
				RequestTimeout: 300 * time.Millisecond,
			})
			tc.setup(fake)
			out := purgeWithin(t, c, 20*time.Second, urlKey, testURLs("retry", n))
			if tc.wantStatus == 0 {
				requireAllPurged(t, out)
			} else {
				for _, o := range out {
					var ae *akamai.Error
					if !errors.Is(o.Err, ErrTransient) || Permanent(o.Err) {
						t.Errorf("%s: %v, want a transient failure", o.Object, o.Err)
					}
					if !errors.As(o.Err, &ae) || ae.HTTPStatus != tc.wantStatus {
						t.Errorf("%s: %v, want Akamai's %d", o.Object, o.Err, tc.wantStatus)
					}
				}
			}
			// A hung request is recorded once the server notices the
			// client gave up, which may be after the retry's answer.
			testwait.Until(t, 5*time.Second, fmt.Sprintf("%d requests recorded", tc.wantRequests), func() bool { return len(fake.Requests()) >= tc.wantRequests })
			if got := len(fake.Requests()); got != tc.wantRequests {
				t.Errorf("%d requests, want %d", got, tc.wantRequests)
			}
			var sizes []int
			for _, p := range fake.Purges() {
				sizes = append(sizes, len(p.Objects))
			}
			slices.Sort(sizes)
			if !slices.Equal(sizes, tc.wantPurges) {
				t.Errorf("accepted requests of %v objects, want %v", sizes, tc.wantPurges)
			}
			for o, k := range purgedCounts(fake) {
				if k != 1 {
					t.Errorf("%s purged %d times", o, k)
				}
			}
		})
	}
}

// TestCoalescerCloseDrainsPending: a batch lingering when Close is called
// is sent at once, and its outcomes are delivered.
func TestCoalescerCloseDrainsPending(t *testing.T) {
	const linger = 10 * time.Second
	fake, client := newFake(t, akamaitest.Options{})
	c := NewCoalescer(client, CoalescerConfig{Linger: linger, Backoff: fastBackoff})
	objs := testURLs("drain", 3)
	// Hand the submission over the way Purge does; once the send returns,
	// the lane holds it in its pending batch.
	l, ok := c.lane(urlKey)
	if !ok {
		t.Fatal("no lane before Close")
	}
	w := newWaiter(objs)
	l.in <- w

	// A caller through the public API at the same time.
	public := make(chan []Outcome, 1)
	go func() { public <- c.Purge(context.Background(), tagKey, []string{"drain-tag"}) }()

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-w.done:
	case <-time.After(5 * time.Second):
		t.Fatal("outcomes not delivered after Close")
	}
	if el := time.Since(start); el > linger/2 {
		t.Errorf("Close took %v; the pending batch should go at once, not after Linger %v", el, linger)
	}
	requireAllPurged(t, w.outcomes)
	if ps := fake.Purges(); len(ps) == 0 || ps[0].ID != w.outcomes[0].Result.PurgeID {
		t.Errorf("purges %+v, want the drained batch", ps)
	}
	// The public caller raced with Close: either it got in and was
	// drained, or it was refused as closed; never lost.
	select {
	case out := <-public:
		if err := out[0].Err; err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("racing Purge: %v, want success or ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a Purge racing with Close never returned")
	}
}

func TestCoalescerCloseAbandonsHungRequests(t *testing.T) {
	fake, client := newFake(t, akamaitest.Options{})
	c := NewCoalescer(client, CoalescerConfig{
		Linger:     10 * time.Millisecond,
		MaxObjects: map[akamai.Type]int{akamai.TypeURL: 1},
		Backoff:    fastBackoff,
	})
	fake.HangNext(1)
	res := make(chan []Outcome, 1)
	go func() { res <- c.Purge(context.Background(), urlKey, []string{"https://www.example.com/stuck"}) }()
	testwait.Until(t, 10*time.Second, "the request to hang", func() bool { return fake.Stats().Faults == 1 })

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := c.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want the deadline it gave up at", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Close took %v with a 200 ms deadline", el)
	}
	select {
	case out := <-res:
		if !errors.Is(out[0].Err, ErrTransient) || Permanent(out[0].Err) {
			t.Errorf("abandoned object: %v, want a transient failure", out[0].Err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the abandoned Purge never returned")
	}
}

func TestCoalescerPurgeAfterClose(t *testing.T) {
	fake, client := newFake(t, akamaitest.Options{})
	c := NewCoalescer(client, CoalescerConfig{Backoff: fastBackoff})
	// One key has a lane already, the others not.
	requireAllPurged(t, purgeWithin(t, c, 10*time.Second, urlKey, []string{"https://www.example.com/before"}))
	if err := c.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := len(fake.Requests())
	for _, key := range []Key{urlKey, tagKey, stagingKey} {
		out := purgeWithin(t, c, 5*time.Second, key, []string{"x-after"})
		err := out[0].Err
		if !errors.Is(err, ErrClosed) || !errors.Is(err, ErrTransient) || Permanent(err) {
			t.Errorf("key %s after Close: %v, want ErrClosed (transient)", key, err)
		}
	}
	if got := len(fake.Requests()); got != before {
		t.Errorf("%d requests sent after Close", got-before)
	}
	if out := c.Purge(context.Background(), urlKey, nil); out != nil {
		t.Errorf("Purge of no objects = %v, want nil", out)
	}
}

// TestCoalescerCallerGivesUp: when the caller's context ends first, it
// gets transient outcomes at once, and the objects are still purged.
func TestCoalescerCallerGivesUp(t *testing.T) {
	fake, client := newFake(t, akamaitest.Options{})
	c := newCoalescer(t, client, CoalescerConfig{Linger: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	const u = "https://www.example.com/impatient"
	start := time.Now()
	out := c.Purge(ctx, urlKey, []string{u})
	if el := time.Since(start); el > 900*time.Millisecond {
		t.Errorf("Purge returned after %v, past its 200 ms context", el)
	}
	if !errors.Is(out[0].Err, ErrTransient) || !errors.Is(out[0].Err, context.DeadlineExceeded) {
		t.Errorf("outcome %v, want transient with the context's error", out[0].Err)
	}
	testwait.Until(t, 10*time.Second, "the object to be purged anyway", func() bool { return purgedCounts(fake)[u] == 1 })
}

// TestCoalescerSkewedClockIsNotBlamedOnObjects: with the signer's clock
// off by more than Akamai's ±30 s, the gateway answers every request 400
// "Invalid timestamp". That is not the objects' fault: no bisection, and
// the objects fail transiently, to be retried once the clock is fixed.
func TestCoalescerSkewedClockIsNotBlamedOnObjects(t *testing.T) {
	fake, client := newFake(t, akamaitest.Options{Now: func() time.Time { return time.Now().Add(-2 * time.Minute) }})
	c := newCoalescer(t, client, CoalescerConfig{Linger: 10 * time.Millisecond, MaxAttempts: 2})
	out := purgeWithin(t, c, 20*time.Second, urlKey, testURLs("skew", 16))
	for _, o := range out {
		var ae *akamai.Error
		if !errors.Is(o.Err, ErrTransient) || Permanent(o.Err) || !errors.As(o.Err, &ae) || ae.HTTPStatus != 400 {
			t.Errorf("%s: %v, want a transient 400", o.Object, o.Err)
		}
	}
	if got := len(fake.Requests()); got != 2 {
		t.Errorf("%d requests, want 2 (MaxAttempts, no bisection)", got)
	}
	if st := fake.Stats(); st.Unsigned != 2 {
		t.Errorf("fake counted %d signature refusals, want 2", st.Unsigned)
	}
}

// TestCoalescerRequestsTheClientRefuses: requests the client will not send
// are not retried as if Akamai were down. Too many objects for the
// client's cap are split like a 413; an invalid request fails permanently.
func TestCoalescerRequestsTheClientRefuses(t *testing.T) {
	t.Run("client caps objects below the coalescer", func(t *testing.T) {
		fake := akamaitest.NewServer(akamaitest.Options{})
		t.Cleanup(fake.Close)
		client, err := akamai.NewClient(akamai.Config{Credentials: fake.Credentials(), BaseURL: fake.URL(),
			MaxObjects: map[akamai.Type]int{akamai.TypeURL: 4}})
		if err != nil {
			t.Fatal(err)
		}
		c := newCoalescer(t, client, CoalescerConfig{Linger: 10 * time.Millisecond, MaxAttempts: 2})
		requireAllPurged(t, purgeWithin(t, c, 20*time.Second, urlKey, testURLs("capped", 10)))
		var sizes []int
		for _, p := range fake.Purges() {
			sizes = append(sizes, len(p.Objects))
		}
		slices.Sort(sizes)
		if !slices.Equal(sizes, []int{2, 2, 3, 3}) {
			t.Errorf("accepted requests of %v objects, want halves of halves [2 2 3 3]", sizes)
		}
	})
	t.Run("invalid key", func(t *testing.T) {
		fake, client := newFake(t, akamaitest.Options{})
		c := newCoalescer(t, client, CoalescerConfig{Linger: 10 * time.Millisecond, MaxAttempts: 5})
		bogus := Key{Type: akamai.TypeURL, Action: "explode", Network: akamai.NetworkProduction}
		out := purgeWithin(t, c, 20*time.Second, bogus, testURLs("bogus", 2))
		for _, o := range out {
			if !Permanent(o.Err) || !errors.Is(o.Err, akamai.ErrInvalidRequest) {
				t.Errorf("%s: %v, want a permanent ErrInvalidRequest", o.Object, o.Err)
			}
		}
		if n := len(fake.Requests()); n != 0 {
			t.Errorf("%d requests sent for an invalid key", n)
		}
	})
}
