"""The ``PURGEBUS`` setting: one dict for the connection, the subject and the URLs.

Keys (all optional): ``NATS_URL``, ``NATS_CREDS``, ``NATS_NKEY``,
``NATS_TOKEN``, ``NATS_USER``, ``NATS_PASSWORD``, ``NATS_TLS_CA``,
``NATS_TLS_CERT``, ``NATS_TLS_KEY``, ``NATS_TLS_SERVER_NAME``,
``NATS_TLS_FIRST``, ``NATS_INBOX_PREFIX`` (the consumer's names; unset ones come
from the same environment variables the consumer reads), ``SUBJECT``,
``SOURCE``, ``TIMEOUT``, ``WAIT_TIMEOUT``, ``BASE_URL``, ``SITE_SCHEME``,
``RESULT_STREAM``, ``MAX_EVENT_BYTES``, ``CHUNK_SIZE``, ``ACTION``, ``NETWORK``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

from ..connection import DEFAULT_TIMEOUT, ConnectionSettings
from ..event import DEFAULT_MAX_EVENT_BYTES
from ..publisher import PublisherConfig
from ..subject import DEFAULT_RESULT_STREAM, SUBJECT_CONTENT_CHANGED
from ..sync import SyncPublisher, shared_publisher

__all__ = ["DEFAULTS", "KNOWN_KEYS", "PurgebusSettings", "get_publisher", "get_settings", "raw_settings"]

_CONNECTION_KEYS = {
    "NATS_URL": "url",
    "NATS_CREDS": "creds",
    "NATS_NKEY": "nkey",
    "NATS_TOKEN": "token",
    "NATS_USER": "user",
    "NATS_PASSWORD": "password",
    "NATS_TLS_CA": "tls_ca",
    "NATS_TLS_CERT": "tls_cert",
    "NATS_TLS_KEY": "tls_key",
    "NATS_TLS_SERVER_NAME": "tls_server_name",
    "NATS_TLS_FIRST": "tls_first",
    "NATS_INBOX_PREFIX": "inbox_prefix",
}

#: DEFAULTS are the values of the keys PURGEBUS leaves out.
DEFAULTS: dict[str, Any] = {
    "SUBJECT": SUBJECT_CONTENT_CHANGED,
    "SOURCE": "django",
    "TIMEOUT": DEFAULT_TIMEOUT,
    "WAIT_TIMEOUT": 30.0,
    "BASE_URL": None,
    "SITE_SCHEME": "https",
    "RESULT_STREAM": DEFAULT_RESULT_STREAM,
    "MAX_EVENT_BYTES": DEFAULT_MAX_EVENT_BYTES,
    "CHUNK_SIZE": 2000,
    "ACTION": "invalidate",
    "NETWORK": "production",
}

#: KNOWN_KEYS are every key PURGEBUS may hold.
KNOWN_KEYS = frozenset(_CONNECTION_KEYS) | frozenset(DEFAULTS)


@dataclass(frozen=True)
class PurgebusSettings:
    """PurgebusSettings is the PURGEBUS setting with its defaults, parsed."""

    connection: ConnectionSettings
    publisher: PublisherConfig
    source: str
    wait_timeout: float
    base_url: str | None
    site_scheme: str
    chunk_size: int
    action: str
    network: str


def raw_settings() -> dict[str, Any]:
    """raw_settings returns the PURGEBUS dict with the defaults filled in."""
    raw = getattr(settings, "PURGEBUS", None) or {}
    if not isinstance(raw, dict):
        raise ImproperlyConfigured("PURGEBUS must be a dict")
    return {**DEFAULTS, **raw}


@functools.lru_cache(maxsize=1)
def get_settings() -> PurgebusSettings:
    """get_settings returns the parsed PURGEBUS setting; it raises ImproperlyConfigured."""
    raw = raw_settings()
    overrides = {attr: raw.get(key) for key, attr in _CONNECTION_KEYS.items()}
    try:
        conn = ConnectionSettings.from_env(timeout=float(raw["TIMEOUT"]), name="purgebus-django", **overrides)
        pub = PublisherConfig(
            subject=raw["SUBJECT"],
            result_stream=raw["RESULT_STREAM"],
            max_event_bytes=int(raw["MAX_EVENT_BYTES"]),
            timeout=float(raw["TIMEOUT"]),
        )
        return PurgebusSettings(
            connection=conn,
            publisher=pub,
            source=str(raw["SOURCE"]),
            wait_timeout=float(raw["WAIT_TIMEOUT"]),
            base_url=raw["BASE_URL"] or None,
            site_scheme=str(raw["SITE_SCHEME"]),
            chunk_size=int(raw["CHUNK_SIZE"]),
            action=str(raw["ACTION"]),
            network=str(raw["NETWORK"]),
        )
    except (TypeError, ValueError) as e:
        raise ImproperlyConfigured(f"PURGEBUS: {e}") from e


def get_publisher() -> SyncPublisher:
    """get_publisher returns the process's SyncPublisher for the PURGEBUS setting: one connection per process."""
    s = get_settings()
    return shared_publisher(s.connection, s.publisher)


@receiver(setting_changed)
def _reset(*, setting: str, **kwargs: Any) -> None:
    if setting == "PURGEBUS":
        get_settings.cache_clear()
