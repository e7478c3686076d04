package events

// EncodeForPublish is Publish's validation and encoding, for
// wire_test.go.
var EncodeForPublish = encodeForPublish
