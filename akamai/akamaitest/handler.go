package akamaitest

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/purgebus/purgebus/akamai"
)

// describedBy is the describedBy link of purge problem bodies.
const describedBy = "https://techdocs.akamai.com/purge-cache/reference/api-errors"

// Problem types of the EdgeGrid gateway, which answers before Fast Purge.
const (
	gatewayDeny         = "https://problems.purge.akamaiapis.net/-/pep-authn/deny"
	gatewayRequestError = "https://problems.purge.akamaiapis.net/-/pep-authn/request-error"
)

const (
	contentJSON    = "application/json"
	contentProblem = "application/problem+json"
)

// routeKind says what a path names.
type routeKind int

const (
	routeNone   routeKind = iota
	routePurge            // /ccu/v3/{invalidate|delete}/{type}[/{network}]
	routeStatus           // /ccu/v3/rate-limit-status/{type}
)

type route struct {
	kind    routeKind
	action  akamai.Action
	typ     akamai.Type
	network akamai.Network
}

// parseRoute recognises the Fast Purge paths; anything else is routeNone.
func parseRoute(path string) route {
	rest, ok := strings.CutPrefix(path, "/ccu/v3/")
	if !ok {
		return route{}
	}
	op, rest, _ := strings.Cut(rest, "/")
	typ, network, hasNetwork := strings.Cut(rest, "/")
	t := akamai.Type(typ)
	if !t.Valid() {
		return route{}
	}
	switch op {
	case "rate-limit-status":
		if hasNetwork {
			return route{}
		}
		return route{kind: routeStatus, typ: t}
	case string(akamai.ActionInvalidate), string(akamai.ActionDelete):
		n := akamai.NetworkProduction
		if hasNetwork {
			n = akamai.Network(network)
			if !n.Valid() {
				return route{}
			}
		}
		return route{kind: routePurge, action: akamai.Action(op), typ: t, network: n}
	}
	return route{}
}

// idPrefix is the prefix of purge and support ids for type t.
func idPrefix(t akamai.Type) string {
	switch t {
	case akamai.TypeCPCode:
		return "edcp"
	case akamai.TypeTag:
		return "edtp"
	}
	return "edup"
}

// answer is the response to one request.
type answer struct {
	status      int
	title       string // problem title, for the record
	contentType string
	body        []byte
	ad          admission // buckets as reported in the headers
	allow       bool      // add Allow: POST
	purgeID     string
	fault       bool // from an injected fault
	hang        bool // answer nothing, drop the connection
}

// exchange is one request being handled.
type exchange struct {
	s    *Server
	r    *http.Request
	rt   route
	acct *account
	rec  RequestRecord
	body []byte // the body as read, at most s.readLimit bytes
}

// ServeHTTP answers one request as Fast Purge would; see the package
// documentation for the checks and their order.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.counters.requests.Add(1)
	x := exchange{s: s, r: r, rt: parseRoute(r.URL.Path)}
	x.rec = RequestRecord{
		ReceivedAt: s.now(),
		Method:     r.Method,
		Path:       r.URL.Path,
		Action:     x.rt.action,
		Type:       x.rt.typ,
		Network:    x.rt.network,
	}
	if r.URL.RawQuery != "" {
		x.rec.AccountSwitchKey = r.URL.Query().Get("accountSwitchKey")
	}
	// Until the request is authenticated, an unknown account is shown as
	// new (full) without being created: strangers cannot grow the map.
	if x.acct = s.peekAccount(x.rec.AccountSwitchKey); x.acct == nil {
		x.acct = newAccount(&s.buckets, s.scale)
	}
	bufp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bufp)

	a := x.process(*bufp)

	if a.hang {
		s.finish(&x, &a, start)
		panic(http.ErrAbortHandler) // drop the connection without an answer
	}
	if d := time.Duration(s.faults.latency.Load()); d > 0 {
		s.sleep(r.Context(), d)
	}
	h := w.Header()
	a.ad.rateLimit().SetHeader(h)
	if a.allow {
		h.Set("Allow", http.MethodPost)
	}
	h.Set("Content-Type", a.contentType)
	h.Set("Content-Length", strconv.Itoa(len(a.body)))
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
	s.finish(&x, &a, start)
}

