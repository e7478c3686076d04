package events

import "testing"

func TestRedactPayload(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"no user info", `{"urls":["https://e.com/a@b"]}`, `{"urls":["https://e.com/a@b"]}`},
		{"password", `{"urls":["https://u:hunter2@e.com/a","https://e.com/b"]}`, `{"urls":["https://u:[redacted]@e.com/a","https://e.com/b"]}`},
		{"token", `{"urls":["https://hunter2@e.com/"]}`, `{"urls":["https://[redacted]@e.com/"]}`},
		{"escaped at sign", `{"urls":["https://u:hunter2\u0040e.com/"]}`, `{"urls":["https://u:[redacted]@e.com/"]}`},
		{"escaped quote before", `{"source":"a\"b","urls":["https://u:hunter2@e.com/"]}`, `{"source":"a\"b","urls":["https://u:[redacted]@e.com/"]}`},
		{"ARL", `{"urls":["/L/1/2/1d/u:hunter2@h.example.com/"]}`, `{"urls":["/L/1/2/1d/u:[redacted]@h.example.com/"]}`},
		{"other schemes kept", `{"urls":["https://e.com/"],"metadata":{"repo":"ssh://git@github.com/x"}}`, `{"urls":["https://e.com/"],"metadata":{"repo":"ssh://git@github.com/x"}}`},
		{"e-mail kept", `{"source":"ed@example.com","urls":["https://e.com/"]}`, `{"source":"ed@example.com","urls":["https://e.com/"]}`},
		{"not JSON", `urls: "https://u:hunter2@e.com/" and more`, `urls: "https://u:[redacted]@e.com/" and more`},
		{"unterminated string kept", `{"urls":["https://u:hunter2@e.com/`, `{"urls":["https://u:hunter2@e.com/`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(RedactPayload([]byte(tc.in))); got != tc.want {
				t.Errorf("RedactPayload(%s) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}
