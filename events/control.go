package events

// IsControl reports whether data, the body of a message on a result
// subject, is a control message rather than a result: it is empty. A
// publisher that stores results in fast batches may send one on the
// subject of a result (a ping after a lost flow acknowledgement, or an
// end-of-batch commit), which the stream does not store but core NATS
// subscribers of purge.result.> receive. Readers of results skip it.
func IsControl(data []byte) bool { return len(data) == 0 }
