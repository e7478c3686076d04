"""The synchronous facade: one connection per process, thread-safe, new after fork()."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import Consumer, free_port, wait_result
from purgebus import (
    ConnectionSettings,
    Outcome,
    PurgebusUnavailable,
    SyncPublisher,
    new_content_changed,
    shared_publisher,
)


def test_threads_share_one_connection(sync_pub: SyncPublisher) -> None:
    def one(i: int) -> tuple[str, int]:
        event_id = sync_pub.publish(new_content_changed("py-sync").add_urls(f"https://www.example.com/t{i}"))
        return event_id, id(sync_pub._pub.connection)  # type: ignore[union-attr]

    with ThreadPoolExecutor(8) as pool:
        done = list(pool.map(one, range(64)))
    ids = [d[0] for d in done]
    assert len(set(ids)) == 64
    assert len({d[1] for d in done}) == 1, "one connection for every thread"
    for event_id in ids[:: len(ids) // 4]:
        assert wait_result(sync_pub, event_id).outcome is Outcome.SUCCEEDED  # type: ignore[attr-defined]


def test_purge_and_wait(sync_pub: SyncPublisher) -> None:
    r = sync_pub.purge_and_wait(new_content_changed("py-sync").add_tags("sync-tag"), 20)
    assert r.outcome is Outcome.SUCCEEDED
    assert [(p.type, p.objects) for p in r.purges] == [("tag", ["sync-tag"])]


def test_results_iterator(sync_pub: SyncPublisher) -> None:
    source = f"py-sync-results-{os.getpid()}-{time.monotonic_ns()}"
    ids = {sync_pub.publish(new_content_changed(source).add_urls(f"https://www.example.com/r{i}")) for i in range(3)}
    got = set()
    for r in sync_pub.results(source=source, deliver_all=True, idle_timeout=20):
        got.add(r.event_id)
        if len(got) == 3:
            break
    assert got == ids


def test_shared_publisher_is_one_per_settings(consumer: Consumer) -> None:
    s = ConnectionSettings(url=consumer.nats_url)
    assert shared_publisher(s) is shared_publisher(ConnectionSettings(url=consumer.nats_url))
    assert shared_publisher(s) is not shared_publisher(ConnectionSettings(url=consumer.nats_url, name="other"))


def test_unreachable_nats_raises_naming_the_server() -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    pub = SyncPublisher(ConnectionSettings(url=url, timeout=0.5))
    start = time.monotonic()
    with pytest.raises(PurgebusUnavailable) as info:
        pub.publish(new_content_changed("py").add_urls("https://www.example.com/a"))
    assert time.monotonic() - start < 2
    assert url in str(info.value)
    pub.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX")
def test_child_after_fork_connects_anew(sync_pub: SyncPublisher) -> None:
    parent_id = sync_pub.publish(new_content_changed("py-fork").add_urls("https://www.example.com/parent"))
    parent_conn = sync_pub._pub.connection  # type: ignore[union-attr]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: like a gunicorn worker forked after --preload
        os.close(r)
        code = 1
        try:
            child_id = sync_pub.publish(new_content_changed("py-fork").add_urls("https://www.example.com/child"))
            fresh = sync_pub._pub.connection is not parent_conn  # type: ignore[union-attr]
            os.write(w, child_id.encode())
            code = 0 if fresh and threading.active_count() >= 2 else 2
        finally:
            os._exit(code)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    child_id = os.read(r, 200).decode()
    os.close(r)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent's connection still works, and both events were stored.
    assert sync_pub._pub.connection is parent_conn  # type: ignore[union-attr]
    again = sync_pub.publish(new_content_changed("py-fork").add_urls("https://www.example.com/parent2"))
    for event_id in (parent_id, child_id, again):
        assert wait_result(sync_pub, event_id).outcome is Outcome.SUCCEEDED  # type: ignore[attr-defined]


def test_purge_and_wait_timeout_carries_the_event_id(sync_pub: SyncPublisher) -> None:
    from purgebus import PurgeTimeout

    e = new_content_changed("py-sync").add_urls("https://www.example.com/sync-late")
    with pytest.raises(PurgeTimeout) as info:
        sync_pub.purge_and_wait(e, 0.0001)
    assert info.value.event_id == e.id
    assert wait_result(sync_pub, e.id).outcome is Outcome.SUCCEEDED  # type: ignore[attr-defined]
