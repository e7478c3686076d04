"""``manage.py purgebus_results``: follow result events and send purge_succeeded / purge_failed."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ....result import Outcome, Result
from ...conf import get_publisher
from ...signals import purge_failed, purge_succeeded

logger = logging.getLogger("purgebus.django")


class Command(BaseCommand):
    """Command listens to result events and sends them as Django signals."""

    help = (
        "Listen to purgebus result events and send each as purge_succeeded (succeeded) or "
        "purge_failed (failed, partial), printing one line per result."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """add_arguments declares the filters and the stop conditions."""
        parser.add_argument(
            "--outcome",
            action="append",
            choices=[o.value for o in Outcome],
            help="only results with this outcome (repeatable)",
        )
        parser.add_argument("--source", help="only results of events from this source")
        parser.add_argument(
            "--all", action="store_true", help="begin with the results the stream keeps, not only new ones"
        )
        parser.add_argument("--count", type=int, default=0, help="stop after this many results (0: never)")
        parser.add_argument(
            "--idle-timeout", type=float, default=None, help="stop when no result came for this many seconds"
        )
        parser.add_argument("--json", action="store_true", help="print each result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        """Handle follows the results until stopped (Ctrl-C, --count or --idle-timeout)."""
        pub = get_publisher()
        seen = 0
        results = pub.results(
            outcome=options["outcome"],
            source=options["source"],
            deliver_all=options["all"],
            idle_timeout=options["idle_timeout"],
        )
        try:
            for r in results:
                self._send(r)
                self.stdout.write(_line(r, options["json"]))
                seen += 1
                if options["count"] and seen >= options["count"]:
                    break
        except KeyboardInterrupt:
            pass
        finally:
            results.close()

    def _send(self, r: Result) -> None:
        signal = purge_succeeded if r.outcome is Outcome.SUCCEEDED else purge_failed
        for receiver, response in signal.send_robust(sender=Result, result=r):
            if isinstance(response, Exception):
                logger.error(
                    "purgebus: receiver %r of the result of event %s failed: %s",
                    receiver,
                    r.event_id,
                    response,
                    exc_info=response,
                )


def _line(r: Result, as_json: bool) -> str:
    if as_json:
        return json.dumps(asdict(r), default=str, ensure_ascii=False)
    failures = "; ".join(f"{f.title}: {', '.join(f.objects)}" for f in r.failures)
    line = f"{r.outcome.value} {r.event_id} source={r.source or '-'} purges={','.join(r.purge_ids) or '-'}"
    return line + (f" failures={failures}" if failures else "")
