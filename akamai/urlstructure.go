package akamai

import (
	"strconv"
	"strings"
)

// structureProblem reports why a URL cannot name an object in Akamai's
// cache, or "": rest is the URL after its scheme's "://" (or an ARL after
// its fields), and rest[:hostEnd] its host. redact says that the URL
// carries credentials, which the error must not repeat.
//
// Akamai's cache key is the host, path and query. User info is never part
// of it (and purging it would carry a password into the purge request and
// the result events); a fragment never leaves the browser, so a URL with
// one names the same object as without it, which is seldom what its
// publisher meant (a "/#/news" route purges the home page); a port that
// is not one, or a '%' that starts no escape, makes a URL that no client
// requests.
func structureProblem(rest string, hostEnd int) (reason string, redact bool) {
	authority := rest
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority = rest[:i]
	}
	if strings.IndexByte(authority, '@') >= 0 {
		return "user info (user:password@) in URL: Akamai purges by host, path and query, and credentials must not travel with a purge", true
	}
	if reason := portProblem(rest[:hostEnd]); reason != "" {
		return reason, false
	}
	for i := 0; i < len(rest); i++ {
		switch rest[i] {
		case '%':
			if i+2 >= len(rest) || !isHex(rest[i+1]) || !isHex(rest[i+2]) {
				end := min(i+3, len(rest))
				return "invalid percent-escape " + strconv.Quote(rest[i:end]) + ": '%' must start %XX with two hexadecimal digits (write a literal '%' as %25)", false
			}
		case '#':
			return "fragment (#…) in URL: it never reaches the CDN, so the URL without it is what would be purged; remove it", false
		}
	}
	return "", false
}

// portProblem checks the port of host, if it has one: host:port or
// [IPv6]:port.
func portProblem(host string) string {
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return "IPv6 host without its closing ']'"
		}
		host = host[end+1:]
		if host == "" {
			return ""
		}
		if host[0] != ':' {
			return "characters after an IPv6 host's ']' that are not a port"
		}
		host = "x" + host
	}
	i := strings.IndexByte(host, ':')
	if i < 0 {
		return ""
	}
	port := host[i+1:]
	if port == "" {
		// RFC 3986 allows it: the scheme's default port.
		return ""
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 || !digits(port) {
		return "invalid port " + strconv.Quote(port) + ": a port is a number from 1 to 65535"
	}
	return ""
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// RedactUserinfo returns s with the password of a URL's (or an ARL's) user
// info replaced by "[redacted]" (the whole user info when it has no
// password, as it may be a token), so that an error or a dead letter can
// show which URL was refused without repeating its credentials. Other
// strings are returned as they are.
func RedactUserinfo(s string) string {
	if isARL(s) {
		if n, reason := arlPrefix(s); reason == "" {
			return s[:n] + redactAuthority(s[n:])
		}
	}
	schemeEnd := strings.Index(s, "://")
	if schemeEnd < 0 {
		return s
	}
	return s[:schemeEnd+3] + redactAuthority(s[schemeEnd+3:])
}

// redactAuthority is RedactUserinfo for what follows a URL's "://" or an
// ARL's fields.
func redactAuthority(rest string) string {
	authority := rest
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority = rest[:i]
	}
	at := strings.LastIndexByte(authority, '@')
	if at < 0 {
		return rest
	}
	user, _, hasPassword := strings.Cut(authority[:at], ":")
	shown := "[redacted]"
	if hasPassword {
		shown = user + ":[redacted]"
	}
	return shown + rest[at:]
}
