"""lienthong dossiers sweep|apply-inbound: housekeeping of the dossier store.

lienthong dossiers sweep            list orphaned temporary files and unreferenced blobs (dry run)
lienthong dossiers sweep --delete   remove them (only those older than --hours, default 24)
lienthong dossiers apply-inbound    apply received dossier.handoff / dossier.status envelopes
"""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand

from lienthong.dossiers import attachments, interconnection


class Command(BaseCommand):
    help = "Sweep orphaned attachment files; apply received dossier envelopes."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        sweep = actions.add_parser("sweep", help="Orphaned files (dry run unless --delete).")
        sweep.add_argument("--delete", action="store_true", help="Remove what is listed.")
        sweep.add_argument("--hours", type=int, default=24, help="Minimum age (default 24).")
        apply = actions.add_parser("apply-inbound", help="Apply received dossier envelopes.")
        apply.add_argument("--limit", type=int, default=100)

    def handle(self, *args, **options):
        getattr(self, "handle_" + options["action"].replace("-", "_"))(options)

    def handle_sweep(self, options) -> None:
        report = attachments.sweep(
            dry_run=not options["delete"], older_than=dt.timedelta(hours=options["hours"])
        )
        for path in [*report.temp_files, *report.blobs]:
            self.stdout.write(str(path))
        verb = "would remove" if report.dry_run else "removed"
        self.stdout.write(
            f"{verb} {len(report.temp_files)} temporary file(s) and {len(report.blobs)} blob(s)"
        )
        expired = "would drop" if report.dry_run else "dropped"
        self.stdout.write(f"{expired} {report.expired_staged} expired staged upload(s)")
        if report.dry_run:
            self.stdout.write("dry run: add --delete to remove them")

    def handle_apply_inbound(self, options) -> None:
        applied = interconnection.apply_pending(limit=options["limit"])
        self.stdout.write(f"applied {len(applied)} envelope(s)")
