package handler

import (
	"errors"
	"net/http"
	"time"

	"github.com/purgebus/purgebus/akamai"
	"github.com/purgebus/purgebus/events"
)

// summarize maps outcomes back to the event: one Purge per Akamai request
// that carried any of its objects (with only those objects), and one
// Failure per distinct reason, each in the order of its first object; and
// how many objects were purged and how many failed.
//
// The usual event's objects went out in one request or a few, and none
// failed: summarize finds an object's Purge by looking at the last one
// used and then through the few others, and gives all the purges' objects
// one backing array, rather than building maps and growing a list per
// Purge.
func summarize(outcomes []groupOutcomes) (purges []events.Purge, failures []events.Failure, purged, failed int) {
	var (
		idx    = purgeIndex{last: -1}
		small  [manyPurges]int
		counts = small[:0] // objects per Purge
	)
	for gi := range outcomes {
		g := &outcomes[gi]
		for _, o := range g.outcomes {
			if o.Err != nil {
				failed++
				continue
			}
			purged++
			r := o.Result
			i, ok := idx.find(purges, r.PurgeID)
			if !ok {
				i = len(purges)
				purges = append(purges, events.Purge{
					PurgeID: r.PurgeID, SupportID: r.SupportID, EstimatedSeconds: r.EstimatedSeconds,
					HTTPStatus: r.HTTPStatus, Type: g.Type, Action: g.Action, Network: g.Network,
					Account: g.account, AcceptedAt: r.AcceptedAt, Escalation: o.Escalation,
				})
				counts = append(counts, 0)
				idx.added(purges)
			}
			counts[i]++
		}
	}
	if purged > 0 {
		objs := make([]string, purged)
		off := 0
		for i, n := range counts {
			purges[i].Objects = objs[off : off : off+n]
			off += n
		}
		idx.last = -1
		for gi := range outcomes {
			for _, o := range outcomes[gi].outcomes {
				if o.Err == nil {
					i, _ := idx.find(purges, o.Result.PurgeID)
					purges[i].Objects = append(purges[i].Objects, o.Object)
				}
			}
		}
	}
	if failed > 0 {
		failures = summarizeFailures(outcomes)
	}
	return purges, failures, purged, failed
}

// manyPurges is how many purges of one event summarize searches one by
// one; beyond, it indexes them in a map.
const manyPurges = 8

// purgeIndex finds a Purge of a list by its ID.
type purgeIndex struct {
	last int // the Purge found or added last, or -1
	byID map[string]int
}

// find returns the index of the Purge of purges with the given ID.
func (x *purgeIndex) find(purges []events.Purge, id string) (int, bool) {
	if x.last >= 0 && purges[x.last].PurgeID == id {
		return x.last, true
	}
	i, ok := -1, false
	if x.byID != nil {
		i, ok = x.byID[id]
	} else {
		for j := range purges {
			if purges[j].PurgeID == id {
				i, ok = j, true
				break
			}
		}
	}
	if ok {
		x.last = i
	}
	return i, ok
}

// added indexes the Purge just appended to purges.
func (x *purgeIndex) added(purges []events.Purge) {
	i := len(purges) - 1
	x.last = i
	switch {
	case x.byID != nil:
		x.byID[purges[i].PurgeID] = i
	case len(purges) > manyPurges:
		x.byID = make(map[string]int, 2*len(purges))
		for j := range purges {
			x.byID[purges[j].PurgeID] = j
		}
	}
}

// summarizeFailures returns one Failure per distinct reason among the
// outcomes that failed, in the order of their first object.
func summarizeFailures(outcomes []groupOutcomes) []events.Failure {
	var failures []events.Failure
	byReason := map[string]int{}
	for gi := range outcomes {
		g := &outcomes[gi]
		for _, o := range g.outcomes {
			if o.Err == nil {
				continue
			}
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
	return failures
}

func failureOf(k Key, err error) events.Failure {
	f := events.Failure{Type: k.Type, Action: k.Action, Network: k.Network}
	var ae *akamai.Error
	var ie *akamai.InvalidObjectError
	switch {
	case errors.As(err, &ae):
		f.HTTPStatus, f.Title, f.Detail, f.SupportID = ae.HTTPStatus, ae.Title, ae.Detail, ae.SupportID
		if f.Title == "" {
			f.Title = http.StatusText(ae.HTTPStatus)
		}
	case errors.As(err, &ie):
		f.Title, f.Detail = "invalid object", ie.Reason
	default:
		f.Title, f.Detail = "purge failed", err.Error()
	}
	return f
}

func estimatedCompleteAt(purges []events.Purge) time.Time {
	var t time.Time
	for _, p := range purges {
		if e := p.AcceptedAt.Add(time.Duration(p.EstimatedSeconds) * time.Second); e.After(t) {
			t = e
		}
	}
	return t.UTC()
}
