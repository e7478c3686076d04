package budget

import (
	"errors"
	"fmt"
	"math"

	"github.com/purgebus/purgebus/akamai"
)

// Bucket is the size of one token bucket.
type Bucket struct {
	// Capacity is the most tokens the bucket holds (its burst); it
	// starts full.
	Capacity int `json:"capacity" yaml:"capacity"`
	// PerSecond is the refill rate in tokens per second.
	PerSecond float64 `json:"per_second" yaml:"per_second"`
}

// Limits are the token buckets of one Akamai account: every request takes
// a token from Requests and one per object from the bucket of its type.
type Limits struct {
	Requests Bucket `json:"requests" yaml:"requests"`
	URL      Bucket `json:"url" yaml:"url"`
	CPCode   Bucket `json:"cpcode" yaml:"cpcode"`
	Tag      Bucket `json:"tag" yaml:"tag"`
}

// AkamaiLimits returns the buckets Akamai documents for Fast Purge:
// requests 100 / 50 per second, URLs 10,000 / 200 per second, CP codes
// 300 / 30 per minute and tags 5,000 / 500 per minute.
func AkamaiLimits() Limits {
	return Limits{
		Requests: Bucket{Capacity: 100, PerSecond: 50},
		URL:      Bucket{Capacity: 10000, PerSecond: 200},
		CPCode:   Bucket{Capacity: 300, PerSecond: 30.0 / 60},
		Tag:      Bucket{Capacity: 5000, PerSecond: 500.0 / 60},
	}
}

// WithDefaults returns l with every unset bucket or field taken from
// AkamaiLimits.
func (l Limits) WithDefaults() Limits {
	d := AkamaiLimits()
	fill := func(b *Bucket, def Bucket) {
		if b.Capacity == 0 {
			b.Capacity = def.Capacity
		}
		if b.PerSecond == 0 {
			b.PerSecond = def.PerSecond
		}
	}
	fill(&l.Requests, d.Requests)
	fill(&l.URL, d.URL)
	fill(&l.CPCode, d.CPCode)
	fill(&l.Tag, d.Tag)
	return l
}

// Scale returns l with every refill rate multiplied by f. It matches a
// fake Akamai whose time runs f times faster (akamaitest.Options.TimeScale).
func (l Limits) Scale(f float64) Limits {
	l.Requests.PerSecond *= f
	l.URL.PerSecond *= f
	l.CPCode.PerSecond *= f
	l.Tag.PerSecond *= f
	return l
}

// Objects returns the object bucket of type t.
func (l Limits) Objects(t akamai.Type) Bucket {
	switch t {
	case akamai.TypeCPCode:
		return l.CPCode
	case akamai.TypeTag:
		return l.Tag
	}
	return l.URL
}

// Validate reports buckets that cannot work.
func (l Limits) Validate() error {
	var errs []error
	for _, b := range []struct {
		name string
		b    Bucket
	}{{"requests", l.Requests}, {"url", l.URL}, {"cpcode", l.CPCode}, {"tag", l.Tag}} {
		if b.b.Capacity < 1 {
			errs = append(errs, fmt.Errorf("%s bucket: capacity %d, want at least 1", b.name, b.b.Capacity))
		}
		if !(b.b.PerSecond > 0) || math.IsInf(b.b.PerSecond, 0) {
			errs = append(errs, fmt.Errorf("%s bucket: refill %v per second, want a positive number", b.name, b.b.PerSecond))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("budget: %w", errors.Join(errs...))
	}
	return nil
}
