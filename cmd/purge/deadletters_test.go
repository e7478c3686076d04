package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/events"
	"github.com/purgebus/purgebus/handler"
)

// TestDeadLetters dead-letters an event for a fixable reason (larger than
// the consumer's limit), lists it, fixes the cause by restarting the
// consumer with the default limit, and replays it: the same event is then
// purged. A malformed event and a hand-made dead letter with headers go
// along to check what replay sends.
func TestDeadLetters(t *testing.T) {
	r := newRig(t, handler.Config{MaxEventBytes: 600})
	js := r.jetStream()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// 1. A malformed event, published the way any service might.
	if _, err := js.Publish(ctx, "content.changed.raw", []byte(`{"id":"broken-1","urls":[`)); err != nil {
		t.Fatal(err)
	}
	// 2. An event too large for this consumer.
	var big []string
	for i := range 10 {
		big = append(big, fmt.Sprintf("https://www.example.com/big/%02d/%s", i, strings.Repeat("y", 40)))
	}
	o := r.run("", append([]string{"invalidate", "--wait", "--json", "--id", "big-1"}, big...)...)
	if o.code != exitNotSuccess {
		t.Fatalf("oversized event: %s", o)
	}
	if res := o.results(t); len(res) != 1 || res[0].Outcome != events.OutcomeFailed || !strings.Contains(res[0].Failures[0].Detail, "the limit is 600") {
		t.Fatalf("oversized event result: %s", o)
	}
	r.waitResults(1, "--id", "broken-1")
	// 3. A dead letter that carries headers, as a future consumer might
	// keep them: replay passes them on, except JetStream's own.
	hand := events.DeadLetter{
		EventID: "hand-1", Reason: "made by hand", Subject: "content.changed.hand",
		Payload: `{"id":"hand-1","urls":["https://www.example.com/hand"]}`,
		Headers: map[string][]string{"Correlation-Id": {"corr-hand"}, "Nats-Msg-Id": {"hand-1"}, "Nats-Expected-Last-Sequence": {"999999"}},
		DeadAt:  time.Now().UTC(),
	}
	data, err := hand.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, events.DeadLetterSubject("hand-1"), data); err != nil {
		t.Fatal(err)
	}

	// list, human and JSON.
	o = r.run("", "deadletters", "list", "--since", "1h")
	if o.code != exitOK || len(o.lines()) != 3 {
		t.Fatalf("list: %s", o)
	}
	for _, re := range []string{
		`(?m)^\S+ seq=\d+ event=broken-1 subject=content.changed.raw reason="invalid event: undecodable JSON: (?:[^"\\]|\\.)*" payload="{\\"id\\":\\"broken-1\\",\\"urls\\":\["$`,
		`(?m)^\S+ seq=\d+ event=big-1 subject=content.changed source=purge-cli:tester@\S+ reason="invalid event: event is \d+ bytes; the limit is 600" payload_bytes=\d+ payload="{\\"id\\":\\"big-1\\".*\.\.\.$`,
	} {
		if !regexp.MustCompile(re).MatchString(o.stdout) {
			t.Errorf("list does not match %s\n%s", re, o)
		}
	}
	o = r.run("", "deadletters", "list", "--json", "--id", "big-1")
	if o.code != exitOK || len(o.lines()) != 1 {
		t.Fatalf("list --json --id: %s", o)
	}
	var dl events.DeadLetter
	mustJSON(t, o.lines()[0], &dl)
	if dl.EventID != "big-1" || !strings.Contains(dl.Payload, big[9]) {
		t.Fatalf("dead letter %+v", dl)
	}

	// A dry run publishes nothing.
	o = r.run("", "deadletters", "replay", "--dry-run", "--id", "big-1")
	if o.code != exitOK || !regexp.MustCompile(`(?m)^would replay seq=\d+ event=big-1 to content.changed\nwould replay 1 dead letter\n$`).MatchString(o.stdout) {
		t.Fatalf("dry run: %s", o)
	}

	// Fix the cause: the default limit.
	r.stopConsumer()
	r.startConsumer(handler.Config{})

	o = r.run("", "deadletters", "replay", "--since", "1h", "--id", "big-1")
	if o.code != exitOK || !regexp.MustCompile(`(?m)^replayed seq=\d+ event=big-1 to content.changed\nreplayed 1 dead letter\n$`).MatchString(o.stdout) {
		t.Fatalf("replay: %s", o)
	}
	res := r.waitResults(1, "--id", "big-1", "--outcome", "succeeded")
	var purged []string
	for _, p := range res[0].Purges {
		purged = append(purged, p.Objects...)
	}
	if !slices.Equal(purged, big) {
		t.Errorf("replayed event purged %q, want %q", purged, big)
	}
	for _, u := range big {
		if !slices.Contains(r.fake.PurgedObjects(akamai.TypeURL), u) {
			t.Errorf("Akamai never purged %s", u)
		}
	}

	// Replaying again within the duplicates window does nothing.
	o = r.run("", "deadletters", "replay", "--id", "big-1", "--json")
	if o.code != exitOK || len(o.lines()) != 1 {
		t.Fatalf("second replay: %s", o)
	}
	var rec replayRecord
	mustJSON(t, o.lines()[0], &rec)
	if rec.Status != "duplicate" || rec.EventID != "big-1" || !strings.HasPrefix(rec.MsgID, "replay:PURGE_DEADLETTER:") {
		t.Errorf("second replay %+v", rec)
	}
	if !strings.Contains(o.stderr, "replayed 0 dead letters; 1 already replayed within the duplicates window") {
		t.Errorf("second replay: %s", o)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(r.waitResults(1, "--id", "big-1", "--outcome", "succeeded")); n != 1 {
		t.Errorf("%d succeeded results after a repeated replay", n)
	}

	// The hand-made dead letter: original subject, publisher's headers.
	if o = r.run("", "deadletters", "replay", "--id", "hand-1"); o.code != exitOK {
		t.Fatalf("replay hand-1: %s", o)
	}
	res = r.waitResults(1, "--id", "hand-1")
	if res[0].Outcome != events.OutcomeSucceeded || res[0].Subject != "content.changed.hand" || res[0].CorrelationID != "corr-hand" {
		t.Errorf("hand-1 result %+v", res[0])
	}

	// A malformed event is sent back as it was, and dies again.
	if o = r.run("", "deadletters", "replay", "--id", "broken-1"); o.code != exitOK {
		t.Fatalf("replay broken-1: %s", o)
	}
	r.waitResults(2, "--id", "broken-1")
	o = r.run("", "deadletters", "list", "--json", "--id", "broken-1")
	if len(o.lines()) != 2 {
		t.Fatalf("broken-1 dead letters: %s", o)
	}
	var again events.DeadLetter
	mustJSON(t, o.lines()[1], &again)
	if again.Subject != "content.changed.raw" || again.Payload != `{"id":"broken-1","urls":[` {
		t.Errorf("replayed malformed event arrived as %+v", again)
	}

	// An empty selection says so.
	if o = r.run("", "deadletters", "replay", "--id", "nothing-here"); o.code != exitOK || o.stdout != "no dead letters to replay\n" {
		t.Errorf("empty replay: %s", o)
	}
}

