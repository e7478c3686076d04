package budget

import (
	"context"
	"testing"
	"time"

	"github.com/purgebus/purgebus/akamai"
)

// clock is a manual clock for deterministic budgets.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)} }
func newBudget(t *testing.T, c *clock) *Local {
	t.Helper()
	b, err := NewLocal(Config{Now: c.now, Headroom: -1})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTakeAtAkamaiRates(t *testing.T) {
	c := newClock()
	b := newBudget(t, c)
	// The URL bucket starts full: 10,000 objects go at once.
	if n, wait := b.Take(akamai.TypeURL, 10000, 10000); n != 10000 || wait != 0 {
		t.Fatalf("Take(10000) on a full bucket = %d, %v", n, wait)
	}
	// Then 200 per second: 700 more take 3.5 s.
	n, wait := b.Take(akamai.TypeURL, 700, 700)
	if n != 0 || wait != 3500*time.Millisecond {
		t.Fatalf("Take(700) on an empty bucket = %d, %v; want 0, 3.5s", n, wait)
	}
	c.add(wait)
	if n, _ := b.Take(akamai.TypeURL, 700, 700); n != 700 {
		t.Fatalf("Take(700) after the wait = %d", n)
	}
	// Tags and CP codes have buckets of their own.
	if n, _ := b.Take(akamai.TypeTag, 5000, 5000); n != 5000 {
		t.Fatalf("tags = %d", n)
	}
	if n, wait := b.Take(akamai.TypeCPCode, 301, 301); n != 300 || wait != 0 {
		// min is clamped to the capacity: a batch larger than the bucket
		// would otherwise wait forever.
		t.Fatalf("cpcodes = %d, %v", n, wait)
	}
	if _, wait := b.Take(akamai.TypeCPCode, 1, 1); wait != 2*time.Second {
		t.Fatalf("one CP code after 300 waits %v, want 2s (30 per minute)", wait)
	}
}

func TestTakeBetweenMinAndMax(t *testing.T) {
	c := newClock()
	b := newBudget(t, c)
	b.Take(akamai.TypeURL, 10000, 10000)
	c.add(time.Second) // 200 tokens
	if n, wait := b.Take(akamai.TypeURL, 300, 500); n != 0 || wait != 500*time.Millisecond {
		t.Fatalf("Take(300..500) with 200 = %d, %v", n, wait)
	}
	c.add(time.Second) // 400 tokens
	if n, _ := b.Take(akamai.TypeURL, 300, 500); n != 400 {
		t.Fatalf("Take(300..500) with 400 = %d, want all 400", n)
	}
}

func TestRequestBucket(t *testing.T) {
	c := newClock()
	b := newBudget(t, c)
	for i := range 100 {
		if n, _ := b.Take(akamai.TypeURL, 1, 1); n != 1 {
			t.Fatalf("request %d refused", i)
		}
	}
	// 100 requests emptied the request bucket; it refills 50 per second.
	if n, wait := b.Take(akamai.TypeURL, 1, 1); n != 0 || wait != 20*time.Millisecond {
		t.Fatalf("101st request = %d, %v; want 0, 20ms", n, wait)
	}
}

func TestObserveLowersToAkamai(t *testing.T) {
	tests := []struct {
		name string
		rl   akamai.RateLimit
		want float64 // URL tokens after Observe
	}{
		{"another client spent tokens", akamai.RateLimit{RemainingObjects: 4000, Fields: akamai.FieldRemainingObjects}, 4000},
		{"Akamai has more than we think", akamai.RateLimit{RemainingObjects: 10000, Fields: akamai.FieldRemainingObjects}, 9000},
		{"no headers", akamai.RateLimit{}, 9000},
		{"a smaller bucket", akamai.RateLimit{LimitObjects: 5000, RemainingObjects: 5000,
			Fields: akamai.FieldLimitObjects | akamai.FieldRemainingObjects}, 5000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			b := newBudget(t, c)
			b.Take(akamai.TypeURL, 1000, 1000)
			b.Observe(akamai.TypeURL, tt.rl)
			got := b.Levels()[1]
			if got.Bucket != "url" || got.Tokens < tt.want-0.01 || got.Tokens > tt.want+0.01 {
				t.Errorf("url level = %+v, want %v tokens", got, tt.want)
			}
		})
	}
}

