package events

import (
	"bytes"
	"errors"
	"io"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// wireOptions are the options of everything this package encodes. With
// them, github.com/go-json-experiment/json (encoding/json/v2 to be)
// writes what encoding/json wrote before it (encode_test.go holds
// encoding/json as the reference): invalid UTF-8 as U+FFFD, U+2028 and
// U+2029 escaped, map keys sorted, and map keys that only invalid UTF-8
// told apart written each (no decoded event has such keys). No HTML
// escaping and nil slices as [] are its defaults. Decoding uses the
// library's defaults (see unmarshal).
var wireOptions = json.JoinOptions(
	jsontext.AllowInvalidUTF8(true),
	jsontext.EscapeForJS(true),
	json.Deterministic(true),
	jsontext.AllowDuplicateNames(true),
)

// marshal encodes v compactly with wireOptions: one line, URLs with &
// readable.
func marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v, wireOptions)
	if err != nil {
		return nil, err // not the part written before the error
	}
	return b, nil
}

// errTrailingData reports data after the one JSON value a message holds.
var errTrailingData = errors.New("data after the event object")

// unmarshal decodes the one JSON value of data into v. The library's
// defaults are the wire contract: object names match exactly, unknown
// ones are ignored, a name twice in one object is refused (its value
// would be ambiguous: encoding/json took the last, other decoders the
// first), and so is anything after the value. Trailing data is reported
// as errTrailingData, v holding the value before it.
func unmarshal(data []byte, v any) error {
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	// Unmarshal reports trailing data as a syntax error at its first
	// byte; tell it apart by decoding the first value alone. This is the
	// error path only.
	dec := jsontext.NewDecoder(bytes.NewReader(data))
	if json.UnmarshalDecode(dec, v) == nil {
		if _, err := dec.ReadToken(); err != io.EOF {
			return errTrailingData
		}
	}
	return err
}

// duplicateName returns the JSON pointer of the member that err refuses
// as a repeated name, if that is err's reason.
func duplicateName(err error) (string, bool) {
	var se *jsontext.SyntacticError
	if errors.As(err, &se) && errors.Is(se.Err, jsontext.ErrDuplicateName) {
		return string(se.JSONPointer), true
	}
	var me *json.SemanticError
	if errors.As(err, &me) && errors.Is(me.Err, jsontext.ErrDuplicateName) {
		return string(me.JSONPointer), true
	}
	return "", false
}
