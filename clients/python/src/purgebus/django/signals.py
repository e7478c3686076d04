"""django-akamai's signals on purgebus, and signals for results.

``purge_request`` is immediate: its receiver waits for the result and
returns it (a :class:`~purgebus.Result`; a list of them when the sender's
URLs needed several events). ``queue_purge_request`` is queued: its receiver
returns the event IDs once JetStream stored the events, or, inside a
database transaction, once the transaction commits (nothing if it rolls
back). Senders: a URL, a list of URLs, a model instance with
``get_absolute_url()`` or a QuerySet. Keyword arguments: ``tags``,
``cpcodes``, ``action``, ``network``, and ``source``, ``metadata``,
``correlation_id``, ``using`` (the database alias), ``timeout``
(``purge_request`` only).

``purge_succeeded`` and ``purge_failed`` are sent by the ``purgebus_results``
management command with ``sender=Result`` and ``result=``: succeeded results
go to ``purge_succeeded``, failed and partial ones to ``purge_failed``.

Example::

    from purgebus.django.signals import purge_request, queue_purge_request
    queue_purge_request.send(article)                   # article.get_absolute_url()
    queue_purge_request.send(None, tags=["news"])
    [(_, result)] = purge_request.send(["https://www.example.com/a"])
"""

from __future__ import annotations

import functools
from typing import Any

from django.db import DEFAULT_DB_ALIAS, transaction
from django.dispatch import Signal

from ..result import Result
from .conf import get_publisher, get_settings
from .senders import absolute_url, build_events, iter_urls

__all__ = [
    "PurgeSignal",
    "purge_failed",
    "purge_request",
    "purge_request_handler",
    "purge_succeeded",
    "queue_purge_request",
    "queue_purge_request_handler",
]


class _SenderCache(dict[Any, Any]):
    """_SenderCache lets Signal.send look up an unhashable sender (a list of URLs) and find nothing.

    Django's Signal.send asks its sender cache about the sender even when
    it does not cache, which fails for a list; django-akamai's senders
    include lists of URLs.
    """

    def get(self, key: Any, default: Any = None) -> Any:
        try:
            return super().get(key, default)
        except TypeError:
            return default


class PurgeSignal(Signal):
    """PurgeSignal is a Signal whose sender may be a list of URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.sender_receivers_cache = _SenderCache()


#: purge_request purges the sender's URLs and waits for the result.
purge_request = PurgeSignal()
#: queue_purge_request queues a purge of the sender's URLs (on commit inside a transaction).
queue_purge_request = PurgeSignal()
#: purge_succeeded is sent for each succeeded result (``result=``) by ``purgebus_results``.
purge_succeeded = Signal()
#: purge_failed is sent for each failed or partial result (``result=``) by ``purgebus_results``.
purge_failed = Signal()


def _events(sender: Any, kwargs: dict[str, Any]) -> list[tuple[Any, bytes]]:
    conf = get_settings()
    urls = (absolute_url(u, conf) for u in iter_urls(sender, conf.chunk_size))
    return build_events(
        urls,
        conf,
        tags=list(kwargs.get("tags") or ()),
        cpcodes=list(kwargs.get("cpcodes") or ()),
        action=kwargs.get("action"),
        network=kwargs.get("network"),
        source=kwargs.get("source"),
        metadata=kwargs.get("metadata"),
    )


def purge_request_handler(sender: Any, **kwargs: Any) -> Result | list[Result]:
    """purge_request_handler publishes the sender's purge and returns its result."""
    events = _events(sender, kwargs)
    pub = get_publisher()
    timeout = float(kwargs.get("timeout") or get_settings().wait_timeout)
    results = [pub.purge_and_wait(e, timeout, correlation_id=kwargs.get("correlation_id")) for e, _ in events]
    return results[0] if len(results) == 1 else results


def queue_purge_request_handler(sender: Any, **kwargs: Any) -> list[str]:
    """queue_purge_request_handler queues the sender's purge, on commit inside a transaction, and returns the event IDs.

    The events are built and validated at once, so a bad sender fails the
    caller before anything is published.
    """
    events = _events(sender, kwargs)
    using = kwargs.get("using") or DEFAULT_DB_ALIAS
    publish = functools.partial(_publish, events, kwargs.get("correlation_id"))
    if transaction.get_connection(using).in_atomic_block:
        transaction.on_commit(publish, using=using)
    else:
        publish()
    return [e.id for e, _ in events]


def _publish(events: list[tuple[Any, bytes]], correlation_id: str | None) -> None:
    pub = get_publisher()
    for e, data in events:
        pub.publish_prepared(e.id, data, correlation_id=correlation_id)


purge_request.connect(purge_request_handler, dispatch_uid="purgebus.purge_request")
queue_purge_request.connect(queue_purge_request_handler, dispatch_uid="purgebus.queue_purge_request")
