package akamai

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
)

// URLer is implemented by values that know their absolute URL, as Django
// models do with get_absolute_url.
type URLer interface {
	AbsoluteURL() string
}

// PurgeRequest collects objects to purge and sends them in as few requests
// as fit, in the spirit of django-akamai's PurgeRequest. Objects are
// validated as they are added and stay pending until a request carrying
// them is accepted. A PurgeRequest is not safe for concurrent use.
type PurgeRequest struct {
	client  *Client
	op      operation
	err     error // from validating op
	pending []string
}

// NewPurgeRequest returns an empty PurgeRequest that purges with c. A zero
// action, type or network means ActionInvalidate, TypeURL or
// NetworkProduction; an unknown one makes every method return an error
// wrapping ErrInvalidRequest.
func NewPurgeRequest(c *Client, action Action, t Type, network Network) *PurgeRequest {
	if t == "" {
		t = TypeURL
	}
	op, err := Request{Action: action, Type: t, Network: network}.operation()
	return &PurgeRequest{client: c, op: op, err: err}
}

// Add adds objects to purge. Each item is a string, a URLer, a *url.URL,
// an integer (a CP code) or a slice or array of such items, nested to any
// depth. If an item is of any other type, Add returns an error wrapping
// ErrInvalidRequest and adds nothing. Otherwise it adds every valid object
// and returns an *InvalidObjectsError listing the invalid ones, if any.
func (pr *PurgeRequest) Add(items ...any) error {
	if pr.err != nil {
		return pr.err
	}
	var objects []string
	for _, it := range items {
		var err error
		if objects, err = appendItem(objects, it); err != nil {
			return err
		}
	}
	return pr.addStrings(objects)
}

// AddURLers adds the absolute URLs of items to pr, like pr.Add but without
// reflection.
func AddURLers[T URLer](pr *PurgeRequest, items []T) error {
	if pr.err != nil {
		return pr.err
	}
	objects := make([]string, len(items))
	for i, it := range items {
		objects[i] = it.AbsoluteURL()
	}
	return pr.addStrings(objects)
}

func (pr *PurgeRequest) addStrings(objects []string) error {
	valid, invalid := normalizeObjects(pr.op.typ, objects)
	pr.pending = append(pr.pending, valid...)
	if len(invalid) > 0 {
		return &InvalidObjectsError{Objects: invalid}
	}
	return nil
}

// appendItem appends the objects that item stands for to dst.
func appendItem(dst []string, item any) ([]string, error) {
	switch v := item.(type) {
	case string:
		return append(dst, v), nil
	case []string:
		return append(dst, v...), nil
	case *url.URL:
		if v != nil {
			return append(dst, v.String()), nil
		}
	case URLer:
		if rv := reflect.ValueOf(v); rv.Kind() != reflect.Pointer || !rv.IsNil() {
			return append(dst, v.AbsoluteURL()), nil
		}
	default:
		rv := reflect.ValueOf(item)
		switch rv.Kind() {
		case reflect.String:
			return append(dst, rv.String()), nil
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return append(dst, strconv.FormatInt(rv.Int(), 10)), nil
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			return append(dst, strconv.FormatUint(rv.Uint(), 10)), nil
		case reflect.Slice, reflect.Array:
			var err error
			for i := range rv.Len() {
				if dst, err = appendItem(dst, rv.Index(i).Interface()); err != nil {
					return nil, err
				}
			}
			return dst, nil
		}
	}
	return nil, fmt.Errorf("%w: cannot purge a %T: want a string, URLer, *url.URL, integer or a slice of them", ErrInvalidRequest, item)
}

// Pending returns the number of objects not yet purged.
func (pr *PurgeRequest) Pending() int { return len(pr.pending) }

// Purge sends one request with as many pending objects, in the order they
// were added, as fit one request, and removes them from the pending ones
// if Akamai accepts it. With nothing pending it returns ErrNoObjects.
func (pr *PurgeRequest) Purge(ctx context.Context) (*Result, error) {
	if pr.err != nil {
		return nil, pr.err
	}
	b := NewBatch(pr.op.typ, pr.client.MaxObjects(pr.op.typ))
	n := 0
	for _, o := range pr.pending {
		if !b.Add(o) {
			break
		}
		n++
	}
	r, err := pr.client.send(ctx, pr.op, pr.pending[:n:n])
	if err != nil {
		return nil, err
	}
	pr.pending = pr.pending[n:]
	if len(pr.pending) == 0 {
		pr.pending = nil
	}
	return r, nil
}

// PurgeAll purges until nothing is pending or a request fails, and returns
// the results so far and the error. The objects of the failed request and
// of those not sent stay pending.
func (pr *PurgeRequest) PurgeAll(ctx context.Context) ([]*Result, error) {
	var results []*Result
	for pr.Pending() > 0 {
		r, err := pr.Purge(ctx)
		if err != nil {
			return results, err
		}
		results = append(results, r)
	}
	return results, pr.err
}
