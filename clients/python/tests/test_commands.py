"""The management commands purgebus_purge and purgebus_results, against the real consumer."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from conftest import Consumer, NatsWatch, wait_result
from purgebus import Outcome, Result
from purgebus.django.conf import get_publisher
from purgebus.django.signals import purge_failed, purge_succeeded


def run(*args: str, **options: Any) -> list[str]:
    out = io.StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue().splitlines()


@pytest.mark.django_db
def test_purge_queues_urls_and_prints_event_ids() -> None:
    [event_id] = run("purgebus_purge", "https://www.example.com/cmd1", "/cmd2")
    r = wait_result(get_publisher(), event_id)
    assert r.outcome is Outcome.SUCCEEDED  # type: ignore[attr-defined]
    assert r.purges[0].objects == ["https://www.example.com/cmd1", "https://www.example.com/cmd2"]  # type: ignore[attr-defined]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "kind", "objects"),
    [
        (["https://www.example.com/w1"], "url", ["https://www.example.com/w1"]),
        (["--tag", "news", "sport"], "tag", ["news", "sport"]),
        (["--cpcode", "12345"], "cpcode", ["12345"]),
    ],
)
def test_purge_wait_prints_the_result(args: list[str], kind: str, objects: list[str]) -> None:
    [line] = run("purgebus_purge", *args, "--wait", "--delete", "--staging")
    outcome, event_id, purges, *_ = line.split()
    assert outcome == "succeeded"
    r = get_publisher().get_result(event_id)
    assert r is not None
    assert purges == "purges=" + ",".join(r.purge_ids)
    assert [(p.type, p.objects, p.action, p.network) for p in r.purges] == [(kind, objects, "delete", "staging")]


@pytest.mark.django_db
def test_purge_reads_standard_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("https://www.example.com/in1\n\n  /in2  \n"))
    [line] = run("purgebus_purge", "--wait")
    r = get_publisher().get_result(line.split()[1])
    assert r is not None and r.purges[0].objects == ["https://www.example.com/in1", "https://www.example.com/in2"]


@pytest.mark.django_db
def test_purge_errors() -> None:
    with pytest.raises(CommandError) as info:
        run("purgebus_purge", "ftp://www.example.com/x")
    assert "scheme must be http or https" in str(info.value) and info.value.returncode == 1
    with pytest.raises(CommandError) as info:
        run("purgebus_purge", "--cpcode", "abc")
    assert info.value.returncode == 2
    with pytest.raises(CommandError) as info:
        run("purgebus_purge", "https://www.example.com/late", "--wait", "--timeout", "0.0001")
    assert "no result for event" in str(info.value) and info.value.returncode == 1


@pytest.mark.django_db
def test_results_sends_purge_succeeded_and_purge_failed(consumer: Consumer) -> None:
    source = "py-listener-" + uuid.uuid4().hex[:8]
    ok_id = get_publisher().publish(
        __import__("purgebus").new_content_changed(source).add_urls("https://www.example.com/listened")
    )
    # An event the client would refuse, sent raw: the consumer answers with a failed result.
    bad_id = "py-listener-bad-" + uuid.uuid4().hex
    raw = NatsWatch(consumer.nats_url, "unused.subject")
    try:
        import asyncio

        payload = json.dumps({"id": bad_id, "urls": ["ftp://www.example.com/x"], "source": source}).encode()
        asyncio.run_coroutine_threadsafe(
            raw._nc.jetstream().publish("content.changed", payload, headers={"Nats-Msg-Id": bad_id}),  # type: ignore[attr-defined]
            raw._loop,
        ).result(10)
    finally:
        raw.close()

    succeeded: list[Result] = []
    failed: list[Result] = []

    def on_succeeded(sender: Any, result: Result, **kwargs: Any) -> None:
        succeeded.append(result)

    def on_failed(sender: Any, result: Result, **kwargs: Any) -> None:
        failed.append(result)
        raise RuntimeError("a failing receiver does not stop the listener")

    purge_succeeded.connect(on_succeeded)
    purge_failed.connect(on_failed)
    try:
        lines = run("purgebus_results", "--source", source, "--all", "--count", "2", "--idle-timeout", "30")
    finally:
        purge_succeeded.disconnect(on_succeeded)
        purge_failed.disconnect(on_failed)
    assert [r.event_id for r in succeeded] == [ok_id]
    assert [r.event_id for r in failed] == [bad_id]
    assert failed[0].outcome is Outcome.FAILED and failed[0].failures
    assert sorted(line.split()[0] for line in lines) == ["failed", "succeeded"]
    assert any(bad_id in line and "ftp://www.example.com/x" in line for line in lines)


@pytest.mark.django_db
def test_results_filters_by_outcome_and_prints_json() -> None:
    source = "py-listener-" + uuid.uuid4().hex[:8]
    pub = get_publisher()
    from purgebus import new_content_changed

    event_id = pub.publish(new_content_changed(source).add_tags("json-line"))
    wait_result(pub, event_id)
    lines = run("purgebus_results", "--source", source, "--all", "--outcome", "failed", "--idle-timeout", "1")
    assert lines == []
    [line] = run("purgebus_results", "--source", source, "--all", "--json", "--count", "1", "--idle-timeout", "20")
    got = json.loads(line)
    assert got["event_id"] == event_id and got["outcome"] == "succeeded"
    assert got["purges"][0]["objects"] == ["json-line"]
