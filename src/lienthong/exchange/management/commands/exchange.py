"""lienthong exchange verify-log|messages|replay|grant: the operator's exchange tools.

    lienthong exchange verify-log
    lienthong exchange messages [--state queued|delivered|refused|dead] [--correlation ID]
    lienthong exchange replay ENVELOPE_ID [ENVELOPE_ID ...]
    lienthong exchange grant PROVIDER TYPE [--consumer AGENCY]
    lienthong exchange revoke-grant PROVIDER TYPE [--consumer AGENCY]

``verify-log`` exits 1 and names the first broken record when the message log
has been altered.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from lienthong.audit import services as audit
from lienthong.audit.models import AuditRecord
from lienthong.directory.models import Agency
from lienthong.exchange import delivery, log
from lienthong.exchange.envelope import TYPE_RE
from lienthong.exchange.models import AccessRight, OutboundMessage

ACTOR = "cli:exchange"


class Command(BaseCommand):
    help = "Verify the message log, list and replay messages, manage access rights."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        actions.add_parser("verify-log", help="Prove the message log intact, or name the break.")
        messages = actions.add_parser("messages", help="Sent messages, newest first.")
        messages.add_argument("--state", choices=OutboundMessage.State.values)
        messages.add_argument("--correlation", help="A correlation id (dossier code).")
        messages.add_argument("--limit", type=int, default=50)
        replay = actions.add_parser("replay", help="Queue dead or refused messages again.")
        replay.add_argument("envelope_ids", nargs="+")
        for name, text in (("grant", "Allow"), ("revoke-grant", "Stop allowing")):
            grant = actions.add_parser(
                name, help=f"{text} agencies to send a message type to an agency of this node."
            )
            grant.add_argument("provider", help="The receiving agency's identifier.")
            grant.add_argument("type", help='A message type, or "family.*".')
            grant.add_argument("--consumer", help="The sending agency (default: every agency).")

    def handle(self, *args, **options):
        match options["action"]:
            case "verify-log":
                self.verify()
            case "messages":
                self.list_messages(options)
            case "replay":
                count = delivery.replay(actor=ACTOR, envelope_ids=options["envelope_ids"])
                if count != len(set(options["envelope_ids"])):
                    raise CommandError(
                        f"{count} of {len(options['envelope_ids'])} queued again; the others "
                        "are unknown or not dead or refused"
                    )
                self.stdout.write(f"{count} message(s) queued again")
            case "grant" | "revoke-grant" as action:
                self.grant(options, enable=action == "grant")

    def verify(self) -> None:
        outcome = log.verify()
        if not outcome.intact:
            raise CommandError(
                f"message log broken at record #{outcome.broken_at}: {outcome.problem} "
                f"({outcome.records} record(s) before it are intact)"
            )
        self.stdout.write(f"message log intact: {outcome.records} record(s), head {outcome.head}")

    def list_messages(self, options) -> None:
        messages = OutboundMessage.objects.order_by("-pk")
        if options["state"]:
            messages = messages.filter(state=options["state"])
        if options["correlation"]:
            messages = messages.filter(correlation_id=options["correlation"])
        for m in messages[: options["limit"]]:
            error = f"  {m.last_error}" if m.last_error else ""
            self.stdout.write(
                f"{m.envelope_id}  {m.state:<9}  {m.attempts:>2}  {m.type}  "
                f"{m.correlation_id}  → {m.recipient}{error}"
            )

    def grant(self, options, *, enable: bool) -> None:
        if TYPE_RE.fullmatch(options["type"]) is None and not (
            options["type"].endswith(".*") and TYPE_RE.fullmatch(options["type"][:-2] + ".x")
        ):
            raise CommandError(f"not a message type: {options['type']}")
        provider = _agency(options["provider"])
        consumer = _agency(options["consumer"]) if options["consumer"] else None
        with transaction.atomic():
            right, created = AccessRight.objects.get_or_create(
                provider=provider, message_type=options["type"], consumer=consumer
            )
            if right.is_enabled == enable and not created:
                self.stdout.write("unchanged")
                return
            before = right.is_enabled if not created else None
            right.is_enabled = enable
            right.save(update_fields=["is_enabled"])
            audit.record(
                actor=ACTOR,
                action=AuditRecord.Action.CREATE if created else AuditRecord.Action.UPDATE,
                obj=right,
                changes={"is_enabled": [before, enable]},
                source="cli",
            )
        self.stdout.write(f"{'granted' if enable else 'revoked'}: {right}")


def _agency(identifier: str) -> Agency:
    agency = Agency.objects.filter(identifier=identifier).first()
    if agency is None:
        raise CommandError(f"no agency with the identifier {identifier}")
    return agency
