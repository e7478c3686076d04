"""Validation of purge objects as Fast Purge expects them.

It mirrors Go's ``akamai.NormalizeObject``, so the client refuses before
publishing exactly what the consumer would dead-letter.
"""

from __future__ import annotations

import re
from enum import Enum

from .errors import InvalidObjectError
from .wirejson import encoded_string_size

__all__ = [
    "MAX_TAG_LENGTH",
    "Action",
    "Network",
    "ObjectType",
    "normalize_cpcode",
    "normalize_tag",
    "normalize_url",
]

#: MAX_TAG_LENGTH is the longest cache tag Akamai purges.
MAX_TAG_LENGTH = 128

# A request body holds at most 50,000 bytes; {"objects":[]} is the rest.
_MAX_OBJECT_BYTES = 50000 - len('{"objects":[]}')

_ESCAPE = frozenset(' "<>\\^`{|}')
_TAG_PUNCT = frozenset("!#$%'+-.^_`|~&")
_NOT_URL = (
    "not an absolute http or https URL, nor an ARL "
    "(/<type code>/<serial>/<CP code>/<TTL>/<host>/<path>, e.g. /L/512/6848/1h/www.example.com/)"
)


class ObjectType(str, Enum):
    """ObjectType is the kind of object a purge names."""

    URL = "url"
    CPCODE = "cpcode"
    TAG = "tag"


class Action(str, Enum):
    """Action says what a purge does; Akamai recommends INVALIDATE."""

    INVALIDATE = "invalidate"
    DELETE = "delete"


class Network(str, Enum):
    """Network is the Akamai network a purge applies to."""

    PRODUCTION = "production"
    STAGING = "staging"


# A URL with nothing to check further: http(s), a host, and only printable
# ASCII that needs no percent-encoding. Most URLs are such, and are
# returned as they are without the character-by-character walk.
_BAD = '\\x00-\\x20\\x7f-\\U0010ffff"<>\\\\^`{|}'
_PLAIN_URL = re.compile(f"https?://[^{_BAD}/?#:@%]+(?:[/?][^{_BAD}#@%]*)?")


def normalize_url(raw: str) -> str:
    r"""normalize_url validates an absolute http(s) URL or an ARL and returns the form sent to Akamai.

    Spaces, non-ASCII characters and ``"<>\\^`{|}`` in the path, query and
    fragment are percent-encoded; the scheme is lower-cased. It raises
    :class:`InvalidObjectError`.
    """

    def bad(reason: str, code: str = "bad_url") -> InvalidObjectError:
        return InvalidObjectError("url", raw, reason, code)

    if len(raw) < _MAX_OBJECT_BYTES - 2 and _PLAIN_URL.fullmatch(raw):
        return raw
    if raw == "":
        raise bad("empty URL")
    if len(raw) > 1 and raw[0] == "/" and raw[1] != "/":
        n = _arl_prefix(raw)
        if n == 0:
            raise bad(_NOT_URL, "relative_url")
        prefix, rest, lower = raw[:n], raw[n:], False
    else:
        end = raw.find("://")
        if end < 0:
            raise bad(_NOT_URL, "relative_url")
        scheme = raw[:end]
        if scheme in ("http", "https"):
            lower = False
        elif _ascii_lower(scheme) in ("http", "https"):
            lower = True
        else:
            raise bad("scheme must be http or https", "not_http")
        prefix, rest = raw[: end + 3], raw[end + 3 :]
    host_end = len(rest)
    for i, sep in enumerate(rest):
        if sep in "/?#":
            host_end = i
            break
    host = rest[:host_end]
    if host == "" or host.startswith(":"):
        raise bad("missing host")
    reason, code, redact = _structure_problem(rest, host_end)
    if reason:
        shown = raw[: len(raw) - len(rest)] + _redact_authority(rest) if redact else raw
        raise InvalidObjectError("url", shown, reason, code)
    escapes = 0
    for i, ch in enumerate(rest):
        c = ord(ch)
        if c < 0x20 or c == 0x7F:
            raise bad("control character in URL")
        if i >= host_end and (c >= 0x80 or ch in _ESCAPE):
            escapes += 1
        elif c >= 0x80:
            raise bad("non-ASCII host: use its punycode (xn--) form")
        elif ch == " ":
            raise bad("space in host")
        elif ch in _ESCAPE:
            raise bad(f"character {ch!r} is not allowed in a host")
    u = raw
    if lower or escapes:
        if lower:
            prefix = prefix.lower()
        tail = "".join(
            "".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
            if ord(ch) >= 0x80 or ch in _ESCAPE
            else ch
            for ch in rest[host_end:]
        )
        u = prefix + host + tail
    n = encoded_string_size(u)
    if n > _MAX_OBJECT_BYTES:
        raise bad(f"URL is {n} bytes encoded; a request body holds at most {_MAX_OBJECT_BYTES}")
    return u


