"""The synchronous facade for WSGI code: one NATS connection per process.

A :class:`SyncPublisher` runs its :class:`~purgebus.Publisher` on an event
loop in a background thread, so any number of request threads share one
connection. After ``fork()`` (gunicorn ``--preload``) the child connects
anew on first use: a connection and a thread do not survive a fork.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import queue
import threading
import weakref
from collections.abc import Coroutine, Generator, Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from .connection import ConnectionSettings
from .duplicate import Receipt
from .errors import PurgebusUnavailable
from .event import ContentChanged
from .publisher import Publisher, PublisherConfig
from .result import Outcome, Result

__all__ = ["SyncPublisher", "shared_publisher"]

T = TypeVar("T")

# Everything left behind by a fork: the child must not close (or let the
# garbage collector close) the parent's connection, so it keeps it here.
_orphans: list[object] = []
_instances: weakref.WeakSet[SyncPublisher] = weakref.WeakSet()


class SyncPublisher:
    """SyncPublisher is a thread-safe, blocking Publisher for synchronous code.

    It connects on first use and keeps the connection (nats-py reconnects by
    itself). Every method may be called from any thread.
    """

    def __init__(self, settings: ConnectionSettings | None = None, config: PublisherConfig | None = None) -> None:
        self.settings = settings or ConnectionSettings.from_env()
        self.config = config or PublisherConfig(timeout=self.settings.timeout)
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pub: Publisher | None = None
        _instances.add(self)

    def _after_fork(self) -> None:
        # Called in the child: the loop thread does not exist there.
        if self._loop is not None or self._pub is not None:
            _orphans.append((self._loop, self._pub))
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._loop = self._thread = self._pub = None

    def _ensure(self) -> tuple[asyncio.AbstractEventLoop, Publisher]:
        if self._pid != os.getpid():
            self._after_fork()
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                t = threading.Thread(target=loop.run_forever, name="purgebus-nats", daemon=True)
                t.start()
                self._loop, self._thread = loop, t
            if self._pub is None or self._pub.connection.is_closed:
                fut = asyncio.run_coroutine_threadsafe(Publisher.connect(self.settings, self.config), self._loop)
                self._pub = _result(fut, self.settings.timeout + 1, self.settings)
            return self._loop, self._pub

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        loop = self._loop
        if loop is None:
            coro.close()
            raise PurgebusUnavailable("purgebus: the publisher was closed", self.settings.servers)
        return _result(asyncio.run_coroutine_threadsafe(coro, loop), timeout, self.settings)

    def connect(self) -> None:
        """Connect connects now rather than on first use; it raises PurgebusUnavailable."""
        self._ensure()

    def publish(self, event: ContentChanged, *, correlation_id: str | None = None) -> str:
        """Publish is the queued form: it returns the event's ID once JetStream stored the event."""
        self.publish_receipt(event, correlation_id=correlation_id)
        return event.id

    def publish_receipt(self, event: ContentChanged, *, correlation_id: str | None = None) -> Receipt:
        """publish_receipt is :meth:`publish`, returning what JetStream stored (see Publisher.publish_receipt)."""
        data = self.prepare(event)
        return self.publish_prepared(event.id, data, correlation_id=correlation_id)

    def publish_prepared(self, event_id: str, data: bytes, *, correlation_id: str | None = None) -> Receipt:
        """publish_prepared publishes an event that :meth:`prepare` encoded, and returns its Receipt."""
        _, pub = self._ensure()
        # A duplicate's check reads the stored event: up to three more round trips.
        return self._call(
            pub.publish_encoded(event_id, data, correlation_id=correlation_id), self.config.timeout * 4 + 1
        )

    def prepare(self, event: ContentChanged) -> bytes:
        """Prepare gives the event an ID, validates it and returns its encoding, without connecting."""
        event.ensure_id()
        return event.validate(self.config.max_event_bytes)

    def purge_and_wait(
        self, event: ContentChanged, timeout: float = 30.0, *, correlation_id: str | None = None
    ) -> Result:
        """purge_and_wait is the immediate form: it publishes the event and returns its result.

        It raises :class:`~purgebus.PurgeTimeout` carrying the event ID when
        the result did not come within timeout seconds.
        """
        self.prepare(event)  # a bad event is refused before connecting
        _, pub = self._ensure()
        return self._call(
            pub.purge_and_wait(event, timeout, correlation_id=correlation_id), timeout + self.config.timeout + 1
        )

    def get_result(self, event_id: str) -> Result | None:
        """get_result returns the stored result of an event, or None."""
        _, pub = self._ensure()
        return self._call(pub.get_result(event_id), self.config.timeout * 3 + 1)

    def results(
        self,
        *,
        outcome: Outcome | str | Iterable[Outcome | str] | None = None,
        source: str | None = None,
        deliver_all: bool = False,
        idle_timeout: float | None = None,
    ) -> Generator[Result, None, None]:
        """Results yields result events as they come, like :meth:`Publisher.results`.

        With ``idle_timeout`` the iteration ends when no result came for that
        many seconds. Closing the iterator stops the subscription.
        """
        loop, pub = self._ensure()
        q: queue.Queue[Result | BaseException | None] = queue.Queue()
        ready: Future[None] = Future()

        async def pump() -> None:
            try:
                rs = await pub.subscribe_results(outcome=outcome, source=source, deliver_all=deliver_all)
            except BaseException as e:  # noqa: BLE001 - handed to the iterating thread
                ready.set_exception(e)
                return
            ready.set_result(None)
            try:
                async for r in rs:
                    q.put(r)
            except asyncio.CancelledError:
                raise
            except BaseException as e:  # noqa: BLE001 - handed to the iterating thread
                q.put(e)
            finally:
                await rs.unsubscribe()

        task = asyncio.run_coroutine_threadsafe(pump(), loop)
        try:
            ready.result(self.config.timeout + 1)
            while True:
                try:
                    item = q.get(timeout=idle_timeout)
                except queue.Empty:
                    return
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            task.cancel()

    def close(self) -> None:
        """Close closes the connection and stops the loop thread; a later call connects anew."""
        if self._pid != os.getpid():
            self._after_fork()
            return
        with self._lock:
            loop, pub, thread = self._loop, self._pub, self._thread
            self._loop = self._pub = self._thread = None
        if loop is None:
            return
        fut = asyncio.run_coroutine_threadsafe(_shutdown(pub, self.config.timeout), loop)
        try:
            fut.result(self.config.timeout * 2 + 1)
        except Exception:  # noqa: BLE001 - closing at any cost
            pass
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(self.config.timeout)
            if not thread.is_alive():
                loop.close()


