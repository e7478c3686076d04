"""django-akamai's signals on purgebus: every sender kind, keyword arguments, on-commit publishing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import transaction

from conftest import wait_result
from purgebus import InvalidEventError, Outcome, Result
from purgebus.django.conf import get_publisher
from purgebus.django.signals import purge_request, queue_purge_request
from testapp.models import Article, Note

BASE = "https://www.example.com"


def response(sent: list[tuple[Any, Any]]) -> Any:
    [(_receiver, value)] = sent
    return value


def url_objects(r: Result) -> list[str]:
    return [o for p in r.purges if p.type == "url" for o in p.objects]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("sender", "want"),
    [
        ("https://www.example.com/one", ["https://www.example.com/one"]),
        (["https://www.example.com/l1", "/l2"], ["https://www.example.com/l1", f"{BASE}/l2"]),
        (("https://www.example.com/t1", "https://www.example.com/t2"), None),
        ("/relative/", [f"{BASE}/relative/"]),
    ],
    ids=["url", "list", "tuple", "relative url"],
)
def test_purge_request_with_urls(sender: Any, want: list[str] | None) -> None:
    r = response(purge_request.send(sender))
    assert isinstance(r, Result)
    assert r.outcome is Outcome.SUCCEEDED and r.purge_ids
    assert r.source == "django-tests"
    assert url_objects(r) == (want if want is not None else list(sender))


@pytest.mark.django_db
def test_purge_request_with_a_model_instance() -> None:
    a = Article.objects.create(slug="hello")
    r = response(purge_request.send(a))
    assert url_objects(r) == [f"{BASE}/articles/hello/"]


@pytest.mark.django_db
def test_purge_request_with_a_queryset_iterates_in_chunks(settings: Any) -> None:
    settings.PURGEBUS = {**settings.PURGEBUS, "CHUNK_SIZE": 7}
    Article.objects.bulk_create([Article(slug=f"a{i}", section="sport") for i in range(25)])
    Article.objects.create(slug="other", section="news")
    qs = Article.objects.filter(section="sport").order_by("id")
    r = response(purge_request.send(qs))
    assert url_objects(r) == [f"{BASE}/articles/a{i}/" for i in range(25)]
    assert qs._result_cache is None, "the QuerySet was iterated, not loaded whole"


@pytest.mark.django_db
def test_keyword_arguments_tags_cpcodes_action_network() -> None:
    r = response(
        purge_request.send(
            "https://www.example.com/kw",
            tags=["news", "sport"],
            cpcodes=[12345],
            action="delete",
            network="staging",
        )
    )
    assert r.outcome is Outcome.SUCCEEDED
    assert {p.type: p.objects for p in r.purges} == {
        "url": ["https://www.example.com/kw"],
        "tag": ["news", "sport"],
        "cpcode": ["12345"],
    }
    assert {(p.action, p.network) for p in r.purges} == {("delete", "staging")}


@pytest.mark.django_db
def test_tags_only_with_no_sender() -> None:
    r = response(purge_request.send(None, tags=["only-tags"]))
    assert [(p.type, p.objects) for p in r.purges] == [("tag", ["only-tags"])]


@pytest.mark.django_db
def test_sender_without_get_absolute_url_is_refused(watch: Any) -> None:
    w = watch("content.changed.>")
    w2 = watch("content.changed")
    note = Note.objects.create(text="x")
    for signal in (purge_request, queue_purge_request):
        with pytest.raises(TypeError, match="get_absolute_url"):
            signal.send(note)
        with pytest.raises(TypeError, match="get_absolute_url"):
            signal.send(Note.objects.all())
    assert w.nothing_within(0.3) and w2.nothing_within(0.01), "nothing may be published"


@pytest.mark.django_db
def test_relative_url_without_a_base_is_refused(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.PURGEBUS = {k: v for k, v in settings.PURGEBUS.items() if k != "BASE_URL"}
    # With django.contrib.sites the current Site completes it ...
    r = response(purge_request.send("/from-site/"))
    assert url_objects(r) == ["https://example.com/from-site/"]
    # ... without it, nothing can.
    monkeypatch.setattr("purgebus.django.senders.apps.is_installed", lambda name: False)
    with pytest.raises(InvalidEventError) as info:
        queue_purge_request.send("/nowhere/")
    assert info.value.code == "relative_url"


@pytest.mark.django_db(transaction=True)
def test_queue_purge_request_outside_a_transaction(watch: Any) -> None:
    w = watch("content.changed")
    [event_id] = response(queue_purge_request.send("https://www.example.com/now"))
    _, headers, data = w.get()
    assert headers["Nats-Msg-Id"] == event_id
    assert json.loads(data)["urls"] == ["https://www.example.com/now"]
    assert wait_result(get_publisher(), event_id).outcome is Outcome.SUCCEEDED  # type: ignore[attr-defined]


@pytest.mark.django_db(transaction=True)
def test_queue_purge_request_in_a_transaction_publishes_on_commit(watch: Any) -> None:
    w = watch("content.changed")
    with transaction.atomic():
        a = Article.objects.create(slug="committed")
        [event_id] = response(queue_purge_request.send(a))
        assert w.nothing_within(0.3), "published before the commit"
    _, headers, data = w.get()
    assert headers["Nats-Msg-Id"] == event_id
    assert json.loads(data)["urls"] == [f"{BASE}/articles/committed/"]
    assert wait_result(get_publisher(), event_id).outcome is Outcome.SUCCEEDED  # type: ignore[attr-defined]


@pytest.mark.django_db(transaction=True)
def test_queue_purge_request_in_a_rolled_back_transaction_publishes_nothing(watch: Any) -> None:
    w = watch("content.changed")

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        a = Article.objects.create(slug="rolled-back")
        [event_id] = response(queue_purge_request.send(a))
        raise Rollback
    assert w.nothing_within(0.5)
    assert get_publisher().get_result(event_id) is None
    assert not Article.objects.filter(slug="rolled-back").exists()


@pytest.mark.django_db(transaction=True)
def test_large_list_becomes_several_events() -> None:
    urls = [f"https://www.example.com/products/{i:06d}" for i in range(7000)]
    ids = response(queue_purge_request.send(urls))
    assert len(ids) == 2, "7,000 URLs are over 256 KiB: two events"
    got = []
    for event_id in ids:
        r = wait_result(get_publisher(), event_id, 60)
        assert r.outcome is Outcome.SUCCEEDED  # type: ignore[attr-defined]
        got += url_objects(r)  # type: ignore[arg-type]
    assert got == urls


@pytest.mark.django_db(transaction=True)
def test_queue_purge_request_raises_when_nats_is_down(settings: Any) -> None:
    import time

    from conftest import free_port
    from purgebus import PurgebusUnavailable

    url = f"nats://127.0.0.1:{free_port()}"
    settings.PURGEBUS = {**settings.PURGEBUS, "NATS_URL": url, "TIMEOUT": 0.5}
    start = time.monotonic()
    with pytest.raises(PurgebusUnavailable) as info:
        queue_purge_request.send("https://www.example.com/down")
    assert time.monotonic() - start < 2.5
    assert url in str(info.value)
