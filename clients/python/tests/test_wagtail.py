"""The Wagtail frontend-cache backend: a page publish purged through the consumer in one event."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from wagtail.contrib.frontend_cache.utils import get_backends
from wagtail.models import Page

from conftest import free_port
from purgebus import Outcome, Result
from purgebus.django.conf import get_publisher
from testapp.models import BlogPage


def results_of(source: str, n: int, idle: float = 20) -> list[Result]:
    got = []
    for r in get_publisher().results(source=source, deliver_all=True, idle_timeout=idle):
        got.append(r)
        if len(got) == n:
            break
    return got


def new_page(slug: str) -> BlogPage:
    home = Page.objects.get(depth=2)
    page = BlogPage(title=slug, slug=slug, live=False)
    home.add_child(instance=page)
    return page


@pytest.mark.django_db
def test_publishing_a_page_purges_its_urls_in_one_event(settings: Any) -> None:
    source = "wagtail-" + uuid.uuid4().hex[:8]
    settings.WAGTAILFRONTENDCACHE = {
        "purgebus": {**settings.WAGTAILFRONTENDCACHE["purgebus"], "SOURCE": source},
    }
    page = new_page("hello")
    page.save_revision().publish()
    [r] = results_of(source, 1)
    assert r.outcome is Outcome.SUCCEEDED
    assert [(p.type, sorted(p.objects)) for p in r.purges] == [
        ("url", ["http://localhost/hello/", "http://localhost/hello/feed/"])
    ]
    # Exactly one event for the publish: no second result follows.
    assert len(results_of(source, 2, idle=1.5)) == 1


@pytest.mark.django_db
def test_purge_batch_is_one_event_and_purge_hostname_is_a_cpcode_purge() -> None:
    source = "wagtail-" + uuid.uuid4().hex[:8]
    backend = get_backends(
        {"b": {"BACKEND": "purgebus.wagtail.PurgebusBackend", "SOURCE": source, "CPCODES": {"localhost": [424242]}}}
    )["b"]
    backend.purge_batch([f"https://www.example.com/batch/{i}" for i in range(50)])
    backend.purge_hostname("localhost")
    backend.purge_hostname("unconfigured.example.com")  # only a warning
    backend.purge_tags(["section-news"])
    rs = {tuple(sorted({p.type for p in r.purges})): r for r in results_of(source, 3)}
    assert set(rs) == {("url",), ("cpcode",), ("tag",)}
    assert len(rs[("url",)].purges[0].objects) == 50
    assert rs[("cpcode",)].purges[0].objects == ["424242"]
    assert rs[("tag",)].purges[0].objects == ["section-news"]
    assert len(results_of(source, 4, idle=1.5)) == 3
    assert backend.hostname_purge_supported


@pytest.mark.django_db
def test_purge_everything_purges_every_cp_code() -> None:
    source = "wagtail-" + uuid.uuid4().hex[:8]
    conf = {"BACKEND": "purgebus.wagtail.PurgebusBackend", "SOURCE": source, "CPCODES": {"a": [2, 1], "b": [1, 3]}}
    backend = get_backends({"b": conf})["b"]
    backend.purge_everything()
    [r] = results_of(source, 1)
    assert [(p.type, p.objects) for p in r.purges] == [("cpcode", ["1", "2", "3"])]
    plain = get_backends({"p": {"BACKEND": "purgebus.wagtail.PurgebusBackend"}})["p"]
    assert not plain.hostname_purge_supported
    with pytest.raises(NotImplementedError):
        plain.purge_everything()


@pytest.mark.django_db
def test_publish_succeeds_when_nats_is_down(settings: Any, caplog: pytest.LogCaptureFixture) -> None:
    settings.PURGEBUS = {**settings.PURGEBUS, "NATS_URL": f"nats://127.0.0.1:{free_port()}", "TIMEOUT": 0.5}
    page = new_page("while-down")
    with caplog.at_level(logging.ERROR, logger="purgebus.wagtail"):
        page.save_revision().publish()
    page.refresh_from_db()
    assert page.live, "the editor's publish went through"
    [rec] = [r for r in caplog.records if r.name == "purgebus.wagtail"]
    assert "purge not queued" in rec.getMessage()
    assert "http://localhost/while-down/" in rec.getMessage()
    assert "http://localhost/while-down/feed/" in rec.getMessage()
    assert "127.0.0.1" in rec.getMessage(), "the error names the server tried"