def _structure_problem(rest: str, host_end: int) -> tuple[str, str, bool]:
    """_structure_problem says why a URL cannot name an object in Akamai's cache: (reason, code, redact).

    rest is the URL after "://" (or an ARL after its fields), rest[:host_end]
    its host. Akamai's cache key is the host, path and query: user info is
    never part of it (and must not travel with a purge), a fragment never
    leaves the browser, and a bad port or a '%' starting no escape makes a
    URL no client requests. redact says the URL carries credentials.
    """
    authority = rest.split("/", 1)[0]
    if "@" in authority:
        return (
            "user info (user:password@) in URL: Akamai purges by host, path and query, "
            "and credentials must not travel with a purge",
            "user_info",
            True,
        )
    port_reason = _port_problem(rest[:host_end])
    if port_reason:
        return port_reason, "bad_port", False
    for i, ch in enumerate(rest):
        if ch == "%" and not (i + 2 < len(rest) and _is_hex(rest[i + 1]) and _is_hex(rest[i + 2])):
            return (
                f"invalid percent-escape {rest[i : i + 3]!r}: '%' must start %XX with two hexadecimal digits "
                "(write a literal '%' as %25)",
                "bad_escape",
                False,
            )
        if ch == "#":
            return (
                "fragment (#…) in URL: it never reaches the CDN, so the URL without it is what would be purged; "
                "remove it",
                "fragment",
                False,
            )
    return "", "", False


def _port_problem(host: str) -> str:
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return "IPv6 host without its closing ']'"
        host = host[end + 1 :]
        if host == "":
            return ""
        if host[0] != ":":
            return "characters after an IPv6 host's ']' that are not a port"
        host = "x" + host
    i = host.find(":")
    if i < 0:
        return ""
    port = host[i + 1 :]
    if port == "":
        return ""  # RFC 3986 allows it: the scheme's default port.
    if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 1 << 16:
        return f"invalid port {port!r}: a port is a number from 1 to 65535"
    return ""


def _is_hex(c: str) -> bool:
    return c in "0123456789abcdefABCDEF"


def _redact_authority(rest: str) -> str:
    """_redact_authority replaces the password of the user info in rest (all of it without a password)."""
    authority = rest.split("/", 1)[0]
    at = authority.rfind("@")
    if at < 0:
        return rest
    user, colon, _ = authority[:at].partition(":")
    return (user + ":[redacted]" if colon else "[redacted]") + rest[at:]


def normalize_tag(tag: str) -> str:
    """normalize_tag validates a cache tag: 1 to 128 letters, digits and ``!#$%'+-.^_`|~&``."""

    def bad(reason: str) -> InvalidObjectError:
        return InvalidObjectError("tag", tag, reason, "bad_tag")

    if tag == "":
        raise bad("empty tag")
    size = len(tag.encode("utf-8", "surrogatepass"))
    if size > MAX_TAG_LENGTH:
        raise bad(f"tag is {size} characters; Akamai purges at most {MAX_TAG_LENGTH}")
    for ch in tag:
        if not (ch.isascii() and (ch.isalnum() or ch in _TAG_PUNCT)):
            raise bad(f"character {ch!r} is not allowed in a tag (allowed: letters, digits and !#$%'+-.^_`|~&)")
    return tag


def normalize_cpcode(code: object) -> int:
    """normalize_cpcode validates a CP code: a positive integer (not a bool)."""
    if isinstance(code, bool) or not isinstance(code, int) or code <= 0 or code >= 1 << 63:
        raise InvalidObjectError("cpcode", str(code), "CP code must be a positive integer", "bad_cpcode")
    return code


def _ascii_lower(s: str) -> str:
    # str.lower folds some non-ASCII letters to ASCII ones; Go compares ASCII only.
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in s)


def _arl_prefix(raw: str) -> int:
    """_arl_prefix returns the length of an ARL's fields before its host, or 0."""
    i = 1

    def field(ok: object) -> bool:
        nonlocal i
        end = raw.find("/", i)
        if end < 0 or not ok(raw[i:end]):  # type: ignore[operator]
            return False
        i = end + 1
        return True

    def type_code(s: str) -> bool:
        return len(s) == 1 and s.isascii() and (s.isalnum() or s == "=")

    def digits(s: str) -> bool:
        return s != "" and s.isascii() and s.isdigit()

    def ttl(s: str) -> bool:
        if len(s) > 1 and s[-1].isascii() and s[-1].isalpha():
            s = s[:-1]
        return digits(s)

    if field(type_code) and field(digits) and field(digits) and field(ttl):
        return i
    return 0
