package akamai

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// MaxBodyBytes is the largest request body Akamai accepts; a larger one is
// refused with 413.
const MaxBodyBytes = 50000

// bodyOverhead is the size of the empty body {"objects":[]}.
const bodyOverhead = len(`{"objects":[]}`)

// DefaultMaxObjects is the default cap on objects per request for each type:
// the capacity of that type's token bucket, since a larger request could
// never be accepted.
var DefaultMaxObjects = map[Type]int{
	TypeURL:    10000,
	TypeCPCode: 300,
	TypeTag:    5000,
}

// EncodedSize returns the number of bytes obj adds to a request body of
// type t, without the separating comma. Objects must already be normalized.
func EncodedSize(t Type, obj string) int {
	if t == TypeCPCode {
		return len(obj)
	}
	return encodedStringSize(obj)
}

// encodedStringSize is the length of s as a JSON string without HTML
// escaping, which is how request bodies are encoded.
func encodedStringSize(s string) int {
	if plainJSON(s) {
		return len(s) + 2
	}
	return len(appendSlowJSON(nil, s))
}

// plainJSON reports whether s encodes as itself between quotes. Validated
// URLs and tags always do, so the hot path avoids encoding/json.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func appendSlowJSON(dst []byte, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // encoding a string cannot fail
	return append(dst, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}

func appendObject(dst []byte, t Type, obj string) []byte {
	if t == TypeCPCode {
		return append(dst, obj...)
	}
	if plainJSON(obj) {
		dst = append(dst, '"')
		dst = append(dst, obj...)
		return append(dst, '"')
	}
	return appendSlowJSON(dst, obj)
}

// EncodeBody returns the request body for objects of type t:
// {"objects":[…]}, with CP codes as JSON integers and no HTML escaping.
// Objects must already be normalized (see NormalizeObject).
func EncodeBody(t Type, objects []string) []byte {
	size := bodyOverhead
	for i, o := range objects {
		if i > 0 {
			size++
		}
		size += EncodedSize(t, o)
	}
	b := make([]byte, 0, size)
	b = append(b, `{"objects":[`...)
	for i, o := range objects {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendObject(b, t, o)
	}
	return append(b, "]}"...)
}

// Batch accumulates objects of one type for a single request, tracking the
// exact size of the body they encode to.
type Batch struct {
	typ        Type
	maxObjects int
	maxBytes   int
	objects    []string
	size       int
}

// NewBatch returns an empty batch for objects of type t that holds at most
// maxObjects objects (DefaultMaxObjects[t] when maxObjects <= 0) and
// MaxBodyBytes of body.
func NewBatch(t Type, maxObjects int) *Batch {
	if maxObjects <= 0 {
		maxObjects = DefaultMaxObjects[t]
	}
	return &Batch{typ: t, maxObjects: maxObjects, maxBytes: MaxBodyBytes, size: bodyOverhead}
}

// Fits reports whether obj can be added without exceeding either limit.
func (b *Batch) Fits(obj string) bool {
	return b.fitsSize(EncodedSize(b.typ, obj))
}

func (b *Batch) fitsSize(n int) bool {
	if len(b.objects) >= b.maxObjects {
		return false
	}
	if len(b.objects) > 0 {
		n++ // the comma
	}
	return b.size+n <= b.maxBytes
}

// Add appends obj and reports true, or reports false and leaves the batch
// unchanged when obj does not fit.
func (b *Batch) Add(obj string) bool {
	n := EncodedSize(b.typ, obj)
	if !b.fitsSize(n) {
		return false
	}
	if len(b.objects) > 0 {
		n++
	}
	b.objects = append(b.objects, obj)
	b.size += n
	return true
}

// Type returns the batch's object type.
func (b *Batch) Type() Type { return b.typ }

// Len returns the number of objects in the batch.
func (b *Batch) Len() int { return len(b.objects) }

// Size returns the exact size in bytes of the batch's encoded body.
func (b *Batch) Size() int { return b.size }

// Full reports whether the batch can take no more objects at all, or no
// more of the smallest possible size.
func (b *Batch) Full() bool {
	return len(b.objects) >= b.maxObjects || b.size+1+minObjectBytes(b.typ) > b.maxBytes
}

// Objects returns the batch's objects. The slice is the batch's own.
func (b *Batch) Objects() []string { return b.objects }

// Body returns the encoded request body.
func (b *Batch) Body() []byte { return EncodeBody(b.typ, b.objects) }

func minObjectBytes(t Type) int {
	switch t {
	case TypeCPCode:
		return 1
	case TypeTag:
		return 3 // "x"
	}
	return len(`"http://a"`)
}

// Pack splits objects of type t into request-sized groups, in order: each
// group encodes to at most MaxBodyBytes and holds at most maxObjects objects
// (DefaultMaxObjects[t] when maxObjects <= 0). Objects must be normalized; an
// object too large for any request is an error.
func Pack(t Type, objects []string, maxObjects int) ([][]string, error) {
	var groups [][]string
	b := NewBatch(t, maxObjects)
	for _, o := range objects {
		if b.Add(o) {
			continue
		}
		if b.Len() == 0 {
			return nil, &InvalidObjectError{Type: t, Object: o, Reason: fmt.Sprintf("does not fit a %d-byte request body", MaxBodyBytes)}
		}
		groups = append(groups, b.Objects())
		b = NewBatch(t, maxObjects)
		if !b.Add(o) {
			return nil, &InvalidObjectError{Type: t, Object: o, Reason: fmt.Sprintf("does not fit a %d-byte request body", MaxBodyBytes)}
		}
	}
	if b.Len() > 0 {
		groups = append(groups, b.Objects())
	}
	return groups, nil
}
