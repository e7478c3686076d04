package bus

// SubjectCovers exposes subjectCovers to the tests.
var SubjectCovers = subjectCovers

// NewPublisherTimeouts is NewPublisher with the acknowledgement timeout
// and the wait before a retry set, for tests that lose acknowledgements.
var NewPublisherTimeouts = newPublisher

// RetryTransientWithin is RetryTransient with its patience and the
// deadline of each attempt set.
var RetryTransientWithin = retryTransient