// TestReplayLargeDeadLetter dead-letters an event whose quoted payload is
// larger than a NATS message: the dead letter keeps its beginning, size
// and SHA-256, the object store the whole, and replay sends the whole
// event byte for byte once the cause is fixed.
func TestReplayLargeDeadLetter(t *testing.T) {
	r := newRig(t, handler.Config{MaxEventBytes: 600})
	js := r.jetStream()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// 600 KB of escaped quotes, an unknown field: 1.2 MB once quoted again.
	event := `{"id":"huge-1","urls":["https://www.example.com/huge"],"pad":"` + strings.Repeat(`\"`, 300_000) + `"}`
	if _, err := js.Publish(ctx, "content.changed.huge", []byte(event)); err != nil {
		t.Fatal(err)
	}
	r.waitResults(1, "--id", "huge-1", "--outcome", "failed")
	o := r.run("", "deadletters", "list", "--json", "--id", "huge-1")
	if o.code != exitOK || len(o.lines()) != 1 {
		t.Fatalf("list: %s", o)
	}
	var dl events.DeadLetter
	mustJSON(t, o.lines()[0], &dl)
	if !dl.PayloadTruncated || dl.PayloadBytes != len(event) || dl.PayloadObject == "" || !strings.HasPrefix(event, dl.Payload) {
		t.Fatalf("dead letter of a large event: truncated %v, %d bytes, object %q, payload of %d bytes",
			dl.PayloadTruncated, dl.PayloadBytes, dl.PayloadObject, len(dl.Payload))
	}
	o = r.run("", "deadletters", "list", "--id", "huge-1")
	if want := fmt.Sprintf(" payload_bytes=%d payload=", len(event)); !strings.Contains(o.stdout, want) {
		t.Errorf("list does not show the whole size (%s): %s", want, o)
	}

	r.stopConsumer()
	r.startConsumer(handler.Config{MaxEventBytes: 1 << 20})
	if o = r.run("", "deadletters", "replay", "--id", "huge-1"); o.code != exitOK {
		t.Fatalf("replay: %s", o)
	}
	res := r.waitResults(1, "--id", "huge-1", "--outcome", "succeeded")
	if res[0].Subject != "content.changed.huge" {
		t.Errorf("replayed to %s", res[0].Subject)
	}
}

// jetStream connects a client of its own to the rig's NATS, closed at the
// test's end.
func (r *rig) jetStream() jetstream.JetStream {
	r.t.Helper()
	nc, err := nats.Connect(r.nats.ClientURL())
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		r.t.Fatal(err)
	}
	return js
}
