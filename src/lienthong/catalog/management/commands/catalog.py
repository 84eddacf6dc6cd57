"""lienthong catalog seed|holidays: the procedure catalogue and the holiday table.

lienthong catalog seed                       procedures and interconnected procedures (idempotent)
lienthong catalog holidays --year 2027       show the year's table next to the holidays package
lienthong catalog holidays --year 2027 --load   write the package's days into the table
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from lienthong.catalog import public_holidays, selectors, services

ACTOR = "cli:catalog"


class Command(BaseCommand):
    help = "Seed the procedure catalogue; show or load a year's public holidays."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        actions.add_parser("seed", help="Create or update the bundled procedures.")
        holidays = actions.add_parser("holidays", help="A year's holidays (dry run unless --load).")
        holidays.add_argument("--year", type=int, required=True)
        holidays.add_argument(
            "--load", action="store_true", help="Write the package's days into the table."
        )

    def handle(self, *args, **options):
        getattr(self, f"handle_{options['action']}")(options)

    def handle_seed(self, options) -> None:
        try:
            report = services.seed_catalog(actor=ACTOR)
        except services.CatalogError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            "catalog: {created} created, {updated} updated, {unchanged} unchanged".format(
                **report.as_dict()
            )
        )

    def handle_holidays(self, options) -> None:
        year = options["year"]
        if not 1995 <= year <= 2100:
            raise CommandError("--year must be between 1995 and 2100")
        if options["load"]:
            report = services.load_holidays(actor=ACTOR, year=year)
            self.stdout.write(
                "holidays {year}: {created} created, {updated} updated, {unchanged} unchanged "
                "(rows amended by an operator are kept)".format(year=year, **report.as_dict())
            )
        stored = {h.date: h for h in selectors.holidays(year=year)}
        self.stdout.write(f"{'date':<12}{'kind':<13}{'table':<7}name")
        for spec in public_holidays.from_package(year):
            held = stored.pop(spec.date, None)
            state = "-" if held is None else ("same" if held.kind == spec.kind else held.kind)
            self.stdout.write(f"{spec.date:%d/%m/%Y}  {spec.kind:<13}{state:<7}{spec.name}")
        for holiday in stored.values():
            self.stdout.write(
                f"{holiday.date:%d/%m/%Y}  {holiday.kind:<13}{'only':<7}{holiday.name} "
                f"({holiday.source})"
            )
        if not options["load"]:
            self.stdout.write("dry run: add --load to write the package's days into the table")
