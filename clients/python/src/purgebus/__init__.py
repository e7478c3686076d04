"""purgebus publishes content-changed events to the purgebus consumer and reads its results.

The names mirror the Go package ``events``: :class:`ContentChanged` and its
builder, :class:`Publisher` (``publish``, ``purge_and_wait``, ``results``),
:class:`Result` with its :class:`Purge` and :class:`Failure` entries.
:class:`SyncPublisher` is the blocking facade for WSGI code.
"""

from .connection import DEFAULT_NATS_URL, ConnectionSettings
from .duplicate import DuplicateEventError, Receipt
from .errors import InvalidEventError, InvalidObjectError, PurgebusError, PurgebusUnavailable, PurgeTimeout
from .event import DEFAULT_MAX_EVENT_BYTES, ContentChanged, URLer, new_content_changed
from .objects import Action, Network, ObjectType
from .publisher import CORRELATION_ID_HEADER, MSG_ID_HEADER, Publisher, PublisherConfig
from .result import Escalation, Failure, Outcome, Purge, Result, is_control, outcome_of
from .subject import (
    DEFAULT_CONTENT_STREAM,
    DEFAULT_DEAD_LETTER_STREAM,
    DEFAULT_RESULT_STREAM,
    SUBJECT_CONTENT_CHANGED,
    SUBJECT_DEAD_LETTERS,
    SUBJECT_RESULTS,
    dead_letter_subject,
    result_filter,
    result_subject,
    valid_id,
)
from .sync import SyncPublisher, shared_publisher

#: PurgeResult is Go's name for :class:`Result`.
PurgeResult = Result

__all__ = [
    "CORRELATION_ID_HEADER",
    "DEFAULT_CONTENT_STREAM",
    "DEFAULT_DEAD_LETTER_STREAM",
    "DEFAULT_MAX_EVENT_BYTES",
    "DEFAULT_NATS_URL",
    "DEFAULT_RESULT_STREAM",
    "MSG_ID_HEADER",
    "SUBJECT_CONTENT_CHANGED",
    "SUBJECT_DEAD_LETTERS",
    "SUBJECT_RESULTS",
    "Action",
    "ConnectionSettings",
    "ContentChanged",
    "DuplicateEventError",
    "Escalation",
    "Failure",
    "InvalidEventError",
    "InvalidObjectError",
    "Network",
    "ObjectType",
    "Outcome",
    "Publisher",
    "PublisherConfig",
    "Purge",
    "PurgeResult",
    "PurgeTimeout",
    "PurgebusError",
    "PurgebusUnavailable",
    "Receipt",
    "Result",
    "SyncPublisher",
    "URLer",
    "dead_letter_subject",
    "is_control",
    "new_content_changed",
    "outcome_of",
    "result_filter",
    "result_subject",
    "shared_publisher",
    "valid_id",
]
