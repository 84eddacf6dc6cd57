"""Serve the node with granian, the production WSGI server."""

from __future__ import annotations

import os
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from lienthong.config import env_int, env_str


def granian_argv(*, host: str, port: int, workers: int, threads: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "wsgi",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--blocking-threads",
        str(threads),
        "--no-ws",
        "lienthong.wsgi:application",
    ]


# Threads per worker. The pages are Python's work: two threads share a process's
# interpreter with the least contention (docs/performance.md, "Dossiers": p95 and CPU
# per request both lower than with four). The exchange listener mostly waits (it
# relays synchronous queries to the providers' systems): more threads there.
PAGE_THREADS = 2
LISTENER_THREADS = 4


class Command(BaseCommand):
    help = "Serve the node (granian, WSGI). Static files are collected first in production."

    def add_arguments(self, parser):
        parser.add_argument(
            "--host",
            default=env_str("LIENTHONG_HOST", "127.0.0.1"),
            help="Address to listen on; '::' listens on IPv6 and IPv4.",
        )
        parser.add_argument("--port", type=int, default=env_int("LIENTHONG_PORT", 8000))
        parser.add_argument("--workers", type=int, default=env_int("LIENTHONG_WORKERS", 2))
        parser.add_argument(
            "--threads",
            type=int,
            default=None,
            help=f"Threads per worker (LIENTHONG_THREADS; default {PAGE_THREADS}, and "
            f"{LISTENER_THREADS} with --exchange).",
        )
        parser.add_argument(
            "--exchange",
            action="store_true",
            help="Serve the node-to-node listener instead: mutual TLS on "
            "LIENTHONG_EXCHANGE_LISTEN_PORT, envelopes and queries only.",
        )

    def handle(self, *args, **options):
        if options["threads"] is None:
            default = LISTENER_THREADS if options["exchange"] else PAGE_THREADS
            options["threads"] = env_int("LIENTHONG_THREADS", default)
        if options["exchange"]:
            from lienthong.exchange import tls

            try:
                tls_argv = tls.granian_tls_argv()
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            argv = granian_argv(
                host=options["host"],
                port=settings.EXCHANGE_LISTEN_PORT,
                workers=options["workers"],
                threads=options["threads"],
            )
            argv[-1:-1] = tls_argv
            # The child serves node-to-node calls only (tls.ListenerMiddleware).
            os.environ["LIENTHONG_LISTENER"] = "exchange"
        else:
            if settings.PRODUCTION:
                call_command("collectstatic", interactive=False, verbosity=0)
            argv = granian_argv(
                host=options["host"],
                port=options["port"],
                workers=options["workers"],
                threads=options["threads"],
            )
        sys.stdout.flush()
        # Replace this process so signals from the supervisor reach granian directly.
        os.execv(argv[0], argv)  # noqa: S606
