"""lienthong dossiers sweep|apply-inbound|payments: housekeeping of the dossier store.

lienthong dossiers sweep            list orphaned temporary files and unreferenced blobs (dry run)
lienthong dossiers sweep --delete   remove them (only those older than --hours, default 24)
lienthong dossiers apply-inbound    apply received dossier.handoff / dossier.status envelopes
lienthong dossiers payments reconcile [--older-than MINUTES] [--limit N]
                                    ask the gateway about payments left open (a lost callback)
lienthong dossiers payments refund [--dry-run] [--limit N]
                                    refund money taken twice through the gateway
                                    (when DOSSIERS_PAYMENT_AUTO_REFUND is on)

The payments actions print one line per attempt and a summary; they are safe to run
again and beside the web processes (docs/operations.md, "lienthong dossiers payments").
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from lienthong.dossiers import attachments, interconnection, payments


def positive(value: str) -> int:
    """A whole number above zero, for --limit and --older-than."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise CommandError(f"expected a whole number above zero, got {value!r}")
    return number


class Command(BaseCommand):
    help = "Sweep orphaned attachment files; apply received dossier envelopes; payments."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        sweep = actions.add_parser("sweep", help="Orphaned files (dry run unless --delete).")
        sweep.add_argument("--delete", action="store_true", help="Remove what is listed.")
        sweep.add_argument("--hours", type=int, default=24, help="Minimum age (default 24).")
        apply = actions.add_parser("apply-inbound", help="Apply received dossier envelopes.")
        apply.add_argument("--limit", type=int, default=100)
        paying = actions.add_parser("payments", help="Reconcile open payments; refund surpluses.")
        steps = paying.add_subparsers(dest="payments_action", required=True, metavar="STEP")
        reconcile = steps.add_parser("reconcile", help="Ask the gateway about open payments.")
        reconcile.add_argument(
            "--older-than",
            metavar="MINUTES",
            help="Only attempts started longer ago (default: the gateway's expiry and a margin).",
        )
        reconcile.add_argument("--limit", default="100", help="At most this many (default 100).")
        refund = steps.add_parser("refund", help="Refund payments taken twice.")
        refund.add_argument("--dry-run", action="store_true", help="List them, refund nothing.")
        refund.add_argument("--limit", default="100", help="At most this many (default 100).")

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

    def handle_payments(self, options) -> None:
        getattr(self, "payments_" + options["payments_action"])(options)

    def payments_reconcile(self, options) -> None:
        limit = positive(options["limit"])
        minutes = options["older_than"]
        older_than = dt.timedelta(minutes=positive(minutes)) if minutes is not None else None
        done = payments.reconcile(older_than=older_than, limit=limit)
        for item in done:
            attempt = item.attempt
            reason = f" ({item.code})" if item.code else ""
            self.stdout.write(
                f"{attempt.payment.dossier.code} {attempt.backend} {attempt.reference}: "
                f"{item.outcome}{reason}"
            )
        self.stdout.write(f"reconciled {len(done)} open payment(s){_summary(done)}")

    def payments_refund(self, options) -> None:
        limit = positive(options["limit"])
        if options["dry_run"] or not settings.DOSSIERS_PAYMENT_AUTO_REFUND:
            due = list(payments.refundable(limit=limit))
            for attempt in due:
                self.stdout.write(
                    f"{attempt.payment.dossier.code} {attempt.backend} {attempt.reference}: "
                    f"to refund {attempt.payment.amount} VND"
                )
            why = "dry run" if options["dry_run"] else "DOSSIERS_PAYMENT_AUTO_REFUND is off"
            self.stdout.write(f"{len(due)} payment(s) to refund; none refunded ({why})")
            return
        done = payments.refund_due(limit=limit)
        for item in done:
            attempt = item.attempt
            what = f"refunded, reference {item.reference}" if item.reference else item.outcome
            reason = f" ({item.code})" if item.code else ""
            self.stdout.write(
                f"{attempt.payment.dossier.code} {attempt.backend} {attempt.reference}: "
                f"{what}{reason}"
            )
        self.stdout.write(f"tried {len(done)} refund(s){_summary(done)}")


def _summary(done) -> str:
    counts = Counter(item.outcome for item in done)
    return (": " + ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))) if counts else ""
