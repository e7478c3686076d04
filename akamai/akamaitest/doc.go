// Package akamaitest provides a fake Akamai Fast Purge (CCU v3) server for
// tests, load tests and sandbox runs, in the spirit of net/http/httptest.
//
// NewServer starts a real HTTP server on 127.0.0.1 that accepts requests
// signed with EdgeGrid by the credentials it reports (Server.Credentials,
// whose Host is the listener's address), applies Akamai's token buckets and
// records what it accepted:
//
//	srv := akamaitest.NewServer(akamaitest.Options{TimeScale: 10})
//	defer srv.Close()
//	// point the client at srv.URL() with srv.Credentials()
//	... srv.Purges(), srv.PurgedObjects(akamai.TypeURL), srv.Stats()
//
// # Routes
//
//	POST /ccu/v3/{invalidate|delete}/{url|cpcode|tag}[/{staging|production}]
//	POST /ccu/v3/rate-limit-status/{url|cpcode|tag}
//
// Without a network segment a purge goes to production; a trailing slash or
// any other path is 404, another method on a known path 405 (Allow: POST).
// The optional query parameter accountSwitchKey selects the account whose
// buckets are used (each key has its own; no key is the default account).
// Any key is accepted.
//
// # Checks, in order
//
// Each request goes through these steps; the first that fails answers.
//
//  1. Route (404) and method (405), before authentication.
//  2. The body is read, at most max(Credentials.MaxBody, 50,001) bytes, so
//     that the signature can be checked and an oversized body recognised
//     without buffering unbounded input.
//  3. EdgeGrid, as Akamai's gateway does, with edgegrid.Verify and the
//     server's credentials: a missing or malformed Authorization header, an
//     unknown client or access token, or a signature that does not match
//     the request as received (method, scheme, Host, path and query as sent,
//     body hash) → 401 "Not authorized". A timestamp more than MaxSkew
//     (default ±30 s, as Akamai) from Now → 400 "Bad request" / "Invalid
//     timestamp": that is what Akamai answers, not 401, so a client must not
//     take every 400 for a bad object. A nonce already used by an accepted
//     signature whose timestamp is still within the window → 401 (nonces
//     are forgotten once their signature would be stale anyway, so memory
//     is bounded by one window of requests). These answers have the
//     gateway's problem shape: type, title, status, detail, instance,
//     method, requestId, requestTime.
//  4. rate-limit-status answers 201 here with the bucket headers; it needs
//     no Content-Type or body and takes no token.
//  5. Content-Type must be application/json (parameters such as charset
//     allowed) → else 415.
//  6. Body over 50,000 bytes (akamai.MaxBodyBytes) → 413; exactly 50,000 is
//     fine.
//  7. The body must be one JSON object with exactly the members Akamai's
//     schemas allow: "objects" (and, for url, "hostname"); unknown members,
//     trailing data, a missing, null or empty "objects", strings where CP
//     codes (JSON integers) are due or numbers where URLs or tags are → 400
//     "bad request".
//  8. Every object must be valid, or the whole request fails with 400
//     naming the first bad one in detail: URLs must be absolute http or
//     https URLs of printable ASCII without spaces ("bad URL"; non-ASCII is
//     refused, not percent-encoded, as Akamai does), or ARLs (/L/…, /=/…),
//     or, with "hostname" (which must be a host name: "bad URL hostname"),
//     paths starting with '/'; tags at most 128 characters from letters,
//     digits and !#$%'+-.^_`|~& ("bad tag"); CP codes positive ("bad
//     cpcode"). Validity follows akamai.NormalizeObject, except that the
//     server refuses what that function would repair.
//  9. Objects made unauthorised with Server.Unauthorized → 403
//     "unauthorized arl" (url requests, as Akamai titles it), "unauthorized
//     cpcode" or "unauthorized tag", the object as detail; the whole request
//     fails.
//  10. Injected faults (below) act here, on valid requests only.
//  11. Token buckets of the account: the request needs one request token
//     and one object token of its type per object. If either bucket is short
//     → 429 and no token is taken from either: title "Rate Limit exceeded"
//     (request bucket, checked first) or "URL Rate Limit exceeded",
//     "CPCODE Rate Limit exceeded", "TAG Rate Limit exceeded", with
//     rateLimit (capacity), rateLimitRemaining (whole tokens there) and
//     rateLimitCurrentRequestSize (1 or the object count). A request with
//     more objects than its bucket's capacity can never pass: it gets the
//     same 429, with rateLimitCurrentRequestSize > rateLimit and a detail
//     saying so (only tag and CP code requests can be that large within
//     50,000 bytes).
//  12. Accepted → the Purge is recorded and 201 {"httpStatus":201,
//     "estimatedSeconds":5,"purgeId":"edup-<uuid>","supportId":
//     "edup-<uuid>","detail":"Request accepted"} (edcp- for CP codes, edtp-
//     for tags; purgeId equals supportId).
//
// Success bodies are application/json; every error body is
// application/problem+json with supportId, title, httpStatus, detail and
// describedBy, as in Akamai's examples (the gateway's shape for step 3).
//
// # Rate-limit headers
//
// Every response carries X-Ratelimit-Limit, X-Ratelimit-Remaining,
// X-Ratelimit-Limit-Per-Second and X-Ratelimit-Seconds-To-Refresh-Limit for
// the account's request bucket and, when the path names a type, the same
// four with -Objects appended for that type's bucket, after the request's
// effect. Remaining is whole tokens; Limit-Per-Second is the effective
// refill rate (nominal × TimeScale) with two decimals ("50.00", "0.50" for
// CP codes, "8.33" for tags). Seconds-To-Refresh-Limit is the time until the
// request bucket holds one token, Seconds-To-Refresh-Limit-Objects the time
// until the object bucket holds as many tokens as this request has objects
// (one for requests without objects; at most the capacity, so that a
// request too large for the bucket gets the time until it is full); both
// are in seconds of the server's clock, rounded up to the hundredth, 0.00
// when the tokens are there. After a 429 they say when the same request
// would pass, barring other clients. An injected 429 reports an empty
// request bucket.
//
// # Buckets and time
//
// Buckets start full and refill continuously (golang.org/x/time/rate):
// requests 100 / 50 per second, URL 10,000 / 200 per second, CP code 300 /
// 30 per minute, tag 5,000 / 500 per minute (DefaultBuckets), per account.
// Options.Buckets changes sizes; Buckets.Disabled turns limits off.
// Options.TimeScale multiplies refill rates only: with TimeScale 10 a bucket
// refills ten times faster, capacities unchanged, so traffic that takes N
// seconds against Akamai takes N/10 seconds here, and a pacer configured
// with rates × TimeScale should match it exactly. Options.Now replaces the
// clock of buckets, timestamps, nonces and records, for exact tests; the
// signer must then use the same clock. SpendTokens spends an account's
// tokens as another client of the account would; Tokens reads them.
//
// # Faults
//
// Faults apply only to purge requests that passed steps 1 to 9, so they
// never hide a client's mistake, and, unless Fault.Accept is set, they take
// no token and record no purge:
//
//   - FailNext(n, status): the next n answer status with a realistic body
//     (500 "internal error", 429 with the rate-limit members, 403 naming the
//     first object, 401 in the gateway's shape, others titled by their
//     status text).
//   - HangNext(n): the next n get no answer until the client gives up, the
//     server closes or ReleaseHangs; then the connection is dropped.
//   - InjectNext(n, Fault): any Fault, including Fault.Accept (purged, then
//     the answer is replaced or lost: Purge.AnswerLost) and Fault.Delay.
//   - SetFaultFunc(f): f decides per request.
//   - SetFaultRate(p, seed, faults...): random storms, reproducible by seed.
//   - SetLatency(d): every answer, on every route, is delayed by d.
//   - Unauthorized(objects...): step 9.
//
// Queued faults come first, then the FaultFunc, then the random rate.
//
// # Records
//
// Purges lists accepted purges, Requests every request with its status
// (0 for a hung one), Stats counts by status, objects, 429s, faults and
// authentication failures; Options.MaxRecords bounds the records of a
// long-running server. Reset empties records and stats, refills the buckets
// and removes faults. The Server is an http.Handler too (New builds one that
// does not listen). All methods are safe for concurrent use.
package akamaitest
