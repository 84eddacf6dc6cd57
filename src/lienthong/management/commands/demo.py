"""Prepare and serve the demo node: migrate, load the directory, create accounts."""

from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import BaseCommand

from lienthong.demo import ensure_demo_accounts


class Command(BaseCommand):
    help = "Set up the demo (database, reference data, accounts) and serve it on http://127.0.0.1:8000."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--no-serve", action="store_true", help="Prepare only; do not start the server."
        )

    def handle(self, *args, **options):
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database ready.")
        call_command("import_units", stdout=self.stdout)
        call_command("import_agencies", stdout=self.stdout)
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
        self.stdout.write("")
        if not options["no_serve"]:
            call_command("serve", host=host, port=options["port"])
