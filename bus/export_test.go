package bus

// SubjectCovers exposes subjectCovers to the tests.
var SubjectCovers = subjectCovers
