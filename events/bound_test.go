package events_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/events"
)

// TestResultEncodeWithin shortens results of every shape that inflates
// to each limit, and checks what a subscriber relies on: the result fits,
// decodes, keeps its outcome and ID, says it was truncated only when it
// was, and accounts for every object, listed or counted.
func TestResultEncodeWithin(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	urls := func(n, size int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("https://www.example.com/%d/%s", i, strings.Repeat("\x01", size))
		}
		return out
	}
	manyFailures := func(n int) []events.Failure {
		fs := make([]events.Failure, n)
		for i := range fs {
			fs[i] = events.Failure{Type: akamai.TypeTag, Title: "invalid object", Detail: fmt.Sprintf("tag %d is bad\x01\x01", i), Objects: []string{fmt.Sprintf("bad\"%d", i)}}
		}
		return fs
	}
	tests := []struct {
		name string
		res  events.PurgeResult
		// dense: many small objects or failures, so a shortened result
		// fills most of the limit.
		dense bool
	}{
		{"small", events.PurgeResult{EventID: "e", Outcome: events.OutcomeSucceeded,
			Purges: []events.Purge{{PurgeID: "p", Type: akamai.TypeURL, Objects: urls(3, 1)}}}, false},
		{"many purged objects", events.PurgeResult{EventID: "e", Outcome: events.OutcomePartial,
			Purges:   []events.Purge{{PurgeID: "p1", Type: akamai.TypeURL, Objects: urls(2000, 20)}, {PurgeID: "p2", Type: akamai.TypeURL, Objects: urls(2000, 20)}},
			Failures: []events.Failure{{Type: akamai.TypeURL, Title: "forbidden", Objects: urls(500, 30)}}}, true},
		{"one huge failed object", events.PurgeResult{EventID: "e", Outcome: events.OutcomeFailed,
			Failures: []events.Failure{{Type: akamai.TypeURL, Title: "invalid object", Detail: strings.Repeat("\"", 100_000), Objects: urls(1, 100_000)}}}, false},
		{"thousands of distinct failures", events.PurgeResult{EventID: "e", Outcome: events.OutcomeFailed, Failures: manyFailures(5000)}, true},
		{"long metadata", events.PurgeResult{EventID: "e", Outcome: events.OutcomeSucceeded, Metadata: longMetadata(),
			Purges: []events.Purge{{PurgeID: "p", Type: akamai.TypeURL, Objects: urls(3, 1)}}}, false},
		{"long texts", events.PurgeResult{EventID: "e", Outcome: events.OutcomeFailed, Source: strings.Repeat("\x02", 50_000),
			CorrelationID: strings.Repeat("é", 50_000), Failures: []events.Failure{{Title: strings.Repeat("\x03", 50_000)}}}, false},
	}
	for _, tc := range tests {
		tc.res.ReceivedAt, tc.res.CompletedAt = now, now
		full, err := tc.res.Encode()
		if err != nil {
			t.Fatal(err)
		}
		for _, limit := range []int{1 << 20, 64 << 10, 4 << 10, 2 << 10} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, limit), func(t *testing.T) {
				b, err := tc.res.EncodeWithin(limit)
				if err != nil {
					t.Fatalf("EncodeWithin: %v", err)
				}
				if len(b) > limit {
					t.Fatalf("%d bytes, limit %d", len(b), limit)
				}
				if tc.dense && len(b) < limit*3/4 && len(full) > limit {
					t.Errorf("shortened to %d bytes of %d: too much left out", len(b), limit)
				}
				if len(full) <= limit && !bytes.Equal(b, full) {
					t.Fatal("a result that fits was changed")
				}
				got, err := events.DecodeResult(b)
				if err != nil || !utf8.Valid(b) {
					t.Fatalf("undecodable: %v", err)
				}
				if got.EventID != tc.res.EventID || got.Outcome != tc.res.Outcome || got.Truncated != (len(full) > limit) {
					t.Errorf("event %s outcome %s truncated %v", got.EventID, got.Outcome, got.Truncated)
				}
				if want, n := objects(tc.res), objects(got); n != want {
					t.Errorf("%d objects listed or counted, want %d", n, want)
				}
			})
		}
	}
	if _, err := tests[0].res.EncodeWithin(50); !errors.Is(err, events.ErrNoRoom) {
		t.Errorf("limit of 50 bytes: %v, want ErrNoRoom", err)
	}
}

