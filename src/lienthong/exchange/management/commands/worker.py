"""lienthong worker: deliver queued exchange envelopes until stopped.

    lienthong worker [--once] [--idle SECONDS] [--fallback SECONDS]

Several workers may run against one PostgreSQL database (claims skip rows
another worker holds); on SQLite one worker per database is enough. When idle
the worker waits to be woken (exchange/wake.py: NOTIFY on PostgreSQL, a
loopback datagram on SQLite) by whatever queues or receives envelopes, or until
the next retry falls due, or at most ``--fallback`` seconds. SIGTERM or SIGINT
stops it after the current round.
"""

from __future__ import annotations

import signal

from django.conf import settings
from django.core.management.base import BaseCommand

from lienthong.exchange import delivery, wake


class Command(BaseCommand):
    help = "Deliver queued exchange envelopes (the outbox) to their receiving nodes."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="One round, then exit.")
        parser.add_argument(
            "--idle",
            type=float,
            default=1.0,
            help="Pause between idle rounds when the worker cannot be woken (seconds).",
        )
        parser.add_argument(
            "--fallback",
            type=float,
            default=None,
            help="Longest idle wait without a wake-up (seconds; default "
            "LIENTHONG_EXCHANGE_WAKE_FALLBACK_SECONDS).",
        )

    def handle(self, *args, **options):
        stopping = {"now": False}

        def stop(signum, frame):
            stopping["now"] = True
            wake.interrupt()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        fallback = options["fallback"]
        delivery.run(
            once=options["once"],
            idle_seconds=options["idle"],
            stop=lambda: stopping["now"],
            fallback_seconds=settings.EXCHANGE_WAKE_FALLBACK_SECONDS
            if fallback is None
            else fallback,
        )
