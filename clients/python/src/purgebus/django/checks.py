"""System checks of the PURGEBUS setting, run by ``manage.py check`` and at start-up."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

from ..connection import ConnectionSettings
from ..subject import SUBJECT_CONTENT_CHANGED, valid_subject
from .conf import _CONNECTION_KEYS, DEFAULTS, KNOWN_KEYS

__all__ = ["check_settings"]


@register("purgebus")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """check_settings checks the PURGEBUS setting and says what is wrong with it."""
    raw = getattr(settings, "PURGEBUS", None)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return [
            Error(
                "PURGEBUS must be a dict.", hint="PURGEBUS = {'NATS_URL': 'nats://127.0.0.1:4222'}", id="purgebus.E001"
            )
        ]
    out: list[CheckMessage] = []
    unknown = sorted(set(raw) - KNOWN_KEYS)
    if unknown:
        out.append(
            Warning(
                f"PURGEBUS has unknown keys: {', '.join(unknown)}.",
                hint=f"Known keys: {', '.join(sorted(KNOWN_KEYS))}.",
                id="purgebus.W001",
            )
        )
    values = {**DEFAULTS, **raw}
    for key in ("TIMEOUT", "WAIT_TIMEOUT"):
        v = values[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
            out.append(Error(f"PURGEBUS[{key!r}] must be a positive number of seconds, not {v!r}.", id="purgebus.E004"))
    for key in ("MAX_EVENT_BYTES", "CHUNK_SIZE"):
        v = values[key]
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            out.append(Error(f"PURGEBUS[{key!r}] must be a positive integer, not {v!r}.", id="purgebus.E008"))
    subject = values["SUBJECT"]
    if not isinstance(subject, str) or not valid_subject(subject):
        out.append(
            Error(
                f"PURGEBUS['SUBJECT'] {subject!r} is not {SUBJECT_CONTENT_CHANGED} or a subject below it.",
                hint="For example 'content.changed.blog'.",
                id="purgebus.E003",
            )
        )
    source = values["SOURCE"]
    if not isinstance(source, str) or not source:
        out.append(Error("PURGEBUS['SOURCE'] must be a non-empty string naming this site.", id="purgebus.E007"))
    if values["ACTION"] not in ("invalidate", "delete"):
        out.append(
            Error(f"PURGEBUS['ACTION'] {values['ACTION']!r} is neither invalidate nor delete.", id="purgebus.E006")
        )
    if values["NETWORK"] not in ("production", "staging"):
        out.append(
            Error(f"PURGEBUS['NETWORK'] {values['NETWORK']!r} is neither production nor staging.", id="purgebus.E006")
        )
    base = values["BASE_URL"]
    if base:
        parts = urlsplit(str(base))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            out.append(
                Error(
                    f"PURGEBUS['BASE_URL'] {base!r} is not an absolute http or https URL.",
                    hint="For example 'https://www.example.com'.",
                    id="purgebus.E005",
                )
            )
    elif not apps.is_installed("django.contrib.sites"):
        out.append(
            Warning(
                "PURGEBUS has no BASE_URL and django.contrib.sites is not installed: "
                "relative URLs (from get_absolute_url()) cannot be completed and will be refused.",
                hint="Set PURGEBUS['BASE_URL'] = 'https://www.example.com'.",
                id="purgebus.W002",
            )
        )
    if values["SITE_SCHEME"] not in ("http", "https"):
        out.append(Error("PURGEBUS['SITE_SCHEME'] must be 'http' or 'https'.", id="purgebus.E005"))
    timeout = values["TIMEOUT"]
    conn = ConnectionSettings.from_env(
        timeout=timeout if isinstance(timeout, (int, float)) and timeout > 0 else 1.0,
        **{attr: raw.get(key) for key, attr in _CONNECTION_KEYS.items()},
    )
    for problem in conn.problems():
        out.append(Error(f"PURGEBUS: {problem}.", id="purgebus.E002"))
    return out
