package consumer

import "testing"

func TestRedactURLs(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                   "nats://127.0.0.1:4222",
		"nats://user:pw@a:4222,nats://tok@b:4222": "nats://[redacted]@a:4222,nats://[redacted]@b:4222",
		"tls://u:p@ss@host:4222":                  "tls://[redacted]@host:4222",
		"":                                        "",
	} {
		if got := RedactURLs(in); got != want {
			t.Errorf("RedactURLs(%q) = %q, want %q", in, got, want)
		}
	}
}
