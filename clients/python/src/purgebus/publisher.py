"""The asyncio publisher of content-changed events (Go: events/publisher.go)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from .connection import DEFAULT_TIMEOUT, ConnectionSettings
from .duplicate import Content, DuplicateEventError, Receipt, content_of_event, content_of_result
from .errors import InvalidEventError, PurgebusError, PurgebusUnavailable, PurgeTimeout
from .event import DEFAULT_MAX_EVENT_BYTES, ContentChanged
from .result import Outcome, Result, is_control
from .subject import (
    DEFAULT_RESULT_STREAM,
    SUBJECT_CONTENT_CHANGED,
    SUBJECT_RESULTS,
    result_filter,
    valid_subject,
)

__all__ = ["CORRELATION_ID_HEADER", "MSG_ID_HEADER", "Publisher", "PublisherConfig", "ResultSubscription"]

#: MSG_ID_HEADER carries the event ID, so JetStream stores a retried publish once.
MSG_ID_HEADER = "Nats-Msg-Id"
# Consumers on the result stream: each pull waits at most _PULL_SECONDS, and
# the server removes a consumer nobody pulled from for its inactive time.
_PULL_SECONDS = 5.0
_WAIT_INACTIVE = 30.0
_FOLLOW_INACTIVE = 120.0
_FOLLOW_BATCH = 64

#: CORRELATION_ID_HEADER carries a correlation ID that the consumer copies into the result.
CORRELATION_ID_HEADER = "Correlation-Id"

# _MAY_NOT_READ and _SEE_DOCS frame the difference of a duplicate whose
# stored event this publisher could not read (Go's events package words it
# the same).
_MAY_NOT_READ = "this publisher may not read the stored event"
_SEE_DOCS = " (see docs/nats-permissions.md)"


@dataclass(frozen=True)
class PublisherConfig:
    """PublisherConfig configures a Publisher.

    ``subject`` is ``content.changed`` (the default) or a subject below it;
    ``result_stream`` is where results are read from; events larger than
    ``max_event_bytes`` (the consumer's ``--max-event-bytes``) are refused
    before publishing; ``timeout`` bounds each publish (seconds).
    """

    subject: str = SUBJECT_CONTENT_CHANGED
    result_stream: str = DEFAULT_RESULT_STREAM
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        if not valid_subject(self.subject):
            raise ValueError(f"purgebus: subject {self.subject!r} is not {SUBJECT_CONTENT_CHANGED} or below it")


class Publisher:
    """Publisher publishes content-changed events to NATS JetStream.

    :meth:`publish` is the queued form (django-akamai's
    ``queue_purge_request``), :meth:`purge_and_wait` the immediate one
    (``purge_request``), and :meth:`results` follows result events.
    """

    def __init__(self, nc: NATS, config: PublisherConfig | None = None, *, owns_connection: bool = False) -> None:
        self._nc = nc
        self._js = nc.jetstream(timeout=(config or PublisherConfig()).timeout)
        self.config = config or PublisherConfig()
        self._owns = owns_connection

    @classmethod
    async def connect(
        cls, settings: ConnectionSettings | None = None, config: PublisherConfig | None = None
    ) -> Publisher:
        """Connect connects to NATS and returns a Publisher owning the connection.

        The settings come from the environment by default (NATS_URL, …).
        """
        settings = settings or ConnectionSettings.from_env()
        nc = await settings.connect()
        return cls(nc, config, owns_connection=True)

    @property
    def connection(self) -> NATS:
        """Connection is the NATS connection the publisher uses."""
        return self._nc

    async def close(self) -> None:
        """Close drains and closes the connection if the publisher opened it."""
        if self._owns and not self._nc.is_closed:
            try:
                await asyncio.wait_for(self._nc.drain(), self.config.timeout)
            except Exception:  # noqa: BLE001 - a dead connection is closed all the same
                await self._nc.close()

    def prepare(self, event: ContentChanged) -> bytes:
        """Prepare gives the event an ID if it has none, validates it and returns its encoding.

        It raises :class:`~purgebus.InvalidEventError` before anything is published.
        """
        event.ensure_id()
        return event.validate(self.config.max_event_bytes)

    async def publish(self, event: ContentChanged, *, correlation_id: str | None = None) -> str:
        """Publish is the queued form: it returns the event's ID once JetStream has stored the event.

        The ID doubles as the ``Nats-Msg-Id``, so publishing the same event
        again is stored once. It raises :class:`~purgebus.InvalidEventError`
        for an event that would never be purged, and
        :class:`~purgebus.PurgebusUnavailable` when JetStream did not store it
        within the timeout.
        """
        data = self.prepare(event)
        await self._publish(event.id, data, correlation_id)
        return event.id

    async def publish_receipt(self, event: ContentChanged, *, correlation_id: str | None = None) -> Receipt:
        """publish_receipt is :meth:`publish`, returning what JetStream stored.

        ``Receipt.duplicate`` tells a harmless retry (the same content under
        an ID already stored) from a first publish; an ID already used for
        other content raises :class:`~purgebus.DuplicateEventError`.
        """
        data = self.prepare(event)
        return await self._publish(event.id, data, correlation_id)

    async def publish_encoded(self, event_id: str, data: bytes, *, correlation_id: str | None = None) -> Receipt:
        """publish_encoded publishes an event that :meth:`prepare` returned, like :meth:`publish_receipt`."""
        return await self._publish(event_id, data, correlation_id)

    async def _publish(self, event_id: str, data: bytes, correlation_id: str | None) -> Receipt:
        headers = {MSG_ID_HEADER: event_id}
        if correlation_id:
            headers[CORRELATION_ID_HEADER] = correlation_id
        try:
            ack = await self._js.publish(self.config.subject, data, timeout=self.config.timeout, headers=headers)
        except (asyncio.TimeoutError, nats.errors.TimeoutError, nats.errors.ConnectionClosedError) as e:
            raise self._unavailable(f"JetStream did not store event {event_id} within {self.config.timeout:g}s") from e
        except nats.errors.NoRespondersError as e:
            raise self._unavailable(
                f"no stream captures {self.config.subject} (is the purgebus consumer running?); "
                f"event {event_id} not stored"
            ) from e
        except nats.js.errors.APIError as e:
            raise PurgebusError(f"purgebus: publish {event_id}: {e}") from e
        receipt = Receipt(event_id, ack.stream, ack.seq, bool(ack.duplicate))
        if receipt.duplicate:
            await self._check_duplicate(data, receipt)
        return receipt

    async def _check_duplicate(self, data: bytes, r: Receipt) -> None:
        """_check_duplicate compares the event with the one JetStream stored first under its ID.

        That one is still in the content stream while it waits or is being
        purged (the stream is a work queue); once purged, its result names
        every object. Neither there (its result aged out): the content cannot
        be told, which is an error too, since the new objects may be unpurged.
        """

        def dup(difference: str) -> DuplicateEventError:
            return DuplicateEventError(r.id, r.stream, r.sequence, difference)

        want = content_of_event(data)
        readable = True
        try:
            stored = await self._js.get_msg(r.stream, r.sequence)
        except nats.js.errors.NotFoundError:
            stored = None
        except (asyncio.TimeoutError, nats.errors.TimeoutError):
            # A publisher's permissions (docs/nats-permissions.md) may not
            # allow reading the content stream: its result tells too.
            stored, readable = None, False
        if stored is not None and stored.data:
            try:
                got: Content | None = content_of_event(stored.data)
            except InvalidEventError as e:
                raise dup(f"the stored event is not valid ({e})") from None
        else:
            try:
                result = await self.get_result(r.id)
            except PurgebusError:
                if readable:
                    raise
                raise dup(f"{_MAY_NOT_READ} or its result, so the content could not be compared{_SEE_DOCS}") from None
            if result is None and not readable:
                raise dup(f"{_MAY_NOT_READ}, which has no result yet, so the content could not be compared{_SEE_DOCS}")
            if result is None:
                raise dup("the stored event was purged and its result is gone, so its content cannot be compared")
            got = content_of_result(result)
            if got is None:
                raise dup("its result does not name every object, so its content cannot be compared")
        difference = got.difference(want) if got is not None else ""
        if difference:
            raise dup(difference)

    def _unavailable(self, what: str) -> PurgebusUnavailable:
        servers = [str(u.geturl()) for u in self._nc.servers] if self._nc.servers else []
        return PurgebusUnavailable(f"purgebus: NATS at {', '.join(servers) or '?'}: {what}", servers)

    async def purge_and_wait(
        self, event: ContentChanged, timeout: float = 30.0, *, correlation_id: str | None = None
    ) -> Result:
        """purge_and_wait is the immediate form: it publishes the event and returns its result.

        It subscribes to ``purge.result.*.<id>`` before publishing, so a fast
        result cannot be missed, and finds a result already stored for an
        event published before. It raises :class:`~purgebus.PurgeTimeout`
        (carrying the event ID) when no result came within timeout seconds;
        the purge still happens.
        """
        data = self.prepare(event)
        deadline = time.monotonic() + timeout
        # Watch before publishing, so a fast result cannot be missed; the
        # consumer starts at the stream's first result for this ID, so a
        # result stored for an event published before is found too.
        watch = await self._result_consumer(result_filter(event.id), DeliverPolicy.ALL, _WAIT_INACTIVE)
        try:
            await self._publish(event.id, data, correlation_id)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PurgeTimeout(event.id, timeout)
                try:
                    [msg] = await watch.fetch(1, timeout=min(remaining, _PULL_SECONDS))
                except nats.errors.TimeoutError:
                    continue
                if is_control(msg.data):
                    continue
                return Result.decode(msg.data)
        finally:
            await _unsubscribe(watch)

    async def get_result(self, event_id: str) -> Result | None:
        """Get_result returns the stored result of event event_id, or None when there is none yet.

        It reads with the permissions of a publisher that waits (an
        ephemeral consumer on the result stream, see docs/nats-permissions.md).
        """
        watch, pending = await self._result_consumer_info(result_filter(event_id), DeliverPolicy.LAST_PER_SUBJECT, 5.0)
        try:
            if not pending:
                return None
            msgs = await watch.fetch(pending, timeout=self.config.timeout)
            results = [m for m in msgs if not is_control(m.data)]
            return Result.decode(results[-1].data) if results else None
        except nats.errors.TimeoutError as e:
            raise self._unavailable(f"no answer from stream {self.config.result_stream}") from e
        finally:
            await _unsubscribe(watch)

    async def _result_consumer(self, subject: str, deliver: DeliverPolicy, inactive: float) -> Any:
        watch, _ = await self._result_consumer_info(subject, deliver, inactive)
        return watch

    async def _result_consumer_info(self, subject: str, deliver: DeliverPolicy, inactive: float) -> tuple[Any, int]:
        """_result_consumer_info creates an ephemeral, unacknowledged pull consumer on the result stream.

        It is what Go's ordered consumer is on the wire: the permissions of
        docs/nats-permissions.md allow creating one filtered on the result
        subjects and pulling from it, not subscribing to results directly,
        acknowledging or deleting consumers. The server removes it once
        nobody pulls for ``inactive`` seconds. It returns the subscription
        and the number of results waiting in it.
        """
        name = self._nc._nuid.next().decode()
        config = ConsumerConfig(
            name=name,
            filter_subject=subject,
            deliver_policy=deliver,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=inactive,
            mem_storage=True,
            num_replicas=1,
        )
        stream = self.config.result_stream
        try:
            info = await self._js._jsm.add_consumer(stream, config=config, timeout=self.config.timeout)
            watch = await self._js.pull_subscribe_bind(name, stream=stream)
        except (asyncio.TimeoutError, nats.errors.TimeoutError) as e:
            raise self._unavailable(f"no answer creating a consumer on stream {stream}") from e
        except nats.js.errors.APIError as e:
            raise PurgebusError(f"purgebus: watch results on stream {stream}: {e}") from e
        return watch, int(info.num_pending or 0)

    async def subscribe_results(
        self,
        *,
        outcome: Outcome | str | Iterable[Outcome | str] | None = None,
        source: str | None = None,
        deliver_all: bool = False,
    ) -> ResultSubscription:
        """subscribe_results subscribes to result events and returns once the subscription is in place.

        Iterate the returned :class:`ResultSubscription` with ``async for``;
        see :meth:`results` for the filters.
        """
        outcomes = _outcomes(outcome)
        subject = f"{SUBJECT_RESULTS}.{next(iter(outcomes))}.>" if len(outcomes) == 1 else f"{SUBJECT_RESULTS}.>"
        sub = await self._result_consumer(
            subject, DeliverPolicy.ALL if deliver_all else DeliverPolicy.NEW, _FOLLOW_INACTIVE
        )
        return ResultSubscription(sub, outcomes, source)

    async def results(
        self,
        *,
        outcome: Outcome | str | Iterable[Outcome | str] | None = None,
        source: str | None = None,
        deliver_all: bool = False,
    ) -> AsyncIterator[Result]:
        """Results yields result events as they are published, for services that follow outcomes.

        ``outcome`` keeps one outcome (or several); ``source`` keeps the
        results of one event source. With ``deliver_all`` the results the
        stream keeps (7 days by default) come first.
        """
        rs = await self.subscribe_results(outcome=outcome, source=source, deliver_all=deliver_all)
        try:
            async for r in rs:
                yield r
        finally:
            await rs.unsubscribe()


class ResultSubscription:
    """ResultSubscription is an async iterator over result events, filtered."""

    def __init__(self, sub: Any, outcomes: set[str], source: str | None) -> None:
        self._sub = sub
        self._outcomes = outcomes
        self._source = source
        self._buffer: list[Any] = []

    def __aiter__(self) -> ResultSubscription:
        return self

    async def __anext__(self) -> Result:
        while True:
            if not self._buffer:
                try:
                    self._buffer = list(await self._sub.fetch(_FOLLOW_BATCH, timeout=_PULL_SECONDS))
                except nats.errors.TimeoutError:
                    continue
            msg = self._buffer.pop(0)
            if is_control(msg.data):
                continue
            try:
                r = Result.decode(msg.data)
            except ValueError:
                continue
            if self._outcomes and r.outcome.value not in self._outcomes:
                continue
            if self._source is not None and r.source != self._source:
                continue
            return r

    async def unsubscribe(self) -> None:
        """Unsubscribe ends the subscription; the server removes its consumer once idle."""
        await _unsubscribe(self._sub)


async def _unsubscribe(sub: Any) -> None:
    try:
        await sub.unsubscribe()
    except (nats.errors.Error, ValueError):
        pass


def _outcomes(outcome: Outcome | str | Iterable[Outcome | str] | None) -> set[str]:
    if outcome is None:
        return set()
    items = [outcome] if isinstance(outcome, str) else list(outcome)
    return {Outcome(o).value for o in items}
