"""django-akamai's PurgeRequest on purgebus."""

from __future__ import annotations

import pytest

from conftest import wait_result
from purgebus import Outcome
from purgebus.django.conf import get_publisher
from purgebus.django.purge import PurgeRequest
from testapp.models import Article, Note

BASE = "https://www.example.com"


@pytest.mark.django_db
def test_add_every_kind_then_purge() -> None:
    Article.objects.create(slug="qs1", section="q")
    Article.objects.create(slug="qs2", section="q")
    one = Article.objects.create(slug="one")
    pr = PurgeRequest()
    pr.add("https://www.example.com/url-1.html")
    pr.add(["https://www.example.com/url-2.html", "/url-3.html"])
    pr.add(("https://www.example.com/url-4.html",))
    pr.add(one)
    pr.add(Article.objects.filter(section="q").order_by("slug"))
    want = [
        f"{BASE}/url-1.html",
        f"{BASE}/url-2.html",
        f"{BASE}/url-3.html",
        f"{BASE}/url-4.html",
        f"{BASE}/articles/one/",
        f"{BASE}/articles/qs1/",
        f"{BASE}/articles/qs2/",
    ]
    assert pr.urls == want
    assert pr.last_result is None
    done = pr.purge()
    [(urls, result)] = done
    assert urls == want
    assert result.outcome is Outcome.SUCCEEDED and result.purge_ids
    assert [o for p in result.purges for o in p.objects] == want
    assert pr.last_result == result
    assert pr.urls == []
    assert pr.purge() == [], "nothing left to purge"


@pytest.mark.django_db
def test_constructor_urls_action_network_and_purge_all() -> None:
    pr = PurgeRequest(["https://www.example.com/c1"], action="delete", network="staging", tags=["t1"])
    [result] = pr.purge_all()
    assert result.outcome is Outcome.SUCCEEDED
    assert {(p.type, p.action, p.network) for p in result.purges} == {
        ("url", "delete", "staging"),
        ("tag", "delete", "staging"),
    }
    assert pr.urls == [] and pr.tags == []


@pytest.mark.django_db
def test_no_200_url_chunking_for_the_caller() -> None:
    urls = [f"https://www.example.com/many/{i}" for i in range(1500)]
    pr = PurgeRequest(urls)
    [(sent, result)] = pr.purge()
    assert sent == urls, "one event for 1,500 URLs"
    assert sum(len(p.objects) for p in result.purges) == 1500
    assert pr.urls == []


@pytest.mark.django_db(transaction=True)
def test_queue() -> None:
    pr = PurgeRequest(cpcodes=[12345])
    [event_id] = pr.queue()
    assert pr.cpcodes == []
    r = wait_result(get_publisher(), event_id)
    assert [(p.type, p.objects) for p in r.purges] == [("cpcode", ["12345"])]  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_add_refuses_what_it_cannot_purge() -> None:
    pr = PurgeRequest()
    with pytest.raises(TypeError, match="get_absolute_url"):
        pr.add(Note.objects.create(text="x"))
    with pytest.raises(TypeError):
        pr.add(42)
    assert pr.urls == []


@pytest.mark.django_db
def test_django_akamai_credentials_arguments_are_accepted_and_ignored() -> None:
    with pytest.warns(DeprecationWarning, match="consumer holds the Akamai credentials"):
        pr = PurgeRequest(
            "https://www.example.com/legacy", edgegrid_host="akab-x.purge.akamaiapis.net", edgegrid_auth=object()
        )
    [result] = pr.purge_all(rate_limit_delay=60)
    assert result.outcome is Outcome.SUCCEEDED
