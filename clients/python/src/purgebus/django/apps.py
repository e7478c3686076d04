"""The Django application of purgebus."""

from __future__ import annotations

from django.apps import AppConfig


class PurgebusConfig(AppConfig):
    """PurgebusConfig registers the system checks and the signal receivers."""

    name = "purgebus.django"
    label = "purgebus"
    verbose_name = "purgebus"

    def ready(self) -> None:
        """Ready imports the checks and signals so that they register."""
        from . import checks, signals  # noqa: F401
