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
// Failure per distinct reason.
func summarize(outcomes []keyedOutcome) ([]events.Purge, []events.Failure) {
	var purges []events.Purge
	byID := map[string]int{}
	var failures []events.Failure
	byReason := map[string]int{}
	for _, o := range outcomes {
		if o.Err == nil {
			r := o.Result
			i, ok := byID[r.PurgeID]
			if !ok {
				i = len(purges)
				byID[r.PurgeID] = i
				purges = append(purges, events.Purge{
					PurgeID: r.PurgeID, SupportID: r.SupportID, EstimatedSeconds: r.EstimatedSeconds,
					HTTPStatus: r.HTTPStatus, Type: o.Type, Action: o.Action, Network: o.Network,
					Account: o.account, AcceptedAt: r.AcceptedAt,
				})
			}
			purges[i].Objects = append(purges[i].Objects, o.Object)
			continue
		}
		f := failureOf(o.Key, o.Err)
		reason := string(o.Type) + "\x00" + f.Title + "\x00" + f.Detail + "\x00" + f.SupportID
		i, ok := byReason[reason]
		if !ok {
			i = len(failures)
			byReason[reason] = i
			failures = append(failures, f)
		}
		failures[i].Objects = append(failures[i].Objects, o.Object)
	}
	return purges, failures
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
