package handler

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/events"
)

// summarizeReference is summarize as it was before its fast path: maps of
// purges and failures, and each Purge's objects appended one by one. The
// tests below hold summarize to it.
func summarizeReference(outcomes []groupOutcomes) (purges []events.Purge, failures []events.Failure, purged, failed int) {
	byID := map[string]int{}
	byReason := map[string]int{}
	for _, g := range outcomes {
		for _, o := range g.outcomes {
			if o.Err == nil {
				purged++
				r := o.Result
				i, ok := byID[r.PurgeID]
				if !ok {
					i = len(purges)
					byID[r.PurgeID] = i
					purges = append(purges, events.Purge{
						PurgeID: r.PurgeID, SupportID: r.SupportID, EstimatedSeconds: r.EstimatedSeconds,
						HTTPStatus: r.HTTPStatus, Type: g.Type, Action: g.Action, Network: g.Network,
						Account: g.account, AcceptedAt: r.AcceptedAt,
					})
				}
				purges[i].Objects = append(purges[i].Objects, o.Object)
				continue
			}
			failed++
			f := failureOf(g.Key, o.Err)
			reason := string(g.Type) + "\x00" + f.Title + "\x00" + f.Detail + "\x00" + f.SupportID
			i, ok := byReason[reason]
			if !ok {
				i = len(failures)
				byReason[reason] = i
				failures = append(failures, f)
			}
			failures[i].Objects = append(failures[i].Objects, o.Object)
		}
	}
	return purges, failures, purged, failed
}

// randomOutcomes makes groups of outcomes from nPurges requests (IDs
// drawn with repeats, out of order) and failures of nReasons kinds.
func randomOutcomes(r *rand.Rand, groups, objects, nPurges, nReasons int, failShare float64) []groupOutcomes {
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	results := make([]*akamai.Result, nPurges)
	for i := range results {
		results[i] = &akamai.Result{PurgeID: fmt.Sprintf("p%d", i), SupportID: fmt.Sprintf("s%d", i), EstimatedSeconds: 5 + i, HTTPStatus: 201, AcceptedAt: at.Add(time.Duration(i) * time.Second)}
	}
	types := []akamai.Type{akamai.TypeURL, akamai.TypeTag, akamai.TypeCPCode}
	var out []groupOutcomes
	for g := range groups {
		k := Key{types[g%len(types)], akamai.ActionInvalidate, akamai.NetworkProduction}
		gi := groupOutcomes{Key: k, account: fmt.Sprintf("acct%d", g%2)}
		for i := range objects {
			o := Outcome{Object: fmt.Sprintf("o%d-%d", g, i)}
			if nReasons > 0 && r.Float64() < failShare {
				switch n := r.IntN(nReasons); n % 3 {
				case 0:
					o.Err = &akamai.Error{HTTPStatus: 403, Title: fmt.Sprintf("t%d", n), Detail: "d", SupportID: "x"}
				case 1:
					o.Err = &akamai.InvalidObjectError{Type: k.Type, Object: o.Object, Reason: fmt.Sprintf("r%d", n)}
				default:
					o.Err = errors.New("boom")
				}
			} else if nPurges > 0 {
				o.Result = results[r.IntN(nPurges)]
			} else {
				o.Err = errors.New("no purge")
			}
			gi.outcomes = append(gi.outcomes, o)
		}
		out = append(out, gi)
	}
	return out
}

func TestSummarizeMatchesReference(t *testing.T) {
	one := &akamai.Result{PurgeID: "p", SupportID: "s", EstimatedSeconds: 5, HTTPStatus: 201}
	tests := []struct {
		name     string
		outcomes []groupOutcomes
	}{
		{"nothing", nil},
		{"an empty group", []groupOutcomes{{Key: Key{Type: akamai.TypeURL}}}},
		{"one purge", []groupOutcomes{{Key: Key{Type: akamai.TypeURL}, outcomes: []Outcome{{Object: "a", Result: one}, {Object: "b", Result: one}, {Object: "c", Result: one}}}}},
		{"empty purge IDs", []groupOutcomes{{Key: Key{Type: akamai.TypeURL}, outcomes: []Outcome{{Object: "a", Result: &akamai.Result{}}, {Object: "b", Result: &akamai.Result{}}}}}},
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct{ groups, objects, purges, reasons int }{
		{1, 3, 1, 0}, {1, 3, 2, 0}, {3, 5, 3, 0}, {1, 40, manyPurges, 0}, {1, 40, manyPurges + 1, 0},
		{2, 200, 30, 0}, {1, 10, 2, 3}, {3, 50, 12, 7}, {2, 30, 0, 4}, {1, 500, 100, 50},
	} {
		for i := range 5 {
			tests = append(tests, struct {
				name     string
				outcomes []groupOutcomes
			}{fmt.Sprintf("random %v #%d", c, i), randomOutcomes(r, c.groups, c.objects, c.purges, c.reasons, 0.3)})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, f, np, nf := summarize(tt.outcomes)
			wp, wf, wnp, wnf := summarizeReference(tt.outcomes)
			if !reflect.DeepEqual(p, wp) || !reflect.DeepEqual(f, wf) || np != wnp || nf != wnf {
				t.Fatalf("summarize = %+v, %+v, %d, %d\nreference %+v, %+v, %d, %d", p, f, np, nf, wp, wf, wnp, wnf)
			}
			// And the same result on the wire.
			res := events.PurgeResult{EventID: "e", Outcome: events.OutcomeSucceeded, Purges: p, Failures: f}
			want := events.PurgeResult{EventID: "e", Outcome: events.OutcomeSucceeded, Purges: wp, Failures: wf}
			got, err1 := res.Encode()
			exp, err2 := want.Encode()
			if string(got) != string(exp) || (err1 == nil) != (err2 == nil) {
				t.Fatalf("encoded:\n%s\nreference:\n%s", got, exp)
			}
		})
	}
}
