"""Subjects and stream names of the wire contract (Go: events/subject.go)."""

from __future__ import annotations

import re

__all__ = [
    "DEFAULT_CONTENT_STREAM",
    "DEFAULT_DEAD_LETTER_STREAM",
    "DEFAULT_RESULT_STREAM",
    "MAX_ID_LENGTH",
    "SUBJECT_CONTENT_CHANGED",
    "SUBJECT_DEAD_LETTERS",
    "SUBJECT_RESULTS",
    "dead_letter_subject",
    "result_filter",
    "result_subject",
    "valid_id",
    "valid_subject",
]

#: SUBJECT_CONTENT_CHANGED is where events go; subjects below it
#: (``content.changed.blog``) work too.
SUBJECT_CONTENT_CHANGED = "content.changed"
#: SUBJECT_RESULTS is the prefix of every result subject.
SUBJECT_RESULTS = "purge.result"
#: SUBJECT_DEAD_LETTERS is the prefix of every dead-letter subject.
SUBJECT_DEAD_LETTERS = "purge.deadletter"

#: DEFAULT_CONTENT_STREAM is the stream that captures content-changed events.
DEFAULT_CONTENT_STREAM = "CONTENT"
#: DEFAULT_RESULT_STREAM is the stream of result events.
DEFAULT_RESULT_STREAM = "PURGE_RESULTS"
#: DEFAULT_DEAD_LETTER_STREAM is the stream of dead letters.
DEFAULT_DEAD_LETTER_STREAM = "PURGE_DEADLETTER"

#: MAX_ID_LENGTH is the longest event ID accepted.
MAX_ID_LENGTH = 128

_ID = re.compile(r"[A-Za-z0-9\-_:=+]{1,128}")
_TOKEN = re.compile(r"[^\s.*>]+")


def result_subject(outcome: str, event_id: str) -> str:
    """result_subject returns the subject of event_id's result with the given outcome."""
    return f"{SUBJECT_RESULTS}.{outcome}.{event_id}"


def result_filter(event_id: str) -> str:
    """result_filter returns the filter matching event_id's result whatever its outcome."""
    return f"{SUBJECT_RESULTS}.*.{event_id}"


def dead_letter_subject(event_id: str) -> str:
    """dead_letter_subject returns the dead-letter subject of event_id."""
    return f"{SUBJECT_DEAD_LETTERS}.{event_id}"


def valid_id(event_id: str) -> bool:
    """valid_id reports whether event_id can name an event.

    It becomes a single NATS subject token, so it must be 1 to
    :data:`MAX_ID_LENGTH` characters from ASCII letters, digits and ``-_:=+``.
    """
    return _ID.fullmatch(event_id) is not None


def valid_subject(subject: str) -> bool:
    """valid_subject reports whether events may be published to subject.

    That is ``content.changed`` or a subject below it, without wildcards.
    """
    if subject == SUBJECT_CONTENT_CHANGED:
        return True
    prefix = SUBJECT_CONTENT_CHANGED + "."
    if not subject.startswith(prefix):
        return False
    return all(_TOKEN.fullmatch(t) for t in subject[len(prefix) :].split("."))
