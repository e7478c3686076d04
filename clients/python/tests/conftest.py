"""Fixtures: the real purgebus consumer, built from this repository and run in --sandbox."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from consumerproc import Consumer, ConsumerError, build_consumer, free_port, start_consumer, stop_consumer

__all__ = ["Consumer", "NatsWatch", "free_port", "stop_consumer", "wait_result"]


@pytest.fixture(scope="session")
def consumer_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """consumer_bin builds ./cmd/consumer once per session (PURGEBUS_CONSUMER_BIN reuses a built one)."""
    prebuilt = os.environ.get("PURGEBUS_CONSUMER_BIN")
    if prebuilt:
        return Path(prebuilt)
    try:
        return build_consumer(tmp_path_factory.mktemp("bin") / "consumer")
    except ConsumerError as e:
        pytest.fail(str(e))


@pytest.fixture(scope="session", autouse=True)
def consumer(consumer_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consumer]:
    """consumer runs one consumer for the session; NATS_URL points every client at it."""
    try:
        c = start_consumer(consumer_bin, tmp_path_factory.mktemp("consumer"))
    except ConsumerError as e:
        pytest.fail(str(e))
    old = os.environ.get("NATS_URL")
    os.environ["NATS_URL"] = c.nats_url
    try:
        from purgebus.django.conf import get_settings

        get_settings.cache_clear()
    except ImportError:
        pass
    yield c
    if old is None:
        os.environ.pop("NATS_URL", None)
    else:
        os.environ["NATS_URL"] = old
    stop_consumer(c)


class NatsWatch:
    """NatsWatch collects what is published on a subject, on a connection of its own."""

    def __init__(self, url: str, subject: str) -> None:
        import asyncio
        import queue
        import threading

        import nats

        self.messages: queue.Queue[tuple[str, dict[str, str], bytes]] = queue.Queue()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

        async def setup() -> tuple[object, object]:
            nc = await nats.connect(url)

            async def cb(msg: nats.aio.msg.Msg) -> None:
                self.messages.put((msg.subject, dict(msg.headers or {}), msg.data))

            sub = await nc.subscribe(subject, cb=cb)
            await nc.flush()
            return nc, sub

        self._nc, _ = asyncio.run_coroutine_threadsafe(setup(), self._loop).result(10)

    def get(self, timeout: float = 10.0) -> tuple[str, dict[str, str], bytes]:
        return self.messages.get(timeout=timeout)

    def nothing_within(self, seconds: float) -> bool:
        import queue

        try:
            self.messages.get(timeout=seconds)
        except queue.Empty:
            return True
        return False

    def close(self) -> None:
        import asyncio

        asyncio.run_coroutine_threadsafe(self._nc.close(), self._loop).result(10)  # type: ignore[attr-defined]
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@pytest.fixture
def watch(consumer: Consumer) -> Iterator[object]:
    """watch(subject) returns a NatsWatch on the consumer's NATS; all are closed after the test."""
    made: list[NatsWatch] = []

    def make(subject: str) -> NatsWatch:
        w = NatsWatch(consumer.nats_url, subject)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


@pytest.fixture
def sync_pub(consumer: Consumer) -> Iterator[object]:
    """sync_pub is a SyncPublisher of its own on the consumer's NATS."""
    from purgebus import ConnectionSettings, SyncPublisher

    p = SyncPublisher(ConnectionSettings(url=consumer.nats_url))
    yield p
    p.close()


def wait_result(pub: object, event_id: str, timeout: float = 20.0) -> object:
    """wait_result polls the result stream until event_id's result is there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = pub.get_result(event_id)  # type: ignore[attr-defined]
        if r is not None:
            return r
        time.sleep(0.05)
    pytest.fail(f"no result for event {event_id} within {timeout}s")
