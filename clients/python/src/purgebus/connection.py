"""NATS connection settings, named like the consumer's flags and variables."""

from __future__ import annotations

import asyncio
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import nats
from nats.aio.client import Client as NATS

from .errors import PurgebusUnavailable

__all__ = ["DEFAULT_NATS_URL", "DEFAULT_TIMEOUT", "ConnectionSettings"]

#: DEFAULT_NATS_URL is the consumer's embedded server (its --nats-listen default).
DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
#: DEFAULT_TIMEOUT is how long connecting or a publish may take, in seconds.
DEFAULT_TIMEOUT = 2.0

# Each setting's environment variables, in order of precedence, as the
# consumer reads them (consumer --help).
_ENV: dict[str, tuple[str, ...]] = {
    "url": ("NATS_URL",),
    "creds": ("NATS_CREDS",),
    "nkey": ("PURGEBUS_NATS_NKEY", "NATS_NKEY"),
    "token": ("PURGEBUS_NATS_TOKEN", "NATS_TOKEN"),
    "user": ("PURGEBUS_NATS_USER", "NATS_USER"),
    "password": ("PURGEBUS_NATS_PASSWORD", "NATS_PASSWORD"),
    "tls_ca": ("PURGEBUS_NATS_TLS_CA", "NATS_CA"),
    "tls_cert": ("PURGEBUS_NATS_TLS_CERT", "NATS_CERT"),
    "tls_key": ("PURGEBUS_NATS_TLS_KEY", "NATS_KEY"),
    "tls_server_name": ("PURGEBUS_NATS_TLS_SERVER_NAME",),
    "tls_first": ("PURGEBUS_NATS_TLS_FIRST",),
    "inbox_prefix": ("PURGEBUS_NATS_INBOX_PREFIX",),
}


@dataclass(frozen=True)
class ConnectionSettings:
    """ConnectionSettings says how to reach NATS.

    The fields match the consumer's flags: ``url`` (``--nats-url``,
    ``NATS_URL``; comma-separated for a cluster), ``creds`` (``--nats-creds``),
    ``nkey`` (``--nats-nkey``, a file holding the seed), ``token``,
    ``user``/``password``, ``tls_ca``, ``tls_cert``/``tls_key``,
    ``tls_server_name`` (``--nats-tls-server-name``), ``tls_first``
    (``--nats-tls-first``), ``inbox_prefix`` (``--nats-inbox-prefix``: a
    publisher allowed to subscribe to its own inbox prefix only, see
    docs/nats-permissions.md). ``timeout`` bounds connecting and each
    publish (seconds).
    """

    url: str = DEFAULT_NATS_URL
    creds: str | None = None
    nkey: str | None = None
    token: str | None = field(default=None, repr=False)
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_server_name: str | None = None
    tls_first: bool = False
    inbox_prefix: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    name: str = "purgebus-python"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> ConnectionSettings:
        """from_env reads the consumer's environment variables (NATS_URL, NATS_CREDS, …); overrides win."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name, keys in _ENV.items():
            for k in keys:
                if env.get(k):
                    values[name] = env[k]
                    break
        if "tls_first" in values:
            values["tls_first"] = str(values["tls_first"]).lower() in ("1", "true", "yes", "on")
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def servers(self) -> list[str]:
        """Servers lists the server URLs of :attr:`url`."""
        return [s.strip() for s in self.url.split(",") if s.strip()]

    def problems(self) -> list[str]:
        """Problems lists what is wrong with the settings, for checks and errors."""
        out = []
        if not self.servers:
            out.append("no NATS server URL")
        for s in self.servers:
            if "://" in s and s.split("://", 1)[0] not in ("nats", "tls", "ws", "wss"):
                out.append(f"NATS URL {s!r}: the scheme must be nats, tls, ws or wss")
        if (self.user is None) != (self.password is None):
            out.append("a NATS user needs a password, and a password a user")
        if (self.tls_cert is None) != (self.tls_key is None):
            out.append("a TLS client certificate needs its key, and a key its certificate")
        for what, path in (
            ("creds file", self.creds),
            ("NKey seed file", self.nkey),
            ("TLS CA file", self.tls_ca),
            ("TLS certificate", self.tls_cert),
            ("TLS key", self.tls_key),
        ):
            if path is not None and not os.path.isfile(path):
                out.append(f"{what} {path!r} does not exist")
        if self.inbox_prefix is not None and not re.fullmatch(r"[^\s*>]+", self.inbox_prefix):
            out.append(f"inbox prefix {self.inbox_prefix!r} is not a subject without wildcards")
        if not self.timeout > 0:
            out.append("the timeout must be positive")
        return out

    def ssl_context(self) -> ssl.SSLContext | None:
        """ssl_context returns the TLS context the settings ask for, or None."""
        if not (self.tls_ca or self.tls_cert or self.tls_server_name or self.tls_first):
            return None
        ctx = ssl.create_default_context(cafile=self.tls_ca)
        if self.tls_cert and self.tls_key:
            ctx.load_cert_chain(self.tls_cert, self.tls_key)
        return ctx

    async def connect(self) -> NATS:
        """Connect connects to NATS within :attr:`timeout`, reconnecting for ever afterwards.

        It raises :class:`PurgebusUnavailable` naming the servers tried.
        """
        opts: dict[str, Any] = {
            "servers": self.servers,
            "name": self.name,
            "connect_timeout": self.timeout,
            "allow_reconnect": True,
            "max_reconnect_attempts": -1,
            "reconnect_time_wait": 0.5,
        }
        seen: list[BaseException] = []

        async def record(e: Exception) -> None:
            # nats-py would log every failed attempt; PurgebusUnavailable says why once.
            seen[:] = [e]

        opts["error_cb"] = record
        if self.creds:
            opts["user_credentials"] = self.creds
        if self.nkey:
            opts["nkeys_seed"] = self.nkey
        if self.token:
            opts["token"] = self.token
        if self.user is not None:
            opts["user"] = self.user
            opts["password"] = self.password
        ctx = self.ssl_context()
        if ctx is not None:
            opts["tls"] = ctx
            if self.tls_server_name:
                opts["tls_hostname"] = self.tls_server_name
            if self.tls_first:
                opts["tls_handshake_first"] = True
        if self.inbox_prefix:
            opts["inbox_prefix"] = self.inbox_prefix
        nc = NATS()
        try:
            await asyncio.wait_for(nc.connect(**opts), self.timeout)
        except (asyncio.TimeoutError, OSError, nats.errors.Error) as e:
            await _abandon(nc)
            raise PurgebusUnavailable(
                f"purgebus: cannot reach NATS at {', '.join(self.servers)} within {self.timeout:g}s: "
                + _why(seen[-1] if seen else e),
                self.servers,
            ) from e
        return nc


def _why(e: BaseException) -> str:
    if isinstance(e, asyncio.TimeoutError):
        return "no answer"
    return str(e) or type(e).__name__


async def _abandon(nc: NATS) -> None:
    try:
        await asyncio.wait_for(nc.close(), 1)
    except Exception:  # noqa: BLE001 - closing a connection that never was
        pass
