package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/purgebus/purgebus/events"
)

// deadLetters runs "purge deadletters list|replay".
func (c *cli) deadLetters(ctx context.Context, args []string) (*command, error) {
	top := newCommand("deadletters", "deadletters list|replay [flags]",
		`Dead letters are events that can never succeed as they are (undecodable JSON, no or
invalid objects, larger than the consumer's --max-event-bytes), kept 30 days in stream
PURGE_DEADLETTER with the reason and the original payload.

  purge deadletters list [--since 7d] [--id ID] [--json] [--follow]
  purge deadletters replay --since 7d|--id ID|--all [--dry-run] [--json]

Run 'purge deadletters list --help' or 'purge deadletters replay --help' for the flags.`)
	if len(args) == 0 {
		return top, usagef("list or replay?")
	}
	switch args[0] {
	case "list":
		return c.deadLettersRun(ctx, false, args[1:])
	case "replay":
		return c.deadLettersRun(ctx, true, args[1:])
	case "-h", "-help", "--help", "help":
		return top, errHelp
	}
	return top, usagef("unknown deadletters command %q: list or replay", args[0])
}

// deadLetterOptions are the flags of deadletters list and replay.
type deadLetterOptions struct {
	since          sinceFlag
	id             string
	asJSON, follow bool
	dryRun, all    bool
	subject        string
	timeout        time.Duration
	stream         string
	conn           connFlags
}

func (c *cli) deadLettersRun(ctx context.Context, replay bool, args []string) (*command, error) {
	var cmd *command
	o := deadLetterOptions{since: sinceFlag{now: time.Now}}
	if replay {
		cmd = newCommand("deadletters replay", "deadletters replay --since 7d|--id ID|--all [--dry-run] [--json] [flags]",
			`Re-publishes the original payload of each dead letter, to its original subject and
with its headers, so that the consumer tries it again: run it after fixing the cause
(say, after raising the consumer's --max-event-bytes). A dead letter whose cause is not
fixed is dead-lettered again. Each replay carries the Nats-Msg-Id
replay:<dead-letter stream>:<sequence>, so a repeated replay within the content
stream's duplicates window (2 minutes) is not doubled; an event without an "id" field
takes that as its event ID. Prints one line per dead letter and how many were replayed.
Say which dead letters: --since, --id or --all (alone), as a month of them at once can
be a purge storm.`)
		cmd.fs.BoolVar(&o.dryRun, "dry-run", false, "print what would be replayed, publish nothing")
		cmd.fs.BoolVar(&o.all, "all", false, "replay every dead letter the stream holds (up to 30 days' worth)")
		cmd.fs.StringVar(&o.subject, "subject", "", "publish to this subject instead of each dead letter's original one")
	} else {
		cmd = newCommand("deadletters list", "deadletters list [--since 7d] [--id ID] [--json] [--follow] [flags]",
			`Prints the dead letters, oldest first, one line each with the stream sequence, event ID,
subject, reason and the start of the payload, or the dead letters themselves with --json.`)
		cmd.fs.BoolVar(&o.follow, "follow", false, "keep printing new dead letters until interrupted")
	}
	fs := cmd.fs
	fs.Var(&o.since, "since", "only dead letters stored since `when`: a duration back from now (90s, 1h, 7d) or an RFC 3339 time")
	fs.StringVar(&o.id, "id", "", "only the dead letters of the event with this `ID`")
	fs.BoolVar(&o.asJSON, "json", false, "print JSON, one line per dead letter")
	timeoutFlag(cmd, &o.timeout, 0, "give up after this `duration` (default 1m; with --follow, run until interrupted unless set)")
	deadLetterStreamFlag(cmd, &o.stream)
	o.conn.register(cmd)

	pos, err := cmd.parse(args, c.lookupEnv)
	if err != nil {
		return cmd, err
	}
	if len(pos) > 0 {
		return cmd, usagef("unexpected arguments: %s", strings.Join(pos, " "))
	}
	if replay && !o.all && o.since.raw == "" && o.id == "" {
		return cmd, usagef("say which dead letters to replay: --since, --id or --all")
	}
	if replay && o.all && (o.since.raw != "" || o.id != "") {
		// Which one was meant? Replaying everything by mistake is a
		// purge storm.
		var others []string
		if o.since.raw != "" {
			others = append(others, "--since")
		}
		if o.id != "" {
			others = append(others, "--id")
		}
		return cmd, usagef("--all and %s conflict: --all replays every dead letter; drop it to replay only those %s selects", strings.Join(others, " and "), strings.Join(others, " and "))
	}
	var filters []string
	if o.id != "" {
		if !events.ValidID(o.id) {
			return cmd, usagef("--id %q is not an event ID (1-%d characters from letters, digits and -_:=+)", o.id, events.MaxIDLength)
		}
		filters = []string{events.DeadLetterSubject(o.id)}
	}
	if o.subject != "" && !validContentSubject(o.subject) {
		return cmd, usagef("--subject %q is not %s or a subject below it", o.subject, events.SubjectContentChanged)
	}
	if o.timeout == 0 && !o.follow {
		o.timeout = time.Minute
	}
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	ctx, nc, js, err := c.connect(ctx, &o.conn)
	if err != nil {
		return cmd, err
	}
	defer nc.Close()
	scanOpts := scanOptions{stream: o.stream, filters: filters, since: o.since.t, follow: o.follow}
	if replay {
		return cmd, c.replay(ctx, js, scanOpts, &o)
	}
	w := &errWriter{w: c.stdout}
	return cmd, scan(ctx, js, scanOpts, func(msg jetstream.Msg, meta *jetstream.MsgMetadata) error {
		if o.asJSON {
			w.printf("%s\n", msg.Data())
			return w.err
		}
		var d events.DeadLetter
		if err := json.Unmarshal(msg.Data(), &d); err != nil {
			fmt.Fprintf(c.stderr, "purge deadletters list: %s seq %d is not a dead letter: %v\n", o.stream, meta.Sequence.Stream, err)
			return nil
		}
		w.printf("%s\n", deadLetterLine(meta.Sequence.Stream, d))
		return w.err
	})
}