// finish records and logs the exchange.
func (s *Server) finish(x *exchange, a *answer, start time.Time) {
	status := a.status
	if a.hang {
		status = 0
	}
	if status >= 0 && status < maxStatus {
		s.counters.byStatus[status].Add(1)
	}
	x.rec.Status = status
	x.rec.Title = a.title
	x.rec.PurgeID = a.purgeID
	x.rec.Fault = a.fault
	x.rec.Duration = time.Since(start)
	s.records.addRequest(x.rec)
	if s.logger != nil {
		s.logger.LogAttrs(x.r.Context(), slog.LevelInfo, "akamaitest",
			slog.String("method", x.rec.Method),
			slog.String("path", x.rec.Path),
			slog.Int("status", status),
			slog.String("title", a.title),
			slog.Int("objects", x.rec.Objects),
			slog.String("purgeId", a.purgeID),
			slog.Bool("fault", a.fault),
			slog.Duration("duration", x.rec.Duration))
	}
}

// sleep waits d, or less if ctx ends or the server closes.
func (s *Server) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-s.closing:
	}
}

// hang waits until the client gives up, the server closes or ReleaseHangs.
func (s *Server) hang(ctx context.Context) {
	release := *s.faults.release.Load()
	select {
	case <-ctx.Done():
	case <-s.closing:
	case <-release:
	}
}

// process runs the checks in order and returns the answer.
func (x *exchange) process(buf []byte) answer {
	s, r, rt := x.s, x.r, x.rt
	if rt.kind == routeNone {
		return x.problem(http.StatusNotFound, "not found",
			fmt.Sprintf("No Fast Purge operation at %s", r.URL.Path), x.look(0))
	}
	if r.Method != http.MethodPost {
		a := x.problem(http.StatusMethodNotAllowed, "method not allowed",
			fmt.Sprintf("Method %s is not allowed; use POST", r.Method), x.look(0))
		a.allow = true
		return a
	}

	n, err := readAtMost(r.Body, buf)
	x.body = buf[:n]
	x.rec.BodyBytes = n
	if err != nil {
		return x.problem(http.StatusBadRequest, titleBadRequest, "Could not read the request body", x.look(0))
	}

	if a, ok := x.authenticate(); !ok {
		s.counters.unsigned.Add(1)
		return a
	}
	x.acct = s.account(x.rec.AccountSwitchKey)

	if rt.kind == routeStatus {
		id := newID(idPrefix(rt.typ))
		body := fmt.Appendf(nil, `{"httpStatus":201,"supportId":"%s","detail":"Request accepted"}`, id)
		return answer{status: http.StatusCreated, contentType: contentJSON, body: body, ad: x.look(1)}
	}

	if !jsonContentType(r.Header) {
		return x.problem(http.StatusUnsupportedMediaType, "unsupported media type",
			"Content-Type must be application/json", x.look(1))
	}
	if n > akamai.MaxBodyBytes {
		return x.problem(http.StatusRequestEntityTooLarge, "request entity too large",
			fmt.Sprintf("The request body exceeds the limit of %d bytes", akamai.MaxBodyBytes), x.look(1))
	}
	pb, br := parseBody(rt.typ, x.body)
	x.rec.Objects = len(pb.Objects)
	if br != nil {
		return x.problem(http.StatusBadRequest, br.title, br.detail, x.look(max(len(pb.Objects), 1)))
	}
	objects := len(pb.Objects)
	if obj, bad := s.faults.unauthorizedObject(pb.Objects); bad {
		return x.problem(http.StatusForbidden, unauthorizedTitle(rt.typ), obj, x.look(objects))
	}

	fault, faulty := s.faults.next(r, x.purgeRequest(pb))
	if faulty && !fault.Accept {
		if a := x.inject(fault, pb, objects); a.status != 0 || a.hang {
			return a
		}
		faulty = false // a delay only: the request goes on
	}

	ad := x.acct.admit(s.now, rt.typ, objects, true)
	switch ad.refused {
	case refusedRequests:
		s.counters.rateLimited.Add(1)
		return x.tooMany(ad, "Rate Limit exceeded", ad.reqBucket.capacity, 1, wholeTokens(ad.reqTokens),
			"No request token is available")
	case refusedObjects:
		s.counters.rateLimited.Add(1)
		detail := fmt.Sprintf("The request needs %d %s tokens; %d are available", objects, rt.typ, wholeTokens(ad.objTokens))
		if objects > ad.objBucket.capacity {
			detail = fmt.Sprintf("The request has %d objects but the %s bucket holds at most %d: it can never be accepted; split it",
				objects, rt.typ, ad.objBucket.capacity)
		}
		return x.tooMany(ad, strings.ToUpper(string(rt.typ))+" Rate Limit exceeded", ad.objBucket.capacity, objects,
			wholeTokens(ad.objTokens), detail)
	}

	id := newID(idPrefix(rt.typ))
	s.counters.purges.Add(1)
	s.counters.objects[typeIndex(rt.typ)].Add(int64(objects))
	s.records.addPurge(Purge{
		ID:               id,
		SupportID:        id,
		Action:           rt.action,
		Type:             rt.typ,
		Network:          rt.network,
		Objects:          pb.Objects,
		Hostname:         pb.Hostname,
		BodyBytes:        len(x.body),
		ReceivedAt:       x.rec.ReceivedAt,
		AccountSwitchKey: x.rec.AccountSwitchKey,
		AnswerLost:       faulty && fault.Accept && (fault.Hang || fault.Status != 0),
	})
	if faulty {
		a := x.inject(fault, pb, objects)
		a.purgeID = id
		if a.status != 0 || a.hang {
			return a
		}
	}
	body := make([]byte, 0, 128)
	body = append(body, `{"httpStatus":201,"estimatedSeconds":`...)
	body = strconv.AppendInt(body, int64(s.estimated), 10)
	body = append(body, `,"purgeId":"`...)
	body = append(body, id...)
	body = append(body, `","supportId":"`...)
	body = append(body, id...)
	body = append(body, `","detail":"Request accepted"}`...)
	return answer{status: http.StatusCreated, contentType: contentJSON, body: body, ad: ad, purgeID: id}
}

