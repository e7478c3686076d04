package akamai

import (
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestParseRateLimit(t *testing.T) {
	tests := []struct {
		name   string
		header map[string]string
		want   RateLimit
	}{
		{"none", nil, RateLimit{}},
		{"Akamai's 429 example", map[string]string{
			"X-Ratelimit-Remaining": "0", "X-Ratelimit-Limit-Per-Second": "50.00", "X-Ratelimit-Limit": "100",
			"X-Ratelimit-Remaining-Objects": "9904", "X-Ratelimit-Limit-Per-Second-Objects": "200.00", "X-Ratelimit-Limit-Objects": "10000",
		}, RateLimit{Limit: 100, Remaining: 0, LimitPerSecond: 50, LimitObjects: 10000, RemainingObjects: 9904, LimitPerSecondObjects: 200,
			Fields: FieldLimit | FieldRemaining | FieldLimitPerSecond | FieldLimitObjects | FieldRemainingObjects | FieldLimitPerSecondObjects}},
		{"seconds to refresh", map[string]string{
			"x-ratelimit-seconds-to-refresh-limit": "0.02", "X-RATELIMIT-SECONDS-TO-REFRESH-LIMIT-OBJECTS": " 1.5 ",
		}, RateLimit{SecondsToRefresh: 0.02, SecondsToRefreshObjects: 1.5, Fields: FieldSecondsToRefresh | FieldSecondsToRefreshObjects}},
		{"integer written as decimal", map[string]string{"X-Ratelimit-Limit": "100.0", "X-Ratelimit-Limit-Per-Second": "8"},
			RateLimit{Limit: 100, LimitPerSecond: 8, Fields: FieldLimit | FieldLimitPerSecond}},
		{"garbage ignored", map[string]string{
			"X-Ratelimit-Limit": "lots", "X-Ratelimit-Remaining": "-1", "X-Ratelimit-Limit-Per-Second": "NaN",
			"X-Ratelimit-Limit-Objects": "1.5", "X-Ratelimit-Remaining-Objects": "", "X-Ratelimit-Limit-Per-Second-Objects": "+Inf",
			"X-Ratelimit-Seconds-To-Refresh-Limit": "-3", "X-Ratelimit-Seconds-To-Refresh-Limit-Objects": "1e999",
		}, RateLimit{}},
		{"garbage beside good", map[string]string{"X-Ratelimit-Limit": "x", "X-Ratelimit-Remaining": "7"},
			RateLimit{Remaining: 7, Fields: FieldRemaining}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			got := ParseRateLimit(h)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseRateLimit =\n%+v\nwant\n%+v", got, tt.want)
			}
			if got.Present() != (tt.want.Fields != 0) {
				t.Errorf("Present = %v", got.Present())
			}
			// SetHeader is ParseRateLimit's inverse.
			h2 := http.Header{}
			got.SetHeader(h2)
			if back := ParseRateLimit(h2); !reflect.DeepEqual(back, got) {
				t.Errorf("round trip through SetHeader: %+v", back)
			}
		})
	}
}

func TestRateLimitHas(t *testing.T) {
	r := RateLimit{Fields: FieldRemaining | FieldLimit}
	if !r.Has(FieldRemaining) || !r.Has(FieldRemaining|FieldLimit) || r.Has(FieldRemainingObjects) ||
		r.Has(FieldRemaining|FieldRemainingObjects) || r.Has(0) {
		t.Error("Has is wrong")
	}
}

func TestRefreshIn(t *testing.T) {
	tests := []struct {
		r    RateLimit
		want time.Duration
	}{
		{RateLimit{}, 0},
		{RateLimit{SecondsToRefresh: 5}, 0}, // not present
		{RateLimit{SecondsToRefresh: 0.0201, Fields: FieldSecondsToRefresh}, 21 * time.Millisecond},
		{RateLimit{SecondsToRefresh: 1, SecondsToRefreshObjects: 2.5, Fields: FieldSecondsToRefresh | FieldSecondsToRefreshObjects}, 2500 * time.Millisecond},
		{RateLimit{SecondsToRefreshObjects: 7200, Fields: FieldSecondsToRefreshObjects}, time.Hour},
	}
	for _, tt := range tests {
		if got := tt.r.RefreshIn(); got != tt.want {
			t.Errorf("%+v: RefreshIn = %v; want %v", tt.r, got, tt.want)
		}
	}
}

func TestRateLimitAfter(t *testing.T) {
	rl := RateLimit{Limit: 100, Remaining: 10, LimitPerSecond: 50, LimitObjects: 10000, RemainingObjects: 9990, LimitPerSecondObjects: 200,
		Fields: FieldLimit | FieldRemaining | FieldLimitPerSecond | FieldLimitObjects | FieldRemainingObjects | FieldLimitPerSecondObjects}
	got := rl.After(100 * time.Millisecond)
	if got.Remaining != 15 || got.RemainingObjects != 10000 {
		t.Errorf("After(100ms) = %d requests, %d objects; want 15 and 10000 (capped)", got.Remaining, got.RemainingObjects)
	}
	if rl.After(0) != rl {
		t.Error("After(0) changed the levels")
	}
	noRate := RateLimit{RemainingObjects: 5, Fields: FieldRemainingObjects}
	if got := noRate.After(time.Second); got.RemainingObjects != 5 {
		t.Errorf("without a rate, After refilled to %d", got.RemainingObjects)
	}
}
