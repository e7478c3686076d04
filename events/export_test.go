package events

// For decode_fast_test.go.
var (
	DecodeFast = decodeFast
	PeekLabels = peekLabels
	// EncodeForPublish is Publish's validation and encoding, for
	// wire_test.go.
	EncodeForPublish = encodeForPublish
)
