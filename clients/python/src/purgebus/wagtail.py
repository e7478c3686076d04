"""A Wagtail frontend-cache backend that purges through purgebus.

Configure it in ``WAGTAILFRONTENDCACHE`` (the connection comes from the
``PURGEBUS`` setting)::

    WAGTAILFRONTENDCACHE = {
        "akamai": {
            "BACKEND": "purgebus.wagtail.PurgebusBackend",
            "HOSTNAMES": ["www.example.com"],          # optional, Wagtail's own
            "CPCODES": {"www.example.com": [123456]},   # optional: whole-host purges
            "SOURCE": "wagtail",                        # optional
        },
    }

A batch of URLs (all the URLs of a published page) becomes one event, and
publishing returns once JetStream stored it: a page publish never waits on
Akamai. If NATS cannot be reached, the publish still succeeds and the error
is logged with the URLs that were not queued.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from wagtail.contrib.frontend_cache.backends.base import BaseBackend

from .errors import PurgebusError

__all__ = ["PurgebusBackend"]

logger = logging.getLogger("purgebus.wagtail")


class PurgebusBackend(BaseBackend):  # type: ignore[misc]
    """PurgebusBackend queues Wagtail's purges as purgebus events.

    Parameters (besides Wagtail's ``HOSTNAMES``): ``SOURCE`` (default
    PURGEBUS['SOURCE']), ``ACTION``, ``NETWORK``, ``TAGS`` (cache tags added
    to every purge) and ``CPCODES``: the CP codes of each host, a dict
    host → list (``"*"`` for any host) or a list for every host, used by
    :meth:`purge_hostname`.
    """

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.source: str | None = params.get("SOURCE")
        self.action: str | None = params.get("ACTION")
        self.network: str | None = params.get("NETWORK")
        self.tags: list[str] = list(params.get("TAGS") or [])
        cpcodes = params.get("CPCODES") or {}
        self.cpcodes: dict[str, list[int]] = (
            {str(k).lower(): list(v) for k, v in cpcodes.items()}
            if isinstance(cpcodes, Mapping)
            else {"*": list(cpcodes)}
        )

    def purge(self, url: str) -> None:
        """Purge queues a purge of one URL."""
        self.purge_batch([url])

    def purge_batch(self, urls: Iterable[str]) -> None:
        """purge_batch queues one event for all the URLs (Wagtail calls it with a page's URLs)."""
        urls = list(urls)
        if urls:
            self._queue(urls=urls, tags=self.tags, what=urls)

    def purge_tags(self, tags: Iterable[str]) -> None:
        """purge_tags queues a purge of cache tags, for sites that tag their pages."""
        tags = list(tags)
        if tags:
            self._queue(tags=[*self.tags, *tags], what=tags)

    def purge_hostname(self, hostname: str) -> None:
        """purge_hostname purges a whole host: a CP-code purge of the CP codes configured for it.

        Without CP codes for the host, nothing is purged and a warning says so.
        """
        codes = self.cpcodes.get(hostname.lower()) or self.cpcodes.get("*")
        if not codes:
            logger.warning(
                "purgebus: cannot purge the whole host %s: no CP codes configured for it "
                "(CPCODES in WAGTAILFRONTENDCACHE)",
                hostname,
            )
            return
        self._queue(cpcodes=codes, what=[f"{hostname} (CP codes {', '.join(map(str, codes))})"])

    @property
    def hostname_purge_supported(self) -> bool:
        """hostname_purge_supported tells Wagtail's purge_site() that purge_hostname() works (CP codes are set)."""
        return bool(self.cpcodes)

    def purge_everything(self) -> None:
        """purge_everything purges every configured CP code (Wagtail's whole-cache purge).

        Without CP codes it raises NotImplementedError, as Wagtail's base backend does.
        """
        codes = sorted({c for cs in self.cpcodes.values() for c in cs})
        if not codes:
            raise NotImplementedError("purge_everything needs CPCODES in WAGTAILFRONTENDCACHE")
        self._queue(cpcodes=codes, what=[f"everything (CP codes {', '.join(map(str, codes))})"])

    def _queue(
        self,
        *,
        urls: Sequence[str] = (),
        tags: Sequence[str] = (),
        cpcodes: Sequence[int] = (),
        what: list[str],
    ) -> None:
        from .django.conf import get_publisher, get_settings
        from .django.senders import absolute_url, build_events

        try:
            conf = get_settings()
            events = build_events(
                [absolute_url(u, conf) for u in urls],
                conf,
                tags=tags,
                cpcodes=cpcodes,
                action=self.action,
                network=self.network,
                source=self.source,
            )
            pub = get_publisher()
            for e, data in events:
                pub.publish_prepared(e.id, data)
                logger.info("purgebus: queued event %s with %d object(s)", e.id, e.objects())
        except (PurgebusError, OSError) as e:
            # An editor's publish must not fail because the purge could not
            # be queued: say loudly what was not purged.
            logger.error("purgebus: purge not queued (%s); not purged: %s", e, " ".join(what))
