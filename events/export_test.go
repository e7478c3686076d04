package events

// For decode_fast_test.go.
var (
	DecodeFast = decodeFast
	PeekLabels = peekLabels
)
