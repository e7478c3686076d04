"""django-akamai's PurgeRequest on purgebus.

Example::

    from purgebus.django.purge import PurgeRequest
    pr = PurgeRequest()
    pr.add("https://www.example.com/url-1.html")
    pr.add(Article.objects.filter(section="news"))
    for urls, result in pr.purge():
        print(result.outcome, result.purge_ids, len(urls))
    pr.urls        # [] : everything was purged

Unlike django-akamai there is no 200-URL (or 50,000-byte) chunking for the
caller to do: URLs are packed into as few events as the consumer's size
limit allows, and the consumer packs them into Fast Purge requests.
"""

from __future__ import annotations

import warnings
from typing import Any

from ..result import Result
from ..sync import SyncPublisher
from .conf import get_publisher, get_settings
from .senders import absolute_url, build_events, iter_urls

__all__ = ["PurgeRequest"]


class PurgeRequest:
    """PurgeRequest collects URLs (and tags, CP codes) and purges them through purgebus.

    ``action`` and ``network`` default to PURGEBUS['ACTION'] and
    ['NETWORK'] (``invalidate`` on ``production``). :attr:`urls` holds what
    is not purged yet; :attr:`last_result` the latest
    :class:`~purgebus.Result`.
    """

    def __init__(
        self,
        urls: Any = None,
        action: str | None = None,
        network: str | None = None,
        *,
        tags: list[str] | None = None,
        cpcodes: list[int] | None = None,
        source: str | None = None,
        timeout: float | None = None,
        publisher: SyncPublisher | None = None,
        edgegrid_host: object = None,
        edgegrid_auth: object = None,
    ) -> None:
        if edgegrid_host is not None or edgegrid_auth is not None:
            # django-akamai took Akamai credentials here; the consumer holds them now.
            warnings.warn(
                "PurgeRequest ignores edgegrid_host and edgegrid_auth: the purgebus consumer holds the Akamai "
                "credentials",
                DeprecationWarning,
                stacklevel=2,
            )
        conf = get_settings()
        self.action = action or conf.action
        self.network = network or conf.network
        self.source = source or conf.source
        self.timeout = timeout or conf.wait_timeout
        #: urls are the URLs not purged yet.
        self.urls: list[str] = []
        #: tags are the cache tags not purged yet.
        self.tags: list[str] = list(tags or [])
        #: cpcodes are the CP codes not purged yet.
        self.cpcodes: list[int] = list(cpcodes or [])
        #: last_result is the result of the latest event purged, or None.
        self.last_result: Result | None = None
        self._publisher = publisher
        if urls is not None:
            self.add(urls)

    def add(self, urls: Any) -> None:
        """Add adds a URL, a list or tuple of URLs, a model instance with get_absolute_url() or a QuerySet.

        Relative URLs are completed at once (PURGEBUS['BASE_URL'] or
        django.contrib.sites). It raises TypeError for anything else.
        """
        conf = get_settings()
        self.urls.extend(absolute_url(u, conf) for u in iter_urls(urls, conf.chunk_size))

    def add_tags(self, *tags: str) -> None:
        """add_tags adds cache tags to purge."""
        self.tags.extend(tags)

    def add_cpcodes(self, *codes: int) -> None:
        """add_cpcodes adds CP codes to purge."""
        self.cpcodes.extend(codes)

    def _events(self) -> list[tuple[Any, bytes]]:
        return build_events(
            self.urls,
            get_settings(),
            tags=self.tags,
            cpcodes=self.cpcodes,
            action=self.action,
            network=self.network,
            source=self.source,
        )

    def purge(self) -> list[tuple[list[str], Result]]:
        """Purge purges everything pending and returns (urls, result) for each event, waiting for each result.

        Purged objects leave :attr:`urls` (and :attr:`tags`,
        :attr:`cpcodes`) as their results come; on an error the rest stays
        pending. Like django-akamai's purge() it can be iterated as
        ``for urls, result in pr.purge()``; it runs even if not iterated.
        """
        if not (self.urls or self.tags or self.cpcodes):
            return []
        pub = self._publisher or get_publisher()
        out = []
        for event, _ in self._events():
            result = pub.purge_and_wait(event, self.timeout)
            self.last_result = result
            self._done(event.urls, event.tags, event.cpcodes)
            out.append((list(event.urls), result))
        return out

    def purge_all(self, rate_limit_delay: float | None = None) -> list[Result]:
        """purge_all purges everything pending and returns the results.

        rate_limit_delay is django-akamai's and is ignored: the consumer paces
        purges to Akamai's rate limits and retries them.
        """
        return [r for _, r in self.purge()]

    def queue(self) -> list[str]:
        """Queue is the queued form of purge: it returns the event IDs once JetStream stored them."""
        if not (self.urls or self.tags or self.cpcodes):
            return []
        pub = self._publisher or get_publisher()
        ids = []
        for event, data in self._events():
            pub.publish_prepared(event.id, data)
            self._done(event.urls, event.tags, event.cpcodes)
            ids.append(event.id)
        return ids

    def _done(self, urls: list[str], tags: list[str], cpcodes: list[int]) -> None:
        del self.urls[: len(urls)]
        del self.tags[: len(tags)]
        del self.cpcodes[: len(cpcodes)]
