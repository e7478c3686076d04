"""System checks of the PURGEBUS setting."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from purgebus.django.checks import check_settings


def ids(settings: Any, value: Any) -> list[str]:
    settings.PURGEBUS = value
    return sorted(m.id for m in check_settings())


def test_defaults_and_test_settings_pass(settings: Any) -> None:
    assert ids(settings, {"BASE_URL": "https://www.example.com"}) == []
    settings.PURGEBUS = {"BASE_URL": "https://www.example.com"}
    call_command("check", tags=["purgebus"])


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("nats://x", ["purgebus.E001"]),
        ({"NATS_URLS": "nats://x"}, ["purgebus.W001"]),
        ({"SUBJECT": "content.changed.*"}, ["purgebus.E003"]),
        ({"SUBJECT": "purge.result"}, ["purgebus.E003"]),
        ({"TIMEOUT": 0}, ["purgebus.E004"]),
        ({"WAIT_TIMEOUT": "30"}, ["purgebus.E004"]),
        ({"BASE_URL": "www.example.com"}, ["purgebus.E005"]),
        ({"NATS_CREDS": "/nonexistent/nats.creds"}, ["purgebus.E002"]),
        ({"NATS_URL": "http://127.0.0.1:4222"}, ["purgebus.E002"]),
        ({"NATS_USER": "u"}, ["purgebus.E002"]),
        ({"NATS_TLS_CERT": __file__}, ["purgebus.E002"]),
        ({"ACTION": "remove"}, ["purgebus.E006"]),
        ({"NETWORK": "qa"}, ["purgebus.E006"]),
        ({"SOURCE": ""}, ["purgebus.E007"]),
        ({"MAX_EVENT_BYTES": -1}, ["purgebus.E008"]),
    ],
)
def test_bad_settings_are_named(settings: Any, value: Any, want: list[str]) -> None:
    if isinstance(value, dict):
        value = {"BASE_URL": "https://www.example.com", **value}
    assert ids(settings, value) == want


def test_no_base_url_without_sites_warns(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("purgebus.django.checks.apps.is_installed", lambda name: False)
    assert ids(settings, {}) == ["purgebus.W002"]


def test_manage_py_check_fails_on_errors(settings: Any) -> None:
    settings.PURGEBUS = {"SUBJECT": "nope"}
    with pytest.raises(SystemCheckError, match=r"purgebus\.E003"):
        call_command("check")
