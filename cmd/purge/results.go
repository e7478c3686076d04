package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/events"
)

// results runs "purge results".
func (c *cli) results(ctx context.Context, args []string) (*command, error) {
	cmd := newCommand("results", "results [--follow] [--outcome failed] [--since 1h] [--id ID] [--json] [flags]",
		`Prints the purge results the consumer published (stream PURGE_RESULTS, kept 7 days),
oldest first, one line each, or the result events themselves with --json. Without
--follow it prints what is stored and exits; with --follow it prints new results as
they come (from --since, if given) until interrupted. With --id, finding no result is
an error (exit status 1).`)
	var (
		follow, asJSON bool
		outcomes, id   string
		timeout        time.Duration
		stream         string
		conn           connFlags
	)
	since := sinceFlag{now: time.Now}
	fs := cmd.fs
	fs.BoolVar(&follow, "follow", false, "keep printing new results until interrupted")
	fs.StringVar(&outcomes, "outcome", "", "only results with this `outcome`: succeeded, partial or failed (comma-separated for several)")
	fs.Var(&since, "since", "only results stored since `when`: a duration back from now (90s, 1h, 7d) or an RFC 3339 time")
	fs.StringVar(&id, "id", "", "only the result of the event with this `ID`")
	fs.BoolVar(&asJSON, "json", false, "print each result event as one line of JSON")
	timeoutFlag(cmd, &timeout, 0, "give up after this `duration` (default 30s; with --follow, run until interrupted unless set)")
	resultStreamFlag(cmd, &stream)
	conn.register(cmd)

	pos, err := cmd.parse(args, c.lookupEnv)
	if err != nil {
		return cmd, err
	}
	if len(pos) > 0 {
		return cmd, usagef("unexpected arguments: %s", strings.Join(pos, " "))
	}
	filters, err := resultFilters(outcomes, id)
	if err != nil {
		return cmd, err
	}
	if timeout == 0 && !follow {
		timeout = 30 * time.Second
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	ctx, nc, js, err := c.connect(ctx, &conn)
	if err != nil {
		return cmd, err
	}
	defer nc.Close()
	w := &errWriter{w: c.stdout}
	found := 0
	err = scan(ctx, js, scanOptions{stream: stream, filters: filters, since: since.t, follow: follow},
		func(msg jetstream.Msg, meta *jetstream.MsgMetadata) error {
			if events.IsControl(msg.Data()) {
				return nil
			}
			found++
			if asJSON {
				w.printf("%s\n", msg.Data())
				return w.err
			}
			r, err := events.DecodeResult(msg.Data())
			if err != nil {
				// One foreign message must not hide the others.
				fmt.Fprintf(c.stderr, "purge results: %s seq %d is not a result: %v\n", stream, meta.Sequence.Stream, err)
				return nil
			}
			w.printf("%s\n", resultLine(r))
			return w.err
		})
	if err == nil && found == 0 && id != "" && !follow {
		// Asked for one event: silence would read as "nothing wrong".
		what := "no result"
		if outcomes != "" {
			what = "no " + strings.ReplaceAll(outcomes, ",", " or ") + " result"
		}
		if since.raw != "" {
			what += " since " + since.raw
		}
		return cmd, fmt.Errorf("%s for event %s (yet) in %s: the event may still wait in JetStream or be purged now "+
			"('purge results --id %s --follow' waits for it), its result may have aged out, or the ID is wrong", what, id, stream, id)
	}
	return cmd, err
}

// resultFilters turns --outcome and --id into subject filters of
// purge.result.<outcome>.<event-id>; none means every result.
func resultFilters(outcomes, id string) ([]string, error) {
	if id != "" && !events.ValidID(id) {
		return nil, usagef("--id %q is not an event ID (1-%d characters from letters, digits and -_:=+)", id, events.MaxIDLength)
	}
	last := ">"
	if id != "" {
		last = id
	}
	if outcomes == "" {
		if id == "" {
			return nil, nil
		}
		return []string{events.ResultFilter(id)}, nil
	}
	var filters []string
	for o := range strings.SplitSeq(outcomes, ",") {
		switch out := events.Outcome(strings.TrimSpace(o)); out {
		case events.OutcomeSucceeded, events.OutcomePartial, events.OutcomeFailed:
			f := events.SubjectResults + "." + string(out) + "." + last
			if !slices.Contains(filters, f) {
				filters = append(filters, f)
			}
		default:
			return nil, usagef("--outcome %q is not succeeded, partial or failed", o)
		}
	}
	return filters, nil
}

// resultLine is one result as one line of key=value pairs, for people and
// grep.
func resultLine(r events.PurgeResult) string {
	var b strings.Builder
	at := r.CompletedAt
	if at.IsZero() {
		at = r.ReceivedAt
	}
	fmt.Fprintf(&b, "%s %-9s %s", at.UTC().Format(time.RFC3339), r.Outcome, r.EventID)
	if r.Source != "" {
		fmt.Fprintf(&b, " source=%s", logfmtValue(r.Source))
	}
	if len(r.Purges) > 0 {
		ids := make([]string, 0, len(r.Purges))
		n := 0
		for _, p := range r.Purges {
			ids = append(ids, p.PurgeID)
			n += len(p.Objects)
		}
		fmt.Fprintf(&b, " purged=%d purge_ids=%s", n, strings.Join(ids, ","))
		if esc := escalationText(r.Purges); esc != "" {
			b.WriteString(esc)
		}
	}
	if !r.EstimatedCompleteAt.IsZero() {
		fmt.Fprintf(&b, " estimated_complete_at=%s", r.EstimatedCompleteAt.UTC().Format(time.RFC3339))
	}
	if len(r.Failures) > 0 {
		n := 0
		texts := make([]string, 0, len(r.Failures))
		for _, f := range r.Failures {
			n += len(f.Objects)
			texts = append(texts, failureText(f))
		}
		fmt.Fprintf(&b, " failed=%d failure=%s", n, logfmtValue(strings.Join(texts, "; ")))
	}
	return b.String()
}

// escalationText says how many of the purged objects a covering CP code
// or tag purge settled, and which (" escalated=120 escalation=cpcode:12345"),
// or "" when none did.
func escalationText(purges []events.Purge) string {
	n := 0
	var by []string
	for _, p := range purges {
		if e := p.Escalation; e != nil {
			n += len(p.Objects)
			if o := string(e.Type) + ":" + e.Object; !slices.Contains(by, o) {
				by = append(by, o)
			}
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" escalated=%d escalation=%s", n, logfmtValue(strings.Join(by, ",")))
}