// deadLetterLine is one dead letter as one line of key=value pairs.
func deadLetterLine(seq uint64, d events.DeadLetter) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s seq=%d event=%s subject=%s", d.DeadAt.UTC().Format(time.RFC3339), seq, logfmtValue(d.EventID), logfmtValue(d.Subject))
	if d.Source != "" {
		fmt.Fprintf(&b, " source=%s", logfmtValue(d.Source))
	}
	fmt.Fprintf(&b, " reason=%s", logfmtValue(d.Reason))
	p := d.OriginalPayload()
	switch {
	case d.PayloadBase64 != nil:
		fmt.Fprintf(&b, " payload_bytes=%d (not UTF-8)", len(p))
	case len(p) > 160:
		// An oversized event can be megabytes: show its start and size.
		cut := 160
		for cut > 0 && !utf8.RuneStart(p[cut]) {
			cut--
		}
		fmt.Fprintf(&b, " payload_bytes=%d payload=%q...", len(p), p[:cut])
	default:
		fmt.Fprintf(&b, " payload=%q", p)
	}
	return b.String()
}

// replayRecord is what replay prints with --json for each dead letter.
type replayRecord struct {
	Seq     uint64 `json:"seq"`
	EventID string `json:"event_id"`
	Subject string `json:"subject"`
	MsgID   string `json:"msg_id"`
	// Status is "replayed", "duplicate" (replayed before, within the
	// duplicates window, so not stored again) or "dry-run".
	Status string `json:"status"`
}

