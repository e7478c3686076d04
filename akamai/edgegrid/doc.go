// Package edgegrid loads Akamai EdgeGrid credentials and signs and verifies
// HTTP requests with the EG1-HMAC-SHA256 scheme used by Akamai's {OPEN} APIs,
// among them Fast Purge (CCU v3).
//
// # Credentials
//
// [Load] reads one section of an .edgerc file (an INI file, ~/.edgerc by
// default) and overlays the AKAMAI_* environment variables field by field, the
// way the Akamai CLI does. The purge section is "ccu" unless told otherwise.
// [Credentials] never prints its secret or tokens: String, GoString,
// LogValue and MarshalJSON redact them, and no error of this package
// contains them.
//
// # Signing
//
// A [Signer] adds the Authorization header to a request:
//
//	EG1-HMAC-SHA256 client_token=…;access_token=…;timestamp=…;nonce=…;signature=…
//
// The signature is an HMAC-SHA256 over the method, scheme, host, path and
// query as sent, the canonical signed headers, the SHA-256 of the first
// MaxBody bytes of a POST body and the unsigned header itself, keyed with an
// HMAC-SHA256 of the timestamp under the client secret. [DataToSign] returns
// the exact text that is signed. [Signer.RoundTripper] signs every request an
// http.Client sends, including redirects.
//
// # Verifying
//
// [Verify] recomputes the signature of a request as received by a server, as
// Akamai's edge does. It exists for purgebus's fake Fast Purge server and for
// tests; the sentinel errors it wraps ([ErrMalformedAuthorization],
// [ErrTokenMismatch], [ErrStaleTimestamp], [ErrSignatureMismatch]) tell the
// failures apart. Nonce replay detection is left to the caller.
package edgegrid
