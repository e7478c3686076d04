"""JSON exactly as Go's encoding/json writes it for purgebus.

Events are compact, without HTML escaping, with non-ASCII as raw UTF-8 and
U+2028/U+2029 escaped, so an event built in Python is byte for byte the
event Go would build. Times are RFC 3339 with Go's trimmed fraction.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

__all__ = ["canonical_time", "encoded_string_size", "format_time", "go_string", "parse_time"]

_go_escape = json.JSONEncoder(ensure_ascii=False)
_SURROGATE = re.compile("[\ud800-\udfff]")


def go_string(s: str) -> str:
    """go_string returns s as a JSON string literal the way Go encodes it (no HTML escaping)."""
    out = _go_escape.encode(s)
    if out.isascii():
        return out
    if "\u2028" in out or "\u2029" in out:
        out = out.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    # Go replaces invalid UTF-8 (a lone surrogate here) by U+FFFD.
    return _SURROGATE.sub(lambda _: "\\ufffd", out)


def encoded_string_size(s: str) -> int:
    """encoded_string_size returns the bytes of s as a JSON string, quotes included."""
    if s.isascii() and s.isprintable() and '"' not in s and "\\" not in s:
        return len(s) + 2
    return len(go_string(s).encode("utf-8"))


def format_time(t: datetime) -> str:
    """format_time formats t as Go's RFC3339Nano: trailing zeros of the fraction trimmed, Z for UTC.

    A naive datetime is taken to be UTC.
    """
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    off = t.utcoffset() or timedelta(0)
    s = f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    if t.microsecond:
        s += "." + f"{t.microsecond:06d}".rstrip("0")
    if not off:
        return s + "Z"
    minutes = int(off.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{s}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


_RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))")


def parse_time(s: str) -> datetime:
    """parse_time parses an RFC 3339 time; a fraction finer than microseconds is truncated.

    Go's zero time (0001-01-01T00:00:00Z) parses to datetime.min in UTC.
    """
    m = _RFC3339.fullmatch(s)
    if m is None:
        raise ValueError(f"not an RFC 3339 time: {s!r}")
    frac = (m.group(7) or "")[:6].ljust(6, "0")
    if m.group(8):
        tz = timezone.utc
    else:
        off = timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
        tz = timezone(-off if m.group(9) == "-" else off)
    return datetime(
        int(m.group(1)),
        int(m.group(2)),
        int(m.group(3)),
        int(m.group(4)),
        int(m.group(5)),
        int(m.group(6)),
        int(frac),
        tzinfo=tz,
    )


def canonical_time(s: str) -> str:
    """canonical_time re-formats an RFC 3339 time the way Go writes it, nanoseconds kept.

    Go parses the time and writes it as RFC3339Nano: the fraction's trailing
    zeros are trimmed and a zero offset becomes ``Z``.
    """
    m = _RFC3339.fullmatch(s)
    if m is None:
        raise ValueError(f"not an RFC 3339 time: {s!r}")
    out = s[:19].replace("t", "T")
    frac = (m.group(7) or "")[:9].rstrip("0")
    if frac:
        out += "." + frac
    if m.group(8) or (m.group(10) == "00" and m.group(11) == "00"):
        return out + "Z"
    return f"{out}{m.group(9)}{m.group(10)}:{m.group(11)}"
