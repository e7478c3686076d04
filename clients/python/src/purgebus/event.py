"""The content-changed event and its builder (Go: events/event.go, builder.go)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Protocol, runtime_checkable

from .errors import InvalidEventError, InvalidObjectError
from .objects import normalize_cpcode, normalize_tag, normalize_url
from .subject import MAX_ID_LENGTH, valid_id
from .wirejson import canonical_time, format_time, go_string

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "MAX_METADATA_ENTRIES",
    "MAX_METADATA_KEY_BYTES",
    "MAX_METADATA_VALUE_BYTES",
    "ContentChanged",
    "URLer",
    "check_metadata",
    "new_content_changed",
]

#: DEFAULT_MAX_EVENT_BYTES is the consumer's default size limit of an encoded event.
DEFAULT_MAX_EVENT_BYTES = 256 << 10
#: MAX_METADATA_ENTRIES is the most keys an event's metadata may have.
MAX_METADATA_ENTRIES = 64
#: MAX_METADATA_KEY_BYTES is the longest metadata key, in UTF-8 bytes.
MAX_METADATA_KEY_BYTES = 128
#: MAX_METADATA_VALUE_BYTES is the longest metadata value, in UTF-8 bytes.
MAX_METADATA_VALUE_BYTES = 1024


def check_metadata(metadata: Mapping[str, str]) -> str | None:
    """check_metadata says why metadata cannot be an event's metadata, or returns None.

    At most 64 keys, each 1 to 128 bytes, each value at most 1024 bytes
    (UTF-8), strings only. Of several bad entries the first key is named.
    """
    if not isinstance(metadata, Mapping):
        return "metadata must map strings to strings"
    if len(metadata) > MAX_METADATA_ENTRIES:
        return f"metadata has {len(metadata)} keys, more than {MAX_METADATA_ENTRIES}"
    for k in sorted(metadata, key=lambda k: k if isinstance(k, str) else repr(k)):
        v = metadata[k]
        if not isinstance(k, str) or not isinstance(v, str):
            return f"metadata key {k!r} or its value is not a string"
        try:
            kb, vb = len(k.encode("utf-8")), len(v.encode("utf-8"))
        except UnicodeEncodeError:
            return f"metadata key {k!r} or its value is not valid UTF-8"
        if k == "":
            return "metadata key is empty"
        if kb > MAX_METADATA_KEY_BYTES:
            return f"metadata key {k[:40]!r} is {kb} bytes, more than {MAX_METADATA_KEY_BYTES}"
        if vb > MAX_METADATA_VALUE_BYTES:
            return f"metadata value of {k!r} is {vb} bytes, more than {MAX_METADATA_VALUE_BYTES}"
    return None


@runtime_checkable
class URLer(Protocol):
    """URLer is anything that knows its absolute URL, like a Django model."""

    def get_absolute_url(self) -> str:
        """get_absolute_url returns the absolute (or site-relative) URL of the object."""
        ...


def _text(v: object) -> str:
    return v.value if isinstance(v, Enum) else str(v)


@dataclass
class ContentChanged:
    """ContentChanged is the event a service publishes when content changed.

    Build one with :func:`new_content_changed` (or
    :meth:`ContentChanged.new`) and its ``add_*``/``with_*`` methods, which
    return the event so calls chain. Empty fields are left out of the JSON,
    and the consumer fills in the defaults (``invalidate``, ``production``).
    """

    id: str = ""
    urls: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    cpcodes: list[int] = field(default_factory=list)
    action: str = ""
    network: str = ""
    source: str = ""
    #: occurred_at is a datetime (naive means UTC) or an RFC 3339 string.
    occurred_at: datetime | str | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @classmethod
    def new(cls, source: str = "") -> ContentChanged:
        """New returns an empty event from source that occurred now."""
        return cls(source=source, occurred_at=datetime.now(timezone.utc))

    def add_urls(self, *urls: str) -> ContentChanged:
        """add_urls adds absolute URLs (or ARLs) and returns the event."""
        self.urls.extend(urls)
        return self

    def add_objects(self, *objs: URLer) -> ContentChanged:
        """add_objects adds the ``get_absolute_url()`` of each object and returns the event."""
        for o in objs:
            self.urls.append(o.get_absolute_url())
        return self

    def add_all(self, objs: Iterable[URLer]) -> ContentChanged:
        """add_all adds the absolute URL of every object of an iterable (a QuerySet) and returns the event."""
        self.urls.extend(o.get_absolute_url() for o in objs)
        return self

    def add_tags(self, *tags: str) -> ContentChanged:
        """add_tags adds cache tags and returns the event."""
        self.tags.extend(tags)
        return self

    def add_cpcodes(self, *codes: int) -> ContentChanged:
        """add_cpcodes adds CP codes and returns the event."""
        self.cpcodes.extend(codes)
        return self

    def with_action(self, action: str) -> ContentChanged:
        """with_action sets the purge action (``invalidate`` or ``delete``) and returns the event."""
        self.action = _text(action)
        return self

    def with_network(self, network: str) -> ContentChanged:
        """with_network sets the network (``production`` or ``staging``) and returns the event."""
        self.network = _text(network)
        return self

    def with_metadata(self, key: str, value: str) -> ContentChanged:
        """with_metadata sets one metadata entry, echoed in the result, and returns the event."""
        self.metadata[key] = value
        return self

    def with_id(self, event_id: str) -> ContentChanged:
        """with_id sets the event ID (by default the publisher assigns a UUID) and returns the event."""
        self.id = event_id
        return self

    def objects(self) -> int:
        """Objects returns the number of objects the event names."""
        return len(self.urls) + len(self.tags) + len(self.cpcodes)

    def ensure_id(self) -> str:
        """ensure_id assigns the event a random UUID if it has no ID, and returns the ID."""
        if not self.id:
            self.id = str(uuid.uuid4())
        return self.id

    def normalize(self) -> None:
        """Normalize fills in the defaults and normalizes every object as Fast Purge expects it.

        It raises :class:`InvalidEventError` naming every bad object; the
        event is then left as it was.
        """
        action = _text(self.action) or "invalidate"
        network = _text(self.network) or "production"
        if action not in ("invalidate", "delete"):
            raise InvalidEventError(f"action {action!r} is neither invalidate nor delete", "bad_action")
        if network not in ("production", "staging"):
            raise InvalidEventError(f"network {network!r} is neither production nor staging", "bad_network")
        if self.objects() == 0:
            raise InvalidEventError("no objects: at least one of urls, tags or cpcodes is required", "no_objects")
        problem = check_metadata(self.metadata)
        if problem:
            raise InvalidEventError(problem, "bad_metadata")
        bad: list[InvalidObjectError] = []
        urls, tags = list(self.urls), list(self.tags)
        for objs, norm in ((urls, normalize_url), (tags, normalize_tag)):
            for i, o in enumerate(objs):
                try:
                    if not isinstance(o, str):
                        raise InvalidObjectError(
                            "url" if norm is normalize_url else "tag",
                            repr(o),
                            "not a string",
                            "bad_url" if norm is normalize_url else "bad_tag",
                        )
                    objs[i] = norm(o)
                except InvalidObjectError as e:
                    bad.append(e)
        for c in self.cpcodes:
            try:
                normalize_cpcode(c)
            except InvalidObjectError as e:
                bad.append(e)
        if bad:
            # The code of the first bad object classes the event.
            raise InvalidEventError(f"{len(bad)} invalid object(s)", bad[0].code, bad)
        self.action, self.network, self.urls, self.tags = action, network, urls, tags

    def validate(self, max_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> bytes:
        """Validate checks the event as a publisher does and returns its encoding.

        The event must have a valid ID (see :meth:`ensure_id`), valid objects
        and metadata, and encode within max_bytes. The encoding is of the
        event as it is, not normalized, like Go's publisher. It raises
        :class:`InvalidEventError`.
        """
        if not valid_id(self.id):
            raise InvalidEventError(
                f"event ID {self.id!r} is not 1 to {MAX_ID_LENGTH} letters, digits and -_:=+", "bad_id"
            )
        # normalize replaces the lists it changes, so a shallow copy keeps self as it is.
        dataclasses.replace(self).normalize()
        data = self.encode()
        if max_bytes > 0 and len(data) > max_bytes:
            raise InvalidEventError(f"event is {len(data)} bytes; the limit is {max_bytes}", "too_large")
        return data

    def encode(self) -> bytes:
        """Encode returns the event as compact JSON, byte for byte as Go's encoding/json writes it."""
        parts: list[str] = []
        if self.id:
            parts.append('"id":' + go_string(self.id))
        if self.urls:
            parts.append('"urls":[' + ",".join(go_string(u) for u in self.urls) + "]")
        if self.tags:
            parts.append('"tags":[' + ",".join(go_string(t) for t in self.tags) + "]")
        if self.cpcodes:
            parts.append('"cpcodes":[' + ",".join(str(int(c)) for c in self.cpcodes) + "]")
        if self.action:
            parts.append('"action":' + go_string(_text(self.action)))
        if self.network:
            parts.append('"network":' + go_string(_text(self.network)))
        if self.source:
            parts.append('"source":' + go_string(self.source))
        if self.occurred_at is not None:
            t = canonical_time(self.occurred_at) if isinstance(self.occurred_at, str) else format_time(self.occurred_at)
            parts.append('"occurred_at":"' + t + '"')
        if self.metadata:
            # Go writes a map's keys sorted; code-point order is UTF-8 byte order.
            items = ",".join(go_string(k) + ":" + go_string(self.metadata[k]) for k in sorted(self.metadata))
            parts.append('"metadata":{' + items + "}")
        return ("{" + ",".join(parts) + "}").encode("utf-8")


def new_content_changed(source: str = "") -> ContentChanged:
    """new_content_changed returns an empty invalidate-on-production event from source that occurred now."""
    return ContentChanged.new(source)
