package events

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/purgebus/purgebus/akamai"
)

// RedactPayload returns payload with the password of every URL object in
// its JSON strings that carries user info replaced by "[redacted]", as
// the object's error shows it (see akamai.RedactUserinfo), and payload
// itself when there is none. Such URLs are invalid objects: their dead
// letter keeps the event for inspection and replay, but must not keep the
// credentials. Other strings (an "ssh://git@host" in metadata) are kept.
// It works on any bytes, valid JSON or not, and finds URLs however their
// strings escape them ("\u0040" for '@').
func RedactPayload(payload []byte) []byte {
	if !bytes.Contains(payload, []byte("@")) && !bytes.Contains(payload, []byte(`\u`)) {
		return payload
	}
	var out []byte
	done := 0 // payload[:done] is in out, or unchanged when out is nil
	for i := 0; i < len(payload); i++ {
		if payload[i] != '"' {
			continue
		}
		end := i + 1
		for end < len(payload) && payload[end] != '"' {
			if payload[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(payload) {
			break
		}
		var s string
		if json.Unmarshal(payload[i:end+1], &s) == nil {
			if r := redactURLObject(s); r != s {
				enc, err := json.Marshal(r)
				if err == nil {
					out = append(append(out, payload[done:i]...), enc...)
					done = end + 1
				}
			}
		}
		i = end
	}
	if out == nil {
		return payload
	}
	return append(out, payload[done:]...)
}

// redactURLObject is s as an error about it shows it: with its password
// redacted when s is a URL object refused for its user info.
func redactURLObject(s string) string {
	_, err := akamai.NormalizeObject(akamai.TypeURL, s)
	var ie *akamai.InvalidObjectError
	if errors.As(err, &ie) {
		return ie.Object
	}
	return s
}
