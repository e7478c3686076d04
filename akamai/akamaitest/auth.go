package akamaitest

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/purgebus/purgebus/akamai/edgegrid"
)

// authenticate checks the EdgeGrid signature of the request as Akamai's
// gateway does, and that its nonce is fresh. It returns the refusal, if
// any.
func (x *exchange) authenticate() (answer, bool) {
	s := x.s
	now := s.now()
	auth, err := edgegrid.Verify(x.r, x.body, s.cred, now, s.maxSkew)
	if err == nil && s.revoked.Load() {
		err = edgegrid.ErrTokenMismatch
	}
	if err != nil {
		switch {
		case errors.Is(err, edgegrid.ErrStaleTimestamp):
			// Akamai answers a timestamp outside ±30 s with 400, not 401.
			return x.gateway(http.StatusBadRequest, gatewayRequestError, "Bad request", "Invalid timestamp"), false
		case errors.Is(err, edgegrid.ErrTokenMismatch):
			return x.gateway(http.StatusUnauthorized, gatewayDeny, "Not authorized", "Invalid authorization client_token or access_token"), false
		case errors.Is(err, edgegrid.ErrSignatureMismatch):
			return x.gateway(http.StatusUnauthorized, gatewayDeny, "Not authorized", "The signature does not match"), false
		case x.r.Header.Get("Authorization") == "":
			return x.gateway(http.StatusUnauthorized, gatewayDeny, "Not authorized", "Missing Authorization header"), false
		default:
			return x.gateway(http.StatusUnauthorized, gatewayDeny, "Not authorized", "Malformed Authorization header"), false
		}
	}
	// Remember the nonce while its signature could still be accepted.
	ts, err := time.Parse(edgegrid.TimestampLayout, auth.Timestamp)
	if err != nil {
		ts = now
	}
	if !s.nonces.add(strings.Clone(auth.Nonce), now, ts.Add(s.maxSkew), s.maxSkew/4) {
		return x.gateway(http.StatusUnauthorized, gatewayDeny, "Not authorized", "The nonce has already been used"), false
	}
	return answer{}, true
}

// Revoke makes the server refuse its credentials, as Akamai refuses those
// of a deleted or expired API client: every request, rate-limit status
// included, is answered 401 until Revoke(false).
func (s *Server) Revoke(revoked bool) { s.revoked.Store(revoked) }
