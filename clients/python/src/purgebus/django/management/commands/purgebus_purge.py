"""``manage.py purgebus_purge``: purge URLs, cache tags or CP codes through purgebus."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ....errors import PurgebusError
from ....result import Outcome
from ...conf import get_publisher, get_settings
from ...senders import absolute_url, build_events


class Command(BaseCommand):
    """Command publishes content-changed events for the objects given, like the Go purge CLI."""

    help = (
        "Purge objects through purgebus: URLs (relative ones completed from PURGEBUS['BASE_URL'] or the "
        "current Site), cache tags (--tag) or CP codes (--cpcode), as arguments or one per line on standard "
        "input. Without --wait it prints the event IDs once JetStream stored them; with --wait it prints "
        "each result and exits 3 unless every outcome is succeeded."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """add_arguments declares the objects and the flags."""
        parser.add_argument("objects", nargs="*", help="objects to purge; none or '-' reads standard input")
        kind = parser.add_mutually_exclusive_group()
        kind.add_argument("--tag", action="store_true", help="the objects are cache tags")
        kind.add_argument("--cpcode", action="store_true", help="the objects are CP codes")
        parser.add_argument("--delete", action="store_true", help="delete rather than invalidate")
        parser.add_argument("--staging", action="store_true", help="purge the staging network")
        parser.add_argument("--source", help="the event source (default PURGEBUS['SOURCE'])")
        parser.add_argument("--wait", action="store_true", help="wait for the results")
        parser.add_argument("--timeout", type=float, default=None, help="seconds --wait waits for each result")

    def handle(self, *args: Any, **options: Any) -> None:
        """Handle publishes the objects and reports the event IDs or the results."""
        objects = [o for o in options["objects"] if o != "-"]
        if not objects:
            objects = [line.strip() for line in sys.stdin if line.strip()]
        if not objects:
            raise CommandError("nothing to purge: give URLs, tags (--tag) or CP codes (--cpcode)", returncode=2)
        conf = get_settings()
        urls: list[str] = []
        tags: list[str] = []
        cpcodes: list[int] = []
        try:
            if options["tag"]:
                tags = objects
            elif options["cpcode"]:
                cpcodes = [int(o) for o in objects]
            else:
                urls = [absolute_url(o, conf) for o in objects]
        except ValueError as e:
            raise CommandError(f"not a CP code: {e}", returncode=2) from e
        try:
            events = build_events(
                urls,
                conf,
                tags=tags,
                cpcodes=cpcodes,
                action="delete" if options["delete"] else None,
                network="staging" if options["staging"] else None,
                source=options["source"],
            )
            pub = get_publisher()
            if not options["wait"]:
                for ev, data in events:
                    pub.publish_prepared(ev.id, data)
                    self.stdout.write(ev.id)
                return
            timeout = options["timeout"] or conf.wait_timeout
            ok = True
            for ev, _ in events:
                r = pub.purge_and_wait(ev, timeout)
                ok = ok and r.outcome is Outcome.SUCCEEDED
                line = f"{r.outcome.value} {r.event_id} purges={','.join(r.purge_ids) or '-'}"
                if r.estimated_complete_at:
                    line += f" estimated_complete_at={r.estimated_complete_at.isoformat()}"
                for f in r.failures:
                    line += f" failure={f.title!r}:{','.join(f.objects)}"
                self.stdout.write(line)
        except PurgebusError as e:
            raise CommandError(str(e), returncode=1) from e
        if not ok:
            raise CommandError("not every object was purged", returncode=3)