// replay re-publishes the dead letters that scanOpts selects.
func (c *cli) replay(ctx context.Context, js jetstream.JetStream, scanOpts scanOptions, o *deadLetterOptions) error {
	var seen, replayed, dups int
	w := &errWriter{w: c.stdout}
	err := scan(ctx, js, scanOpts, func(msg jetstream.Msg, meta *jetstream.MsgMetadata) error {
		var d events.DeadLetter
		if err := json.Unmarshal(msg.Data(), &d); err != nil {
			fmt.Fprintf(c.stderr, "purge deadletters replay: skipping %s seq %d, not a dead letter: %v\n", o.stream, meta.Sequence.Stream, err)
			return nil
		}
		seen++
		rec := replayRecord{
			Seq:     meta.Sequence.Stream,
			EventID: d.EventID,
			Subject: replaySubject(d.Subject, o.subject),
			// Derived from the dead letter's position, so replaying it
			// again is recognised by JetStream, while the original
			// event's own Nats-Msg-Id (likely still in the window right
			// after it died) cannot swallow the replay.
			MsgID:  "replay:" + o.stream + ":" + strconv.FormatUint(meta.Sequence.Stream, 10),
			Status: "dry-run",
		}
		if !o.dryRun {
			out := nats.NewMsg(rec.Subject)
			out.Data = d.OriginalPayload()
			for k, vs := range d.Headers {
				// Nats-* headers are JetStream's controls (message ID,
				// expected stream or sequence, TTL, rollup): replaying
				// them would misfire. The rest (Correlation-Id…) is the
				// publisher's and goes along.
				if len(k) >= 5 && strings.EqualFold(k[:5], "nats-") {
					continue
				}
				out.Header[k] = append([]string(nil), vs...)
			}
			out.Header.Set(jetstream.MsgIDHeader, rec.MsgID)
			ack, err := js.PublishMsg(ctx, out)
			if err != nil {
				return fmt.Errorf("replay %s seq %d (event %s) to %s: %w", o.stream, rec.Seq, d.EventID, rec.Subject, explain(err))
			}
			rec.Status = "replayed"
			if ack.Duplicate {
				rec.Status = "duplicate"
				dups++
			} else {
				replayed++
			}
		}
		if o.asJSON {
			data, err := json.Marshal(rec)
			if err != nil {
				return fmt.Errorf("encode: %w", err)
			}
			w.printf("%s\n", data)
			return w.err
		}
		switch rec.Status {
		case "dry-run":
			w.printf("would replay seq=%d event=%s to %s\n", rec.Seq, logfmtValue(rec.EventID), rec.Subject)
		case "duplicate":
			w.printf("skipped seq=%d event=%s: already replayed within the duplicates window\n", rec.Seq, logfmtValue(rec.EventID))
		default:
			w.printf("replayed seq=%d event=%s to %s\n", rec.Seq, logfmtValue(rec.EventID), rec.Subject)
		}
		return w.err
	})
	// The count goes to stderr with --json, so stdout stays JSON lines.
	sw := c.stdout
	if o.asJSON {
		sw = c.stderr
	}
	switch {
	case o.dryRun:
		fmt.Fprintf(sw, "would replay %s\n", deadLetterCount(seen))
	case seen == 0 && err == nil:
		fmt.Fprintln(sw, "no dead letters to replay")
	default:
		fmt.Fprintf(sw, "replayed %s", deadLetterCount(replayed))
		if dups > 0 {
			fmt.Fprintf(sw, "; %d already replayed within the duplicates window", dups)
		}
		if err != nil {
			fmt.Fprint(sw, " before an error")
		}
		fmt.Fprintln(sw)
	}
	return err
}

func deadLetterCount(n int) string {
	if n == 1 {
		return "1 dead letter"
	}
	return strconv.Itoa(n) + " dead letters"
}

// replaySubject is where a dead letter goes back to: the override, else
// its original subject when that is a content subject (anything else
// would not reach the content stream), else content.changed.
func replaySubject(original, override string) string {
	switch {
	case override != "":
		return override
	case validContentSubject(original):
		return original
	}
	return events.SubjectContentChanged
}
