"""The asyncio Publisher against the real consumer."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import nats
import pytest

from conftest import Consumer
from purgebus import (
    ConnectionSettings,
    InvalidEventError,
    Outcome,
    Publisher,
    PublisherConfig,
    PurgebusUnavailable,
    PurgeTimeout,
    is_control,
    new_content_changed,
    result_subject,
)

T = TypeVar("T")


def run(consumer: Consumer, body: Callable[[Publisher], Awaitable[T]], **config: Any) -> T:
    async def main() -> T:
        pub = await Publisher.connect(ConnectionSettings(url=consumer.nats_url), PublisherConfig(**config))
        try:
            return await body(pub)
        finally:
            await pub.close()

    return asyncio.run(main())


def test_purge_and_wait_returns_the_succeeded_result(consumer: Consumer) -> None:
    async def body(pub: Publisher) -> None:
        e = (
            new_content_changed("py-core")
            .add_urls("https://www.example.com/a", "https://www.example.com/b?x=1&y=2")
            .add_tags("news")
            .add_cpcodes(12345)
            .with_metadata("page", "42")
        )
        r = await pub.purge_and_wait(e, 20, correlation_id="req-77")
        assert r.event_id == e.id
        assert r.outcome is Outcome.SUCCEEDED and r.succeeded
        assert r.source == "py-core"
        assert r.correlation_id == "req-77"
        assert r.metadata == {"page": "42"}
        assert r.failures == []
        by_type = {p.type: p for p in r.purges}
        assert set(by_type) == {"url", "tag", "cpcode"}
        assert by_type["url"].objects == ["https://www.example.com/a", "https://www.example.com/b?x=1&y=2"]
        assert by_type["tag"].objects == ["news"]
        assert by_type["cpcode"].objects == ["12345"]
        for p in r.purges:
            assert p.purge_id and p.http_status == 201
            assert (p.action, p.network) == ("invalidate", "production")
        assert r.estimated_complete_at is not None and r.completed_at is not None
        assert r.estimated_complete_at >= r.completed_at

    run(consumer, body)


def test_action_and_network_reach_akamai(consumer: Consumer) -> None:
    async def body(pub: Publisher) -> None:
        e = new_content_changed("py-core").add_urls("https://www.example.com/del").with_action("delete")
        r = await pub.purge_and_wait(e.with_network("staging"), 20)
        assert [(p.action, p.network) for p in r.purges] == [("delete", "staging")]

    run(consumer, body)


def test_publish_is_stored_once_and_its_result_found_later(consumer: Consumer) -> None:
    async def body(pub: Publisher) -> None:
        e = new_content_changed("py-core").add_urls("https://www.example.com/queued")
        event_id = await pub.publish(e)
        assert event_id == e.id
        assert await pub.publish(e) == event_id  # the same Nats-Msg-Id: stored once
        deadline = time.monotonic() + 20
        while (r := await pub.get_result(event_id)) is None:
            assert time.monotonic() < deadline, "no result"
            await asyncio.sleep(0.05)
        assert r.outcome is Outcome.SUCCEEDED and r.purge_ids
        # purge_and_wait of an event already purged finds the stored result.
        again = await pub.purge_and_wait(e, 5)
        assert again == r
        info = await pub.connection.jetstream().stream_info(
            "PURGE_RESULTS", subjects_filter=f"purge.result.*.{event_id}"
        )
        assert info.state.subjects == {f"purge.result.succeeded.{event_id}": 1}, "one event, one result"

    run(consumer, body)


def test_undecodable_event_gets_a_failed_result_and_a_dead_letter(consumer: Consumer) -> None:
    async def body(pub: Publisher) -> None:
        event_id = "py-bad-" + uuid.uuid4().hex
        js = pub.connection.jetstream()
        failed = await pub.subscribe_results(outcome="failed")
        dead = await pub.connection.subscribe(f"purge.deadletter.{event_id}")
        await js.publish(
            "content.changed.py", b'{"urls": ["https://www.example.com/a"', headers={"Nats-Msg-Id": event_id}
        )
        r = await asyncio.wait_for(_first(failed, event_id), 20)
        assert r.outcome is Outcome.FAILED
        assert r.purges == [] and r.failures
        assert "undecodable" in r.failures[0].title + r.failures[0].detail
        letter = json.loads((await dead.next_msg(timeout=20)).data)
        assert letter["event_id"] == event_id
        assert letter["payload"] == '{"urls": ["https://www.example.com/a"'
        await failed.unsubscribe()

    run(consumer, body)


async def _first(subscription: Any, event_id: str) -> Any:
    async for r in subscription:
        if r.event_id == event_id:
            return r
    raise AssertionError("subscription ended")


def test_results_follow_outcome_and_source(consumer: Consumer) -> None:
    source = "py-follow-" + uuid.uuid4().hex[:8]

    async def body(pub: Publisher) -> None:
        got: list[Any] = []

        async def follow() -> None:
            async for r in pub.results(source=source, outcome=["succeeded", "partial"], deliver_all=True):
                got.append(r)
                if len(got) == 2:
                    return

        task = asyncio.create_task(follow())
        other = new_content_changed("py-other").add_urls("https://www.example.com/other")
        ids = [
            await pub.publish(new_content_changed(source).add_urls(f"https://www.example.com/f{i}")) for i in range(2)
        ]
        await pub.publish(other)
        await asyncio.wait_for(task, 20)
        assert sorted(r.event_id for r in got) == sorted(ids)
        assert all(r.source == source and r.outcome is Outcome.SUCCEEDED for r in got)

    run(consumer, body)


def test_result_readers_skip_control_messages(consumer: Consumer) -> None:
    """An empty message on a result subject (a batch control message) is not a result."""

    async def body(pub: Publisher) -> None:
        assert is_control(b"") and not is_control(b"{}")
        e = new_content_changed("py-control").add_urls("https://www.example.com/control")
        e.with_id("py-control-" + uuid.uuid4().hex)
        js = pub.connection.jetstream()
        await js.publish(result_subject(Outcome.SUCCEEDED.value, e.id), b"")
        assert await pub.get_result(e.id) is None
        results = await pub.subscribe_results(deliver_all=True)
        r = await pub.purge_and_wait(e, 20)
        assert r.event_id == e.id and r.outcome is Outcome.SUCCEEDED
        assert await pub.get_result(e.id) == r
        assert await asyncio.wait_for(_first(results, e.id), 20) == r
        await results.unsubscribe()

    run(consumer, body)


def test_purge_and_wait_timeout_carries_the_event_id(consumer: Consumer) -> None:
    async def body(pub: Publisher) -> None:
        e = new_content_changed("py-core").add_urls("https://www.example.com/late")
        with pytest.raises(PurgeTimeout) as info:
            await pub.purge_and_wait(e, 0.0001)
        assert info.value.event_id == e.id
        assert isinstance(info.value, TimeoutError)
        deadline = time.monotonic() + 20
        while (r := await pub.get_result(e.id)) is None:
            assert time.monotonic() < deadline, "the purge must still happen"
            await asyncio.sleep(0.05)
        assert r.outcome is Outcome.SUCCEEDED

    run(consumer, body)


def test_invalid_event_is_refused_before_publishing(consumer: Consumer) -> None:
    async def body(pub: Publisher) -> None:
        sub = await pub.connection.subscribe("content.changed.>")
        for e, code in [
            (new_content_changed("py"), "no_objects"),
            (new_content_changed("py").add_urls("/relative"), "relative_url"),
            (new_content_changed("py").add_urls("ftp://www.example.com/a"), "not_http"),
            (new_content_changed("py").add_tags("has space"), "bad_tag"),
            (new_content_changed("py").add_cpcodes(0), "bad_cpcode"),
            (new_content_changed("py").add_urls("https://www.example.com/a").with_action("purge"), "bad_action"),
            (new_content_changed("py").add_urls("https://www.example.com/a").with_id("a.b"), "bad_id"),
        ]:
            with pytest.raises(InvalidEventError) as info:
                await pub.publish(e)
            assert info.value.code == code
        with pytest.raises(nats.errors.TimeoutError):
            await sub.next_msg(timeout=0.3)

    run(consumer, body, subject="content.changed.py")


def test_event_over_the_size_limit_is_refused(consumer: Consumer) -> None:
    async def body(pub: Publisher) -> None:
        e = new_content_changed("py").add_urls(*(f"https://www.example.com/{i}" for i in range(100)))
        with pytest.raises(InvalidEventError) as info:
            await pub.publish(e)
        assert info.value.code == "too_large"

    run(consumer, body, max_event_bytes=1000)


def test_unreachable_nats_raises_within_the_timeout() -> None:
    from conftest import free_port

    url = f"nats://127.0.0.1:{free_port()}"
    start = time.monotonic()
    with pytest.raises(PurgebusUnavailable) as info:
        asyncio.run(Publisher.connect(ConnectionSettings(url=url, timeout=1.0)))
    assert time.monotonic() - start < 2.5
    assert url in str(info.value) and info.value.servers == [url]


def test_subject_must_be_content_changed_or_below() -> None:
    PublisherConfig(subject="content.changed.blog")
    for bad in ("content", "content.changedx", "content.changed.*", "other.subject"):
        with pytest.raises(ValueError):
            PublisherConfig(subject=bad)


def dup_event(source: str, url: str, page: str, event_id: str = "") -> Any:
    return new_content_changed(source).add_urls(url).with_metadata("page", page).with_id(event_id)


def test_publish_receipt_tells_a_retry_from_a_reused_id(consumer: Consumer) -> None:
    from purgebus import DuplicateEventError

    d1, d2 = "https://www.example.com/d1", "https://www.example.com/d2"

    async def body(pub: Publisher) -> None:
        e = dup_event("py-dup", d1, "1")
        first = await pub.publish_receipt(e)
        assert (first.id, first.stream, first.duplicate) == (e.id, "CONTENT", False)
        retry = await pub.publish_receipt(dup_event("py-dup-retry", d1, "1", e.id))
        assert retry.duplicate and retry.sequence == first.sequence, "a retry (other source and time) is harmless"
        deadline = time.monotonic() + 20
        while await pub.get_result(e.id) is None:  # now only the result tells the content
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert (await pub.publish_receipt(dup_event("py-dup", d1, "1", e.id))).duplicate
        with pytest.raises(DuplicateEventError) as info:
            await pub.publish(dup_event("py-dup", d2, "1", e.id))
        err = info.value
        assert (err.id, err.stream, err.sequence) == (e.id, "CONTENT", first.sequence)
        assert f"the new event also has url invalidate production {d2}" in err.difference
        assert f"the stored one also has url invalidate production {d1}" in err.difference
        with pytest.raises(DuplicateEventError, match="their metadata differ"):
            await pub.purge_and_wait(dup_event("py-dup", d1, "2", e.id), 5)

    run(consumer, body)


def test_refused_url_with_credentials_does_not_repeat_them() -> None:
    e = new_content_changed("py").add_urls("https://purge:hunter2@www.example.com/a").with_id("creds")
    with pytest.raises(InvalidEventError) as info:
        e.validate()
    assert info.value.code == "user_info"
    assert "hunter2" not in str(info.value) and "purge:[redacted]@www.example.com" in str(info.value)