// objects counts the objects of r, listed or omitted.
func objects(r events.PurgeResult) int {
	n := 0
	for _, p := range r.Purges {
		n += len(p.Objects) + p.ObjectsOmitted
	}
	for _, f := range r.Failures {
		n += len(f.Objects) + f.ObjectsOmitted
	}
	return n
}

// TestDeadLetterEncodeWithin: a dead letter that fits holds the whole
// event; one that does not keeps its beginning, cut between characters,
// and the size and SHA-256 of the whole.
func TestDeadLetterEncodeWithin(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload []byte
	}{
		{"control bytes", bytes.Repeat([]byte{1}, 200_000)},
		{"quotes", bytes.Repeat([]byte{'"'}, 600_000)},
		{"invalid UTF-8", bytes.Repeat([]byte{0xFF}, 800_000)},
		{"multi-byte", []byte(strings.Repeat("\u2028é", 100_000))},
		{"small", []byte(`{"urls":["x"]}`)},
	} {
		for _, limit := range []int{1 << 20, 16 << 10, 2 << 10} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, limit), func(t *testing.T) {
				d := events.DeadLetter{EventID: "e", Reason: strings.Repeat("\x01", 100_000), Subject: "content.changed",
					Headers: map[string][]string{"Correlation-Id": {strings.Repeat("c", 10_000)}, "X": {"y"}}}
				d.SetPayload(tc.payload)
				fits := d.Fits(limit)
				if whole, _ := d.Encode(); (len(whole) <= limit) != fits {
					t.Fatalf("Fits says %v of %d bytes encoded, limit %d", fits, len(whole), limit)
				}
				b, err := d.EncodeWithin(limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(b) > limit {
					t.Fatalf("%d bytes, limit %d", len(b), limit)
				}
				var got events.DeadLetter
				if err := json.Unmarshal(b, &got); err != nil {
					t.Fatal(err)
				}
				p := got.OriginalPayload()
				if got.PayloadBytes != len(tc.payload) || len(got.PayloadSHA256) != 64 || got.PayloadTruncated == fits {
					t.Errorf("payload_bytes %d sha256 %q truncated %v (fits %v)", got.PayloadBytes, got.PayloadSHA256, got.PayloadTruncated, fits)
				}
				if !bytes.HasPrefix(tc.payload, p) || !fits && len(p) > events.MaxPayloadPrefix || fits && len(p) != len(tc.payload) {
					t.Errorf("payload of %d bytes is not the right part of the event", len(p))
				}
				if got.Payload != "" && !utf8.ValidString(got.Payload) {
					t.Error("payload cut inside a character")
				}
				if !fits && (len(got.Reason) > events.MaxTextBytes || got.Headers["X"][0] != "y" || got.Headers["Correlation-Id"] != nil) {
					t.Errorf("reason of %d bytes, headers %v", len(got.Reason), got.Headers)
				}
			})
		}
	}
}

// longMetadata is the most metadata an event may carry, every value
// control bytes that quoting inflates six times.
func longMetadata() map[string]string {
	m := map[string]string{}
	for i := range events.MaxMetadataEntries {
		m[fmt.Sprintf("k%03d", i)] = strings.Repeat("\x01", events.MaxMetadataValueBytes)
	}
	return m
}

// TestDeadLetterAtTheLimit: a dead letter exactly at the limit keeps the
// whole event; one byte more, and it keeps the beginning.
func TestDeadLetterAtTheLimit(t *testing.T) {
	const limit = 16 << 10
	dl := func(n int) events.DeadLetter {
		d := events.DeadLetter{EventID: "e", Reason: "r", Subject: "content.changed"}
		d.SetPayload(bytes.Repeat([]byte{'"'}, n)) // two bytes each, quoted
		return d
	}
	n := 0
	for ; ; n++ {
		d := dl(n)
		b, err := d.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) >= limit-1 {
			break
		}
	}
	for _, n := range []int{n, n + 1} {
		d := dl(n)
		whole, _ := d.Encode()
		b, err := d.EncodeWithin(limit)
		if err != nil || len(b) > limit {
			t.Fatalf("%d bytes: %d encoded, %v", n, len(b), err)
		}
		var got events.DeadLetter
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if fits := len(whole) <= limit; got.PayloadTruncated == fits || fits != d.Fits(limit) {
			t.Errorf("event of %d bytes, dead letter of %d (limit %d): truncated %v, Fits %v", n, len(whole), limit, got.PayloadTruncated, d.Fits(limit))
		}
	}
}
