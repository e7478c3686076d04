"""What a signal's sender (or PurgeRequest.add) stands for: URLs, made absolute, packed into events.

django-akamai's sender kinds: one URL string, a list (or tuple) of URLs, a
model instance with ``get_absolute_url()``, a QuerySet of such instances
(iterated in chunks, never loaded whole).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urljoin, urlsplit

from django.apps import apps
from django.db.models import QuerySet

from ..errors import InvalidEventError
from ..event import ContentChanged
from ..wirejson import encoded_string_size
from .conf import PurgebusSettings

__all__ = ["absolute_url", "build_events", "iter_urls"]


def iter_urls(sender: Any, chunk_size: int = 2000) -> Iterator[str]:
    """iter_urls yields the URLs a sender stands for, as they are (maybe relative).

    It raises TypeError for a sender of another kind, or an object without
    ``get_absolute_url()``.
    """
    if sender is None:
        return
    if isinstance(sender, str):
        yield sender
    elif isinstance(sender, QuerySet):
        for obj in sender.iterator(chunk_size=chunk_size):
            yield _url_of(obj)
    elif isinstance(sender, (list, tuple, set, frozenset)):
        for item in sender:
            yield item if isinstance(item, str) else _url_of(item)
    else:
        yield _url_of(sender)


def _url_of(obj: Any) -> str:
    get = getattr(obj, "get_absolute_url", None)
    if get is None:
        what = type(obj).__name__ if not isinstance(obj, type) else obj.__name__
        raise TypeError(
            f"purgebus: don't know how to purge {what} {obj!r}: send a URL, a list of URLs, "
            "a model instance with get_absolute_url() or a QuerySet of them"
        )
    url = get()
    if not isinstance(url, str):
        raise TypeError(f"purgebus: {type(obj).__name__}.get_absolute_url() returned {url!r}, not a string")
    return url


def absolute_url(url: str, conf: PurgebusSettings, request: Any = None) -> str:
    """absolute_url completes a relative URL from PURGEBUS['BASE_URL'] or the current django.contrib.sites Site.

    It raises :class:`~purgebus.InvalidEventError` (``relative_url``) when
    there is nothing to complete it with.
    """
    if urlsplit(url).scheme:
        return url
    base = conf.base_url
    if not base and apps.is_installed("django.contrib.sites"):
        from django.contrib.sites.models import Site

        site = Site.objects.get_current(request)
        base = f"{conf.site_scheme}://{site.domain}"
    if not base:
        raise InvalidEventError(
            f"relative URL {url!r} and nothing to complete it with: "
            "set PURGEBUS['BASE_URL'] or install django.contrib.sites",
            "relative_url",
        )
    return urljoin(base if base.endswith("/") else base + "/", url)


def build_events(
    urls: Iterable[str],
    conf: PurgebusSettings,
    *,
    tags: Sequence[str] = (),
    cpcodes: Sequence[int] = (),
    action: str | None = None,
    network: str | None = None,
    source: str | None = None,
    metadata: dict[str, str] | None = None,
) -> list[tuple[ContentChanged, bytes]]:
    """build_events packs URLs, tags and CP codes into as few events as fit the size limit, validated and encoded.

    Each event gets its ID now; nothing is published. It raises
    :class:`~purgebus.InvalidEventError` if any event is invalid.
    """
    limit = conf.publisher.max_event_bytes

    def new() -> ContentChanged:
        e = ContentChanged(
            source=source or conf.source,
            occurred_at=datetime.now(timezone.utc),
            action=action or conf.action,
            network=network or conf.network,
            metadata=dict(metadata or {}),
        )
        e.ensure_id()
        return e

    events = [new().add_tags(*tags).add_cpcodes(*cpcodes)]
    size = len(events[0].encode()) + len(',"urls":[]')
    for url in urls:
        n = encoded_string_size(url) + 1
        if events[-1].urls and size + n > limit:
            events.append(new())
            size = len(events[-1].encode()) + len(',"urls":[]')
        events[-1].urls.append(url)
        size += n
    return [(e, e.validate(limit)) for e in events]