// look returns the buckets of the request's account and type without
// taking tokens; need is the number of object tokens the request would
// take, for X-Ratelimit-Seconds-To-Refresh-Limit-Objects.
func (x *exchange) look(need int) admission {
	return x.acct.admit(x.s.now, x.rt.typ, need, false)
}

func (x *exchange) purgeRequest(pb purgeBody) PurgeRequest {
	return PurgeRequest{
		Action:           x.rt.action,
		Type:             x.rt.typ,
		Network:          x.rt.network,
		Objects:          pb.Objects,
		Hostname:         pb.Hostname,
		AccountSwitchKey: x.rec.AccountSwitchKey,
	}
}

// readAtMost reads r into buf until EOF or buf is full and returns the
// bytes read. A body longer than buf is not read further.
func readAtMost(r io.Reader, buf []byte) (int, error) {
	n, err := io.ReadFull(r, buf)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = nil
	}
	return n, err
}

// unauthorizedTitle is Akamai's 403 title for type t.
func unauthorizedTitle(t akamai.Type) string {
	switch t {
	case akamai.TypeCPCode:
		return "unauthorized cpcode"
	case akamai.TypeTag:
		return "unauthorized tag"
	}
	return "unauthorized arl"
}

// purgeProblem is the problem body of Fast Purge errors.
type purgeProblem struct {
	SupportID                   string `json:"supportId"`
	Title                       string `json:"title"`
	HTTPStatus                  int    `json:"httpStatus"`
	Detail                      string `json:"detail"`
	DescribedBy                 string `json:"describedBy"`
	RateLimit                   *int   `json:"rateLimit,omitempty"`
	RateLimitCurrentRequestSize *int   `json:"rateLimitCurrentRequestSize,omitempty"`
	RateLimitRemaining          *int   `json:"rateLimitRemaining,omitempty"`
}

