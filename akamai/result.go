package akamai

import "time"

// Result is Akamai's acceptance (201) of one purge request.
type Result struct {
	Action  Action
	Type    Type
	Network Network

	PurgeID          string
	SupportID        string
	EstimatedSeconds int // Akamai's estimate of the time to purge, typically 5
	HTTPStatus       int // 201
	Detail           string

	AcceptedAt time.Time // when the answer arrived, by Config.Now
	RateLimit  RateLimit // the X-Ratelimit-* headers of the answer

	Objects   []string // the normalized objects sent
	BodyBytes int      // size of the request body sent
}

// EstimatedCompleteAt returns when Akamai expects the purge to be complete
// everywhere: AcceptedAt plus EstimatedSeconds. No endpoint reports the
// actual progress of a purge. It is the zero time if AcceptedAt is.
func (r *Result) EstimatedCompleteAt() time.Time {
	if r.AcceptedAt.IsZero() {
		return time.Time{}
	}
	return r.AcceptedAt.Add(time.Duration(r.EstimatedSeconds) * time.Second)
}
