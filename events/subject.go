package events

import "strings"

// Subjects and stream names of the wire contract.
const (
	// SubjectContentChanged is the subject content-changed events are
	// published to; subjects below it ("content.changed.blog") work too.
	SubjectContentChanged = "content.changed"
	// SubjectResults is the prefix of every result subject.
	SubjectResults = "purge.result"
	// SubjectDeadLetters is the prefix of every dead-letter subject.
	SubjectDeadLetters = "purge.deadletter"

	// DefaultContentStream is the default name of the stream that captures
	// content-changed events.
	DefaultContentStream = "CONTENT"
	// DefaultResultStream is the default name of the results stream.
	DefaultResultStream = "PURGE_RESULTS"
	// DefaultDeadLetterStream is the default name of the dead-letter stream.
	DefaultDeadLetterStream = "PURGE_DEADLETTER"
)

// ContentSubjects are the subjects the content stream captures.
var ContentSubjects = []string{SubjectContentChanged, SubjectContentChanged + ".>"}

// ResultSubject returns the subject of the result for event id with the
// given outcome.
func ResultSubject(outcome Outcome, id string) string {
	return SubjectResults + "." + string(outcome) + "." + id
}

// ResultFilter returns the subject filter that matches event id's result
// whatever its outcome.
func ResultFilter(id string) string {
	return SubjectResults + ".*." + id
}

// DeadLetterSubject returns the dead-letter subject for event id.
func DeadLetterSubject(id string) string {
	return SubjectDeadLetters + "." + id
}

// MaxIDLength is the longest event ID accepted.
const MaxIDLength = 128

// ValidID reports whether id can name an event: it becomes a single NATS
// subject token, so it must be 1 to MaxIDLength characters from letters,
// digits and "-_:=+".
func ValidID(id string) bool {
	if id == "" || len(id) > MaxIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-_:=+", c) >= 0:
		default:
			return false
		}
	}
	return true
}
