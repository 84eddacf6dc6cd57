"""lienthong worker: deliver queued exchange envelopes until stopped.

    lienthong worker [--once] [--idle SECONDS]

Several workers may run against one PostgreSQL database (claims skip rows
another worker holds); on SQLite one worker per database is enough. SIGTERM
or SIGINT stops it after the current round.
"""

from __future__ import annotations

import signal

from django.core.management.base import BaseCommand

from lienthong.exchange import delivery


class Command(BaseCommand):
    help = "Deliver queued exchange envelopes (the outbox) to their receiving nodes."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="One round, then exit.")
        parser.add_argument(
            "--idle", type=float, default=1.0, help="Pause when nothing is due (seconds)."
        )

    def handle(self, *args, **options):
        stopping = {"now": False}

        def stop(signum, frame):
            stopping["now"] = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        delivery.run(
            once=options["once"], idle_seconds=options["idle"], stop=lambda: stopping["now"]
        )
