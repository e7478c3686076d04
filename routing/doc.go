// Package routing decides which Akamai account purges each object of a
// content-changed event, and enforces the guard rails around purging: an
// allow-list, a per-event object limit and per-source quotas.
//
// A Config, usually loaded from a YAML file with Load, names the accounts
// and the routes to them. NewRouter compiles it into a Router, whose
// Route (or RouteKeyed) method turns one normalized event into a
// Decision: the objects to purge, grouped by account and type, and the
// objects refused, each with a Reason (NoRoute, NotAllowed,
// QuotaExceeded, TooManyObjects) and a message. Decision.Failures renders
// the refusals as the failures of a result; Decision.Err as errors.
//
// # Configuration
//
// The file is YAML, decoded strictly: an unknown field, a value of the
// wrong type or a repeated key is an error naming its line, and so is
// every problem Validate finds (a route to an unknown account, a bad or
// repeated pattern, a negative limit, ...). A full example:
//
//	# Akamai accounts, by name (letters, digits, '.', '-', '_').
//	accounts:
//	  main:
//	    edgerc_section: ccu            # .edgerc section of the account's API client
//	    # edgerc: /etc/purgebus/edgerc # default: --edgerc, $AKAMAI_EDGERC, ~/.edgerc
//	  shop:
//	    edgerc_section: ccu-shop
//	    account_key: 1-ABCDE:1-23456   # account switch key, if the client needs one
//	    limits:                        # the account's Fast Purge token buckets, if not
//	      requests: {capacity: 100, per_second: 50}    # Akamai's defaults (these)
//	      url: {capacity: 10000, per_second: 200}
//	      tag: {capacity: 5000, per_second: 8.333}
//	      cpcode: {capacity: 300, per_second: 0.5}
//	    max_objects:                   # objects per purge request, by type (default:
//	      url: 2000                    # akamai.DefaultMaxObjects, the buckets' capacity)
//
//	# URLs go to the account of the most specific pattern matching their host.
//	routes:
//	  - hosts: ["example.com", "www.example.com", "*.static.example.com"]
//	    account: main
//	    # A flood of these URLs that would wait over 30 s at the URL refill
//	    # rate is purged by its CP code (or tag: site-www), at most 4 times
//	    # an hour; without escalate, never.
//	    escalate: {cpcode: 345678, after: 30s, max_per_hour: 4}
//	  - hosts: ["shop.example.com", "*.shop.example.net"]
//	    account: shop
//	  - hosts: ["*"]                   # every other host; without it, no_route
//	    account: main
//
//	# Cache tags: exact ("cart") or prefix ("shop-*") patterns, case-sensitive.
//	tags:
//	  default_account: main            # tags no route matches; without it, no_route
//	  routes:
//	    - tags: ["shop-*", "cart"]
//	      account: shop
//
//	# CP codes: listed codes, else the default account.
//	cpcodes:
//	  default_account: main
//	  routes:
//	    - cpcodes: [123456, 234567]
//	      account: shop
//
//	# Allow-lists. A missing list allows everything of its type; [] allows nothing.
//	allow:
//	  hosts: ["example.com", "*.example.com", "*.example.net"]
//	  cpcodes: [123456, 234567, 345678]
//
//	# Per-source quotas, in objects (after the allow-list and routes).
//	quotas:
//	  per_source_objects_per_minute: 6000 # every source not listed; absent: unlimited
//	  burst: 2000                      # default: a minute's worth
//	  sources:
//	    cms: 60000                     # objects per minute; burst a minute's worth
//	    bulk-import: {objects_per_minute: 1200, burst: 100}
//	  over_quota: defer                # defer (default) or reject
//	  max_delay: 10m                   # defer at most this long, else refuse
//	  # max_sources: 10000             # unlisted sources tracked at once
//	  # max_tracked_events: 100000     # events remembered to charge them once
//
//	# Refuse events that name more objects than this (absent or 0: no limit).
//	max_objects_per_event: 5000
//
// Without a file, Default applies: one account, "default", whose
// credentials come from the command line and environment, purging every
// object. When a file names exactly one account, absent routes and
// default accounts mean that account too.
//
// # Escalation
//
// A route with escalate names a CP code or cache tag that covers all its
// URLs. Package handler purges that one object instead of the URLs when
// they flood: see handler.Escalation. The covering object must be allowed
// by allow:, or the configuration is refused. Each escalating route's URLs
// make a Group of their own, with Group.Route set.
//
// # Matching
//
// A host pattern is "www.example.com" (that host), "*.example.com" (any
// subdomain of example.com, at any depth, but not example.com itself) or
// "*" (any host). Matching ignores case and the URL's port. The most
// specific pattern wins, whatever the order of the routes: an exact host,
// then the wildcard with the longest name, then "*"; a pattern may appear
// in one route only. An ARL ("/L/512/6848/1h/www.example.com/a.jpg")
// matches by the origin host in it. A URL whose host is not a plain host
// name (one with userinfo, an IPv6 literal or percent-encoding) matches
// only "*".
//
// Tag patterns work alike: an exact tag wins over a prefix, and a longer
// prefix over a shorter one.
//
// # Decisions
//
// An event that names more than max_objects_per_event objects is refused
// whole (TooManyObjects). Otherwise each object that is not allow-listed
// is refused (NotAllowed), then each that no route gives an account
// (NoRoute). These refusals are final: the caller purges the rest and
// reports the refused objects as failures of the event's result.
//
// The objects left are charged to the quota of the event's source. An
// event whose source is over quota is deferred, not refused, as long as
// its source's bucket will hold its objects within max_delay: the
// Decision has Retry set and nothing else, and the caller hands the event
// back to be delivered again after RetryAfter (a JetStream nak with that
// delay). The event reserves its tokens at once and is remembered, so it
// passes when it comes back without being charged again, and a source's
// deferred events come back one after the other at the quota's pace
// rather than all at once. An event that would have to wait longer than
// max_delay is refused (QuotaExceeded), as is every over-quota event when
// over_quota is reject; a refused event should be dead-lettered, from
// where it can be replayed. So a burst is smoothed and loses nothing,
// while a flood is cut off once it has built max_delay worth of backlog.
//
// Quotas are per Router, that is per consumer process: with several
// replicas, each grants the quota. Sources are what events claim to be;
// quotas contain runaway publishers, not hostile ones.
package routing
