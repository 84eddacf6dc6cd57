"""lienthong import-agencies: central agencies, People's Committees, departments, nodes."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from lienthong.directory import services
from lienthong.directory.models import AdministrativeUnit


class Command(BaseCommand):
    help = "Load the reference agencies and nodes for the units in force (run import-units first)."

    def handle(self, *args, **options):
        if not AdministrativeUnit.objects.current().exists():
            raise CommandError(
                "no administrative units in force: run `lienthong import-units` first"
            )
        report = services.import_agencies(actor="cli:import-agencies")
        self.stdout.write(
            f"Agencies and nodes: {report.created} created, {report.updated} updated, "
            f"{report.unchanged} unchanged."
        )
