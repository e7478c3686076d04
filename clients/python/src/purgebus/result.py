"""Result events: the one result the consumer publishes for every event (Go: events/result.go)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from .wirejson import parse_time

__all__ = ["Escalation", "Failure", "Outcome", "Purge", "Result", "outcome_of"]


class Outcome(str, Enum):
    """Outcome is how an event ended."""

    #: SUCCEEDED means every object of the event was purged.
    SUCCEEDED = "succeeded"
    #: PARTIAL means some objects were purged and some failed.
    PARTIAL = "partial"
    #: FAILED means no object was purged.
    FAILED = "failed"


@dataclass(frozen=True)
class Escalation:
    """Escalation says that a purge was widened, e.g. URLs purged by their CP code."""

    type: str
    object: str
    reason: str = ""


@dataclass(frozen=True)
class Purge:
    """Purge is one Fast Purge request Akamai accepted, as it concerns one event."""

    purge_id: str
    support_id: str
    estimated_seconds: int
    http_status: int
    type: str
    action: str
    network: str
    #: objects are the event's own objects in this request; CP codes as decimal strings.
    objects: list[str] = field(default_factory=list)
    #: account is the Akamai account that purged, when the consumer routes to several.
    account: str = ""
    accepted_at: datetime | None = None
    escalation: Escalation | None = None
    #: objects_omitted counts the objects left out of objects to fit the result in a NATS message.
    objects_omitted: int = 0


@dataclass(frozen=True)
class Failure:
    """Failure is a group of an event's objects that could not be purged, and why."""

    title: str
    objects: list[str] = field(default_factory=list)
    type: str = ""
    action: str = ""
    network: str = ""
    http_status: int = 0
    detail: str = ""
    support_id: str = ""
    #: objects_omitted counts the failed objects left out of objects to fit the result in a NATS message.
    objects_omitted: int = 0


@dataclass(frozen=True)
class Result:
    """Result is the one result the consumer publishes for every event."""

    event_id: str
    outcome: Outcome
    #: purges lists the requests Akamai accepted, each with only this event's objects.
    purges: list[Purge] = field(default_factory=list)
    #: failures lists the objects that could not be purged, and why.
    failures: list[Failure] = field(default_factory=list)
    source: str = ""
    received_at: datetime | None = None
    #: completed_at is when the outcome was decided.
    completed_at: datetime | None = None
    #: estimated_complete_at is when Akamai expects the last purge to be live; None when nothing was purged.
    estimated_complete_at: datetime | None = None
    #: subject is the subject the event was published to.
    subject: str = ""
    correlation_id: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    #: truncated says the result was shortened to fit the NATS server's message size: long texts
    #: cut, objects left out (counted in objects_omitted), the outcome still exact.
    truncated: bool = False

    @property
    def succeeded(self) -> bool:
        """Succeeded reports whether every object of the event was purged."""
        return self.outcome is Outcome.SUCCEEDED

    @property
    def purge_ids(self) -> list[str]:
        """purge_ids lists the purge IDs of the accepted requests."""
        return [p.purge_id for p in self.purges]

    @classmethod
    def decode(cls, data: bytes | str) -> Result:
        """Decode parses a result event; it raises ValueError when data is not one."""
        raw = json.loads(data)
        if not isinstance(raw, dict):
            raise ValueError("result is not a JSON object")
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Result:
        """from_dict builds a Result from a decoded result event."""
        return cls(
            event_id=str(raw.get("event_id", "")),
            outcome=Outcome(raw.get("outcome")),
            purges=[_purge(p) for p in raw.get("purges") or []],
            failures=[_failure(f) for f in raw.get("failures") or []],
            source=raw.get("source") or "",
            received_at=_time(raw.get("received_at")),
            completed_at=_time(raw.get("completed_at")),
            estimated_complete_at=_time(raw.get("estimated_complete_at")),
            subject=raw.get("subject") or "",
            correlation_id=raw.get("correlation_id") or "",
            metadata=dict(raw.get("metadata") or {}),
            truncated=bool(raw.get("truncated")),
        )


def is_control(data: bytes | str) -> bool:
    """is_control reports whether data, the body of a message on a result subject, is a control message.

    A control message is empty: a consumer that stores results in fast
    batches may send one on the subject of a result (a ping after a lost
    flow acknowledgement), which the stream does not store but core NATS
    subscribers of ``purge.result.>`` receive. Readers of results skip it.
    It is Go's events.IsControl.
    """
    return len(data) == 0


def outcome_of(purged: int, failed: int) -> Outcome:
    """outcome_of returns the outcome of an event with the given numbers of purged and failed objects."""
    if failed == 0 and purged > 0:
        return Outcome.SUCCEEDED
    if purged > 0:
        return Outcome.PARTIAL
    return Outcome.FAILED


def _time(v: object) -> datetime | None:
    if not v:
        return None
    t = parse_time(str(v))
    # Go's zero time means "not set".
    return None if t.year == 1 and t.month == 1 and t.day == 1 and t.hour == 0 and t.minute == 0 else t


def _objects(v: object) -> list[str]:
    # CP codes are JSON integers on the wire; Go's Purge keeps decimal strings.
    return [o if isinstance(o, str) else str(o) for o in v or []]  # type: ignore[attr-defined]


def _purge(p: dict[str, Any]) -> Purge:
    esc = p.get("escalation")
    return Purge(
        purge_id=p.get("purge_id") or "",
        support_id=p.get("support_id") or "",
        estimated_seconds=int(p.get("estimated_seconds") or 0),
        http_status=int(p.get("http_status") or 0),
        type=p.get("type") or "",
        action=p.get("action") or "",
        network=p.get("network") or "",
        objects=_objects(p.get("objects")),
        account=p.get("account") or "",
        accepted_at=_time(p.get("accepted_at")),
        escalation=Escalation(str(esc.get("type", "")), str(esc.get("object", "")), str(esc.get("reason", "")))
        if isinstance(esc, dict)
        else None,
        objects_omitted=int(p.get("objects_omitted") or 0),
    )


def _failure(f: dict[str, Any]) -> Failure:
    return Failure(
        title=f.get("title") or "",
        objects=_objects(f.get("objects")),
        type=f.get("type") or "",
        action=f.get("action") or "",
        network=f.get("network") or "",
        http_status=int(f.get("http_status") or 0),
        detail=f.get("detail") or "",
        support_id=f.get("support_id") or "",
        objects_omitted=int(f.get("objects_omitted") or 0),
    )
