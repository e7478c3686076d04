package events

import (
	"time"

	"github.com/purgebus/purgebus/akamai"
)

// URLer is anything that knows its absolute URL, like a Django model with
// get_absolute_url().
//
// It is akamai.URLer, so one model type serves both the bus and a direct
// akamai.PurgeRequest.
type URLer = akamai.URLer

// NewContentChanged returns an empty invalidate-on-production event that
// occurred now; add objects with its Add methods.
func NewContentChanged(source string) *ContentChanged {
	return &ContentChanged{Source: source, OccurredAt: time.Now().UTC()}
}

// AddURLs adds URLs to the event and returns it.
func (e *ContentChanged) AddURLs(urls ...string) *ContentChanged {
	e.URLs = append(e.URLs, urls...)
	return e
}

// AddObjects adds the absolute URLs of objs to the event and returns it.
func (e *ContentChanged) AddObjects(objs ...URLer) *ContentChanged {
	for _, o := range objs {
		e.URLs = append(e.URLs, o.AbsoluteURL())
	}
	return e
}

// AddTags adds cache tags to the event and returns it.
func (e *ContentChanged) AddTags(tags ...string) *ContentChanged {
	e.Tags = append(e.Tags, tags...)
	return e
}

// AddCPCodes adds CP codes to the event and returns it.
func (e *ContentChanged) AddCPCodes(codes ...int64) *ContentChanged {
	e.CPCodes = append(e.CPCodes, codes...)
	return e
}

// WithAction sets the purge action and returns the event.
func (e *ContentChanged) WithAction(a akamai.Action) *ContentChanged {
	e.Action = a
	return e
}

// WithNetwork sets the network and returns the event.
func (e *ContentChanged) WithNetwork(n akamai.Network) *ContentChanged {
	e.Network = n
	return e
}

// AddAll adds the absolute URL of every element of objs, a slice of any
// URLer type (Django's QuerySet), to e and returns e.
func AddAll[T URLer](e *ContentChanged, objs []T) *ContentChanged {
	for _, o := range objs {
		e.URLs = append(e.URLs, o.AbsoluteURL())
	}
	return e
}

// WithMetadata sets the metadata key to value and returns the event. The
// consumer echoes metadata in the event's result.
func (e *ContentChanged) WithMetadata(key, value string) *ContentChanged {
	if e.Metadata == nil {
		e.Metadata = make(map[string]string)
	}
	e.Metadata[key] = value
	return e
}