async def _shutdown(pub: Publisher | None, timeout: float) -> None:
    """_shutdown closes the publisher and ends every task left on the loop, so none is destroyed pending."""
    if pub is not None:
        try:
            await asyncio.wait_for(pub.close(), timeout)
        except Exception:  # noqa: BLE001 - a dead connection is closed all the same
            pass
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _result(fut: Future[T], timeout: float, settings: ConnectionSettings) -> T:
    try:
        return fut.result(timeout)
    except FutureTimeout:
        if fut.done() and not fut.cancelled():
            # The coroutine's own TimeoutError (PurgeTimeout): since Python
            # 3.11 it is the same class as the future's.
            raise
        fut.cancel()
        raise PurgebusUnavailable(
            f"purgebus: no answer from NATS at {', '.join(settings.servers)} within {timeout:g}s", settings.servers
        ) from None


_shared: dict[tuple[ConnectionSettings, PublisherConfig], SyncPublisher] = {}
_shared_lock = threading.Lock()


def shared_publisher(
    settings: ConnectionSettings | None = None, config: PublisherConfig | None = None
) -> SyncPublisher:
    """shared_publisher returns the process's SyncPublisher for these settings (from the environment by default).

    Every caller with equal settings shares one connection.
    """
    settings = settings or ConnectionSettings.from_env()
    config = config or PublisherConfig(timeout=settings.timeout)
    key = (settings, config)
    with _shared_lock:
        pub = _shared.get(key)
        if pub is None:
            pub = _shared[key] = SyncPublisher(settings, config)
        return pub


def _reset_after_fork() -> None:
    global _shared_lock
    _shared_lock = threading.Lock()
    for p in list(_instances):
        p._after_fork()


def _close_all() -> None:
    for p in list(_instances):
        p.close()


os.register_at_fork(after_in_child=_reset_after_fork)
atexit.register(_close_all)
