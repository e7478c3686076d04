"""Telling a harmless retry from an event ID reused for other content (Go: events/duplicate.go).

JetStream stores one event per ``Nats-Msg-Id`` within its duplicates window
and drops the others. A dropped retry of the same event is harmless; a
dropped event with other objects would never be purged, so the publisher
compares the two and raises :class:`DuplicateEventError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .errors import InvalidEventError, PurgebusError
from .event import ContentChanged
from .result import Failure, Purge, Result

__all__ = ["Content", "DuplicateEventError", "Receipt", "content_of_event", "content_of_result"]


@dataclass(frozen=True)
class Receipt:
    """Receipt is what JetStream's acknowledgement of a published event said.

    ``stream`` and ``sequence`` locate the stored event (for a duplicate, the
    one stored first); ``duplicate`` says JetStream had stored an event with
    this ID, with the same content: a harmless retry, stored and purged once.
    """

    id: str
    stream: str
    sequence: int
    duplicate: bool


class DuplicateEventError(PurgebusError):
    """DuplicateEventError reports an event ID already used for an event with other content.

    JetStream dropped the new event: its objects were not stored and will not
    be purged. Publish it under a new ID.
    """

    def __init__(self, event_id: str, stream: str, sequence: int, difference: str) -> None:
        super().__init__(
            f"purgebus: event ID {event_id} was already used ({stream} sequence {sequence}) for an event with other "
            f"content: {difference}; the new event was NOT stored and its objects will not be purged: "
            "publish it under a new ID"
        )
        self.id = event_id
        self.stream = stream
        self.sequence = sequence
        #: difference says how the contents differ, or why they could not be compared.
        self.difference = difference


@dataclass(frozen=True)
class Content:
    """Content is what an event asks to purge: its objects as "type action network object", and its metadata.

    The source and the time are not content: a retry may differ in them.
    """

    objects: frozenset[str]
    metadata: dict[str, str]

    def difference(self, want: Content) -> str:
        """Difference says how want (the new event) differs from self (the stored one), or returns ""."""
        parts = []
        only = sorted(want.objects - self.objects)
        missing = sorted(self.objects - want.objects)
        if only:
            parts.append("the new event also has " + _sample(only))
        if missing:
            parts.append("the stored one also has " + _sample(missing))
        if not parts and (self.metadata or {}) != (want.metadata or {}):
            parts.append("their metadata differ")
        return "; ".join(parts)


def content_of_event(data: bytes) -> Content:
    """content_of_event returns the content of an encoded event; it raises InvalidEventError."""
    try:
        raw: Any = json.loads(data)
    except ValueError as e:
        raise InvalidEventError(f"undecodable JSON: {e}", "undecodable") from e
    if not isinstance(raw, dict):
        raise InvalidEventError("undecodable JSON: not an object", "undecodable")
    ev = ContentChanged(
        urls=list(raw.get("urls") or []),
        tags=list(raw.get("tags") or []),
        cpcodes=list(raw.get("cpcodes") or []),
        action=raw.get("action") or "",
        network=raw.get("network") or "",
        metadata=dict(raw.get("metadata") or {}),
    )
    ev.normalize()
    objects = {f"url {ev.action} {ev.network} {u}" for u in ev.urls}
    objects |= {f"tag {ev.action} {ev.network} {t}" for t in ev.tags}
    objects |= {f"cpcode {ev.action} {ev.network} {c}" for c in ev.cpcodes}
    return Content(frozenset(objects), ev.metadata)


def content_of_result(r: Result) -> Content | None:
    """content_of_result returns the content of the event a result answers, or None.

    None means the result does not name each object with its type, action
    and network (an event refused as a whole).
    """
    objects: set[str] = set()
    groups: list[Purge | Failure] = [*r.purges, *r.failures]
    for g in groups:
        if not (g.type and g.action and g.network and g.objects):
            return None
        objects |= {f"{g.type} {g.action} {g.network} {o}" for o in g.objects}
    return Content(frozenset(objects), r.metadata) if objects else None


def _sample(keys: list[str]) -> str:
    if len(keys) <= 3:
        return ", ".join(keys)
    return f"{', '.join(keys[:3])} (and {len(keys) - 3} more)"