func TestObserveAdoptsRate(t *testing.T) {
	c := newClock()
	b := newBudget(t, c)
	b.Take(akamai.TypeURL, 10000, 10000)
	b.Observe(akamai.TypeURL, akamai.RateLimit{LimitPerSecondObjects: 100, RemainingObjects: 0,
		Fields: akamai.FieldLimitPerSecondObjects | akamai.FieldRemainingObjects})
	if _, wait := b.Take(akamai.TypeURL, 100, 100); wait != time.Second {
		t.Fatalf("100 URLs at 100 per second wait %v", wait)
	}
}

func TestHeadroom(t *testing.T) {
	c := newClock()
	b, err := NewLocal(Config{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	b.Take(akamai.TypeURL, 10000, 10000)
	_, wait := b.Take(akamai.TypeURL, 1000, 1000)
	// 0.5 % below 200 per second.
	if want := 5025 * time.Millisecond; wait < want-time.Millisecond || wait > want+time.Millisecond {
		t.Fatalf("1000 URLs wait %v with the default headroom, want about %v", wait, want)
	}
}

func TestWait(t *testing.T) {
	b, err := NewLocal(Config{Limits: Limits{URL: Bucket{Capacity: 10, PerSecond: 100}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	for range 3 {
		if err := Wait(ctx, b, akamai.TypeURL, 10); err != nil {
			t.Fatal(err)
		}
	}
	// 10 at once, then 20 more at about 100 per second.
	if d := time.Since(start); d < 190*time.Millisecond {
		t.Fatalf("30 tokens of a 10-token bucket refilling 100/s took %v", d)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := Wait(cctx, b, akamai.TypeURL, 10); err == nil {
		t.Fatal("Wait with a cancelled context and an empty bucket returned nil")
	}
}

func TestLimitsValidate(t *testing.T) {
	if err := AkamaiLimits().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := AkamaiLimits()
	bad.Tag.PerSecond = -1
	bad.URL.Capacity = -5
	if _, err := NewLocal(Config{Limits: bad}); err == nil {
		t.Fatal("NewLocal accepted a negative rate and capacity")
	}
	if got := AkamaiLimits().Scale(10).URL.PerSecond; got != 2000 {
		t.Fatalf("Scale(10) URL refill = %v", got)
	}
}

// TestRivalEstimateIgnoresJitter: responses of concurrent requests come a
// few milliseconds apart, and one that waited for a busy CPU makes
// Akamai's level look lower than ours by a few dozen tokens. That is not
// another client spending: the refill rate must stay, rather than drop to
// a twentieth of the bucket (which stalled a lane for seconds).
func TestRivalEstimateIgnoresJitter(t *testing.T) {
	c := newClock()
	b := newBudget(t, c)
	b.Take(akamai.TypeURL, 10000, 10000)
	report := func(remaining int) {
		b.Observe(akamai.TypeURL, akamai.RateLimit{RemainingObjects: remaining, Fields: akamai.FieldRemainingObjects})
	}
	// A lane that waits computes its wait from the refill rate of the
	// moment: the lowest rate ever in force is what counts.
	slowest := b.Levels()[1].PerSecond
	report(0)
	for range 20 {
		c.add(10 * time.Millisecond)
		level := int(b.Levels()[1].Tokens)
		report(max(level-40, 0)) // a response 200 ms late: 40 tokens older
		slowest = min(slowest, b.Levels()[1].PerSecond)
		c.add(10 * time.Millisecond)
		report(int(b.Levels()[1].Tokens) + 40) // the next one on time
		slowest = min(slowest, b.Levels()[1].PerSecond)
	}
	if slowest < 190 {
		t.Errorf("URL refill down to %v per second by jitter, want about 200 throughout", slowest)
	}
}

// TestRivalEstimateLearnsSpending: another client spends half of the URL
// refill; purgebus's refill comes down to the other half.
func TestRivalEstimateLearnsSpending(t *testing.T) {
	c := newClock()
	b := newBudget(t, c)
	b.Take(akamai.TypeURL, 10000, 10000)
	akamaiLevel := 0.0
	for range 150 { // 15 s, a report every 100 ms
		b.Observe(akamai.TypeURL, akamai.RateLimit{RemainingObjects: int(akamaiLevel), Fields: akamai.FieldRemainingObjects})
		c.add(100 * time.Millisecond)
		akamaiLevel += (200 - 100) * 0.1 // Akamai's refill less the other client's spending
	}
	if got := b.Levels()[1].PerSecond; got < 95 || got > 110 {
		t.Errorf("URL refill %v per second while another client spends 100 of 200, want about 100", got)
	}
}
