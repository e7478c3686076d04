package akamaitest

import (
	"encoding/json"
	"testing"

	"github.com/purgebus/purgebus/akamai"
)

func BenchmarkTmpDecodeStrict(b *testing.B) {
	payload := urlBody(200)
	for b.Loop() {
		var j urlJSON
		if err := decodeStrict(payload, &j); err != nil {
			b.Fatal(err)
		}
	}
}
func BenchmarkTmpUnmarshal(b *testing.B) {
	payload := urlBody(200)
	for b.Loop() {
		var j urlJSON
		if err := json.Unmarshal(payload, &j); err != nil {
			b.Fatal(err)
		}
	}
}
func BenchmarkTmpParseBody(b *testing.B) {
	payload := urlBody(200)
	for b.Loop() {
		parseBody(akamai.TypeURL, payload)
	}
}
func BenchmarkTmpNormalize(b *testing.B) {
	u := urls(200)
	for b.Loop() {
		for _, x := range u {
			validateURL("", x)
		}
	}
}
