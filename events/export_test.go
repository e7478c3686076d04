package events

import "unicode/utf8"

// EncodeForPublish is Publish's validation and encoding, for
// wire_test.go.
var EncodeForPublish = encodeForPublish

// For decode_fast_test.go.
var (
	DecodeFast = decodeFast
	Unmarshal  = unmarshal
)

// DecodeLibrary is Decode without its fast path.
func DecodeLibrary(data []byte, maxBytes int) (ContentChanged, error) {
	var e ContentChanged
	if maxBytes <= 0 {
		maxBytes = DefaultMaxEventBytes
	}
	if len(data) > maxBytes {
		return Decode(data, maxBytes) // refused before any decoding
	}
	if !utf8.Valid(data) {
		return Decode(data, maxBytes)
	}
	return decodeLibrary(data, e)
}
