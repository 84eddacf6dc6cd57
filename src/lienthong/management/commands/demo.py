"""Prepare and serve the demo node: migrate, load the directory, create accounts."""

from __future__ import annotations

import io

import pyotp
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from lienthong.demo import demo_totp_key, ensure_demo_accounts


class Command(BaseCommand):
    help = "Set up the demo (database, reference data, accounts) and serve it on http://127.0.0.1:8000."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--no-serve", action="store_true", help="Prepare only; do not start the server."
        )
        parser.add_argument(
            "--code",
            metavar="USERNAME",
            help="Print the current one-time code of a demo account (from the data folder) "
            "and exit: the demo's stand-in for an authenticator app.",
        )

    def handle(self, *args, **options):
        if options["code"]:
            key = demo_totp_key(options["code"])
            if not key:
                raise CommandError(f"{options['code']} is not a demo account of this data folder")
            self.stdout.write(pyotp.TOTP(key).now())
            return
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database ready.")
        call_command("import_units", stdout=self.stdout)
        call_command("import_agencies", stdout=self.stdout)
        call_command("catalog", "seed", stdout=self.stdout)
        # Deadlines count working days: this year's and next year's public holidays.
        today = timezone.localdate()
        for year in (today.year, today.year + 1):
            call_command("catalog", "holidays", "--year", str(year), "--load", stdout=io.StringIO())
        accounts = ensure_demo_accounts()
        host = options["host"]
        shown_host = f"[{host}]" if ":" in host else host
        url = f"http://{shown_host}:{options['port']}/"
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Liên Thông demo node: {url}"))
        self.stdout.write(f"  Admin: {url}admin/   API: {url}api/v1/docs")
        self.stdout.write(
            "  Demo accounts (passwords kept in the data folder, demo-accounts.json):"
        )
        for account in accounts:
            self.stdout.write(f"    {account.username} / {account.password}  — {account.role}")
            self.stdout.write(
                f"      second step: authenticator app key {account.totp_key} "
                f"(or the code: lienthong demo --code {account.username})"
            )
        self.stdout.write("")
        if not options["no_serve"]:
            call_command("serve", host=host, port=options["port"])
