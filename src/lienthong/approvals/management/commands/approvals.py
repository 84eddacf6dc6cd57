"""lienthong approvals expire: mark overdue approval requests expired (audited), drop
pairing codes more than a day past their end, and delete the pending signatures
(lienthong.signing) past their end — the ones that waited for an approval.

Requests are also expired whenever a phone or a computer looks at them; this sweep
(run it from cron or a timer, e.g. every few minutes) keeps the record true for the
ones nobody looks at again.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from lienthong.approvals import services
from lienthong.signing import pdf as signing_pdf


class Command(BaseCommand):
    help = "Expire overdue approval requests."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        actions.add_parser("expire", help="Expire overdue approval requests.")

    def handle(self, *args, **options):
        count = services.expire_overdue(source="command")
        swept = signing_pdf.sweep_pending()
        self.stdout.write(f"expired {count} request(s), deleted {swept} pending signature(s)")
