"""lienthong import-postal-codes FILE: national postal codes from CSV (docs/postal-codes.md)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from lienthong.directory.management.commands.import_units import report_refusal
from lienthong.directory.postal_codes import import_postal_codes, parse_postal_csv
from lienthong.directory.services import ImportRefused


class Command(BaseCommand):
    help = "Import postal codes from a CSV file in the official layout; all or nothing."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)

    def handle(self, *args, **options):
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        try:
            rows = parse_postal_csv(path.read_bytes())
            report = import_postal_codes(
                actor="cli:import-postal-codes", rows=rows, source=path.name
            )
        except ImportRefused as exc:
            raise report_refusal(self, str(path), exc) from exc
        self.stdout.write(
            f"Postal codes: {report.created} created, {report.updated} updated, "
            f"{report.unchanged} unchanged ({path.name})."
        )
