package events

import (
	"fmt"
	"unicode/utf8"
)

// Limits of an event's metadata. Metadata rides along with the event and
// is copied into its result, so it is kept small: it labels an event, it
// does not carry content.
const (
	// MaxMetadataEntries is the most keys an event's metadata may have.
	MaxMetadataEntries = 64
	// MaxMetadataKeyBytes is the longest metadata key, in bytes.
	MaxMetadataKeyBytes = 128
	// MaxMetadataValueBytes is the longest metadata value, in bytes.
	MaxMetadataValueBytes = 1024
)

// CheckMetadata reports why m cannot be an event's metadata, or nil: at
// most MaxMetadataEntries keys, each 1 to MaxMetadataKeyBytes bytes, each
// value at most MaxMetadataValueBytes bytes, all valid UTF-8 (so that the
// JSON round trip keeps them exactly).
func CheckMetadata(m map[string]string) error {
	if len(m) > MaxMetadataEntries {
		return fmt.Errorf("metadata has %d keys, more than %d", len(m), MaxMetadataEntries)
	}
	// Of several bad entries, the first key in order is named, so that
	// the same event always gets the same reason.
	var err error
	var worst string
	for k, v := range m {
		if e := checkMetadataEntry(k, v); e != nil && (err == nil || k < worst) {
			err, worst = e, k
		}
	}
	return err
}

func checkMetadataEntry(k, v string) error {
	switch {
	case k == "":
		return fmt.Errorf("metadata key is empty")
	case len(k) > MaxMetadataKeyBytes:
		return fmt.Errorf("metadata key %.40q is %d bytes, more than %d", k, len(k), MaxMetadataKeyBytes)
	case len(v) > MaxMetadataValueBytes:
		return fmt.Errorf("metadata value of %q is %d bytes, more than %d", k, len(v), MaxMetadataValueBytes)
	case !utf8.ValidString(k) || !utf8.ValidString(v):
		return fmt.Errorf("metadata key %q or its value is not valid UTF-8", k)
	}
	return nil
}
