package events_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/events"
)

// benchResult is a result like the consumer's for a purgeload event: three
// URLs, purged in two requests.
func benchResult() *events.PurgeResult {
	at := time.Date(2026, 11, 25, 12, 0, 0, 123456789, time.UTC)
	url := func(i int) string { return fmt.Sprintf("https://www.example.com/hot/%d?a=1&b=2", i) }
	p := func(id string, objs ...string) events.Purge {
		return events.Purge{PurgeID: id, SupportID: "17PY1700000000000000000000-" + id, EstimatedSeconds: 5, HTTPStatus: 201,
			Type: akamai.TypeURL, Action: akamai.ActionInvalidate, Network: akamai.NetworkProduction, Objects: objs, AcceptedAt: at}
	}
	return &events.PurgeResult{
		EventID: "ingest-12345", Outcome: events.OutcomeSucceeded, Source: "purgeload",
		Purges:     []events.Purge{p("edcp-0d1a5e8f-2a44-11ee-9b0a-0242ac120002", url(1), url(2)), p("edcp-0d1a5e8f-2a44-11ee-9b0a-0242ac120003", url(3))},
		ReceivedAt: at, CompletedAt: at.Add(150 * time.Millisecond), EstimatedCompleteAt: at.Add(5 * time.Second),
		Subject: "content.changed.purgeload", CorrelationID: "ingest-12345",
	}
}

func BenchmarkResultEncode(b *testing.B) {
	r := benchResult()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

var benchEvent = []byte(`{"id":"ingest-12345","urls":["https://www.example.com/hot/345?a=1&b=2","https://www.example.com/hot/346?a=1&b=2","https://www.example.com/hot/347?a=1&b=2"],"source":"purgeload"}`)

func BenchmarkDecode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.Decode(benchEvent, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// The consumer decodes each event and encodes its result on a goroutine
// of its own (watermill's router starts one per message), whose stack
// starts small: these benchmarks count the stack growth that a deep
// decoder or encoder costs there, which BenchmarkDecode and
// BenchmarkResultEncode, on one long-lived goroutine, do not see.

func BenchmarkDecodeNewGoroutine(b *testing.B) {
	b.ReportAllocs()
	done := make(chan error)
	for b.Loop() {
		go func() {
			_, err := events.Decode(benchEvent, 0)
			done <- err
		}()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResultEncodeNewGoroutine(b *testing.B) {
	r := benchResult()
	b.ReportAllocs()
	done := make(chan error)
	for b.Loop() {
		go func() {
			_, err := r.Encode()
			done <- err
		}()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
}