// gatewayProblem is the problem body of the EdgeGrid gateway, which
// refuses unauthenticated requests before Fast Purge sees them.
type gatewayProblem struct {
	Type        string `json:"type"`
	Title       string `json:"title"`
	Status      int    `json:"status"`
	Detail      string `json:"detail"`
	Instance    string `json:"instance"`
	Method      string `json:"method"`
	RequestID   string `json:"requestId"`
	RequestTime string `json:"requestTime"`
}

func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain structs of strings and ints always marshal
	}
	return b
}

// problem returns a Fast Purge error answer.
func (x *exchange) problem(status int, title, detail string, ad admission) answer {
	return answer{
		status:      status,
		title:       title,
		contentType: contentProblem,
		ad:          ad,
		body: marshal(purgeProblem{
			SupportID:   newID(idPrefix(x.rt.typ)),
			Title:       title,
			HTTPStatus:  status,
			Detail:      detail,
			DescribedBy: describedBy,
		}),
	}
}

// tooMany returns a 429 answer with the rate-limit members.
func (x *exchange) tooMany(ad admission, title string, limit, size, remaining int, detail string) answer {
	return answer{
		status:      http.StatusTooManyRequests,
		title:       title,
		contentType: contentProblem,
		ad:          ad,
		body: marshal(purgeProblem{
			SupportID:                   newID(idPrefix(x.rt.typ)),
			Title:                       title,
			HTTPStatus:                  http.StatusTooManyRequests,
			Detail:                      detail,
			DescribedBy:                 describedBy,
			RateLimit:                   &limit,
			RateLimitCurrentRequestSize: &size,
			RateLimitRemaining:          &remaining,
		}),
	}
}

// gateway returns an answer of the EdgeGrid gateway.
func (x *exchange) gateway(status int, typ, title, detail string) answer {
	scheme := "http"
	if x.r.TLS != nil {
		scheme = "https"
	}
	var rid [4]byte
	copy(rid[:], randomBytes(4))
	return answer{
		status:      status,
		title:       title,
		contentType: contentProblem,
		ad:          x.look(1),
		body: marshal(gatewayProblem{
			Type:        typ,
			Title:       title,
			Status:      status,
			Detail:      detail,
			Instance:    scheme + "://" + x.r.Host + x.r.RequestURI,
			Method:      x.r.Method,
			RequestID:   hex.EncodeToString(rid[:]),
			RequestTime: x.s.now().UTC().Format(time.RFC3339),
		}),
	}
}

// inject applies fault f to a valid purge request of objects objects.
func (x *exchange) inject(f Fault, pb purgeBody, objects int) answer {
	s := x.s
	if f.Delay > 0 {
		s.sleep(x.r.Context(), f.Delay)
	}
	if f.Hang || f.Status != 0 {
		s.counters.faults.Add(1)
	}
	switch {
	case f.Hang:
		s.hang(x.r.Context())
		return answer{hang: true, fault: true}
	case f.Status == 0:
		return answer{fault: true} // a delay only
	}
	var a answer
	switch f.Status {
	case http.StatusUnauthorized:
		a = x.gateway(f.Status, gatewayDeny, "Not authorized", "The signature does not match")
	case http.StatusForbidden:
		a = x.problem(f.Status, unauthorizedTitle(x.rt.typ), pb.Objects[0], x.look(objects))
	case http.StatusTooManyRequests:
		// Another client of the account has just emptied the request bucket.
		ad := x.look(objects)
		ad.reqTokens = 0
		a = x.tooMany(ad, "Rate Limit exceeded", ad.reqBucket.capacity, 1, 0, "No request token is available")
	case http.StatusInternalServerError:
		a = x.problem(f.Status, "internal error",
			"If problem persists over multiple requests, please contact Customer Care", x.look(objects))
	default:
		title := strings.ToLower(http.StatusText(f.Status))
		if title == "" {
			title = "error"
		}
		a = x.problem(f.Status, title, "Injected fault", x.look(objects))
	}
	a.fault = true
	return a
}
