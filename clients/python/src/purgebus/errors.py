"""Errors raised by the purgebus client.

Callers branch on these types: :class:`PurgebusUnavailable` when NATS cannot
be reached, :class:`PurgeTimeout` when a result did not come in time,
:class:`InvalidEventError` when an event would never be purged as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "InvalidEventError",
    "InvalidObjectError",
    "PurgeTimeout",
    "PurgebusError",
    "PurgebusUnavailable",
]


class PurgebusError(Exception):
    """PurgebusError is the base class of every error this package raises."""


class PurgebusUnavailable(PurgebusError):
    """PurgebusUnavailable reports that NATS (or its JetStream) did not answer.

    Nothing was stored: the caller may retry the same event, whose ID makes a
    retried publish be stored once.
    """

    def __init__(self, message: str, servers: Sequence[str] = ()) -> None:
        super().__init__(message)
        #: The servers that were tried.
        self.servers: list[str] = list(servers)


class PurgeTimeout(PurgebusError, TimeoutError):
    """PurgeTimeout reports that an event's result did not arrive in time.

    The event was stored, so the purge still happens; its result can be
    fetched later by :attr:`event_id`.
    """

    def __init__(self, event_id: str, timeout: float) -> None:
        super().__init__(f"purgebus: no result for event {event_id} within {timeout:g}s (the purge still happens)")
        #: The ID of the event whose result is late.
        self.event_id = event_id
        #: How long the caller waited, in seconds.
        self.timeout = timeout


class InvalidObjectError(ValueError):
    """InvalidObjectError reports an object (URL, tag, CP code) Akamai would refuse.

    :attr:`code` is a short class of the problem: ``relative_url``,
    ``not_http``, ``bad_url``, ``bad_tag`` or ``bad_cpcode``.
    """

    def __init__(self, type: str, object: str, reason: str, code: str) -> None:
        obj = object if len(object) <= 200 else object[:200] + "…"
        super().__init__(f"invalid {type} {obj!r}: {reason}")
        self.type = type
        self.object = object
        self.reason = reason
        self.code = code


class InvalidEventError(PurgebusError, ValueError):
    """InvalidEventError reports an event that can never be purged as it is.

    It is raised before anything is published. :attr:`code` is a short class
    of the problem, the same in every purgebus client: ``no_objects``,
    ``relative_url``, ``not_http``, ``bad_url``, ``bad_action``,
    ``bad_network``, ``bad_cpcode``, ``bad_tag``, ``bad_id``,
    ``bad_metadata`` or ``too_large``.
    """

    def __init__(self, reason: str, code: str, objects: Sequence[InvalidObjectError] = ()) -> None:
        self.reason = reason
        self.code = code
        #: The objects Akamai would refuse, when that is the reason.
        self.objects: list[InvalidObjectError] = list(objects)
        msg = "invalid event: " + reason
        for i, o in enumerate(self.objects):
            if i == 5:
                msg += f"; and {len(self.objects) - i} more"
                break
            msg += "; " + str(o)
        super().__init__(msg)
