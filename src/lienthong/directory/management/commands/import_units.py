"""lienthong import-units: administrative units from vietnam-provinces (or a JSON file)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from lienthong.directory import services
from lienthong.directory.models import STRUCTURE_2025_VALID_FROM


def report_refusal(command: BaseCommand, source: str, exc: services.ImportRefused) -> CommandError:
    """Print every problem, then give the one-line reason the command exits with."""
    for problem in exc.problems:
        command.stderr.write(f"  {problem}")
    more = f" (and {len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
    return CommandError(f"refused {source}, nothing written: {exc.problems[0]}{more}")


class Command(BaseCommand):
    help = "Import provinces and communes; idempotent; a reorganisation adds new versions."

    def add_arguments(self, parser):
        parser.add_argument(
            "--file", type=Path, help="JSON in the vietnam-provinces nested layout."
        )
        parser.add_argument(
            "--valid-from",
            type=dt.date.fromisoformat,
            default=STRUCTURE_2025_VALID_FROM,
            help="Day the structure takes effect (YYYY-MM-DD); default 2025-07-01.",
        )

    def handle(self, *args, **options):
        path: Path | None = options["file"]
        try:
            if path is None:
                data, source = services.package_units_source()
            else:
                if not path.is_file():
                    raise CommandError(f"{path}: no such file")
                data, source = services.read_units_file(path), path.name
            rows = services.parse_units(data)
            report = services.import_units(
                actor="cli:import-units", rows=rows, source=source, valid_from=options["valid_from"]
            )
        except services.ImportRefused as exc:
            raise report_refusal(self, str(path or source), exc) from exc
        self.stdout.write(
            f"Administrative units: {report.created} created, {report.updated} updated, "
            f"{report.closed} closed, {report.unchanged} unchanged ({source})."
        )
