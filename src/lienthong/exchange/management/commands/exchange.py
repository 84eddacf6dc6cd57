"""lienthong exchange verify-log|messages|replay|grant: the operator's exchange tools.

    lienthong exchange verify-log
    lienthong exchange messages [--state queued|delivered|refused|dead] [--correlation ID]
    lienthong exchange replay ENVELOPE_ID [ENVELOPE_ID ...]
    lienthong exchange timestamp-log [--tsa URL]
    lienthong exchange archive-log --output FILE [--before DATE | --older-than-days N]
    lienthong exchange verify-archive FILE
    lienthong exchange purge-messages [--older-than-days N]
    lienthong exchange evidence CORRELATION_ID [--output FILE] [--archive FILE ...] [--tsa URL]
    lienthong exchange verify-evidence FILE
    lienthong exchange add-system AGENCY SUBSYSTEM --name NAME
    lienthong exchange disable-system AGENCY SUBSYSTEM
    lienthong exchange grant PROVIDER TYPE [--consumer AGENCY]
    lienthong exchange revoke-grant PROVIDER TYPE [--consumer AGENCY]

``verify-log`` exits 1 and names the first broken record when the message log
has been altered.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from lienthong.audit import services as audit
from lienthong.audit.models import AuditRecord
from lienthong.directory.models import Agency
from lienthong.exchange import delivery, evidence, log, log_archive, verify_evidence
from lienthong.exchange.envelope import TYPE_RE, EnvelopeError
from lienthong.exchange.models import (
    AccessRight,
    InboundMessage,
    OutboundMessage,
    QueryService,
    Receipt,
    SystemClient,
)

ACTOR = "cli:exchange"


class Command(BaseCommand):
    help = "Verify the message log, list and replay messages, manage access rights."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        actions.add_parser("verify-log", help="Prove the message log intact, or name the break.")
        stamp = actions.add_parser(
            "timestamp-log", help="Have the log's head timestamped (RFC 3161) now."
        )
        stamp.add_argument(
            "--tsa", help="Time-stamping authority URL (default: LIENTHONG_TSA_URL)."
        )
        messages = actions.add_parser("messages", help="Sent messages, newest first.")
        messages.add_argument("--state", choices=OutboundMessage.State.values)
        messages.add_argument("--correlation", help="A correlation id (dossier code).")
        messages.add_argument("--limit", type=int, default=50)
        archive = actions.add_parser(
            "archive-log", help="Move old log records to a file (the chain goes on from them)."
        )
        archive.add_argument("--output", type=Path, required=True)
        when = archive.add_mutually_exclusive_group()
        when.add_argument(
            "--before",
            type=dt.date.fromisoformat,
            help="Records made before this day (YYYY-MM-DD, UTC).",
        )
        when.add_argument(
            "--older-than-days",
            type=int,
            default=None,
            help="Default: LIENTHONG_EXCHANGE_LOG_RETENTION_DAYS.",
        )
        checked_archive = actions.add_parser(
            "verify-archive", help="Verify a log archive file on its own (exit 1 if broken)."
        )
        checked_archive.add_argument("file", type=Path)
        purge = actions.add_parser(
            "purge-messages",
            help="Delete settled messages older than the retention (their log records stay).",
        )
        purge.add_argument("--older-than-days", type=int, default=None)
        evidence = actions.add_parser(
            "evidence", help="Export the evidence archive of one correlation id (dossier code)."
        )
        evidence.add_argument("correlation_id")
        evidence.add_argument("--output", type=Path, help="Default: evidence-<id>.zip")
        evidence.add_argument(
            "--archive",
            type=Path,
            action="append",
            default=[],
            help="A message-log archive file holding older records (repeatable).",
        )
        evidence.add_argument(
            "--tsa", help="Timestamp the head first if needed (default: LIENTHONG_TSA_URL)."
        )
        checked = actions.add_parser(
            "verify-evidence", help="Verify an evidence archive offline (exit 1 if not intact)."
        )
        checked.add_argument("file", type=Path)
        replay = actions.add_parser("replay", help="Queue dead or refused messages again.")
        replay.add_argument("envelope_ids", nargs="+")
        system = actions.add_parser(
            "add-system", help="Connect a system to the adapter API; prints its token once."
        )
        system.add_argument("agency")
        system.add_argument("subsystem", help="e.g. motcua (lower case, digits, hyphens)")
        system.add_argument("--name", required=True)
        disable = actions.add_parser("disable-system", help="Refuse a connected system's token.")
        disable.add_argument("agency")
        disable.add_argument("subsystem")
        sweep = actions.add_parser(
            "sweep-files", help="Remove what interrupted file transfers left (dry run by default)."
        )
        sweep.add_argument("--delete", action="store_true", help="Really remove them.")
        hook = actions.add_parser(
            "set-webhook", help="Post a connected system's envelopes to a URL; prints its secret."
        )
        hook.add_argument("agency")
        hook.add_argument("subsystem")
        hook.add_argument("url")
        unhook = actions.add_parser("remove-webhook", help="Stop posting to a system's webhook.")
        unhook.add_argument("agency")
        unhook.add_argument("subsystem")
        service = actions.add_parser(
            "add-service",
            help="Provide a synchronous query service, forwarded to a backend URL "
            "(callers need the right query.CODE: see grant).",
        )
        service.add_argument("agency")
        service.add_argument("subsystem")
        service.add_argument("code", help="e.g. birth_records (lower case, digits, underscores)")
        service.add_argument("backend_url")
        service.add_argument("--timeout", type=int, default=20, help="seconds (default 20)")
        stop = actions.add_parser("disable-service", help="Stop answering a query service.")
        stop.add_argument("agency")
        stop.add_argument("subsystem")
        stop.add_argument("code")
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
            case "timestamp-log":
                self.timestamp(options["tsa"] or settings.TSA_URL)
            case "messages":
                self.list_messages(options)
            case "archive-log":
                self.archive_log(options)
            case "verify-archive":
                self.verify_archive(options["file"])
            case "purge-messages":
                self.purge_messages(options)
            case "evidence":
                self.export_evidence(options)
            case "verify-evidence":
                self.verify_evidence(options["file"])
            case "replay":
                count = delivery.replay(actor=ACTOR, envelope_ids=options["envelope_ids"])
                if count != len(set(options["envelope_ids"])):
                    raise CommandError(
                        f"{count} of {len(options['envelope_ids'])} queued again; the others "
                        "are unknown or not dead or refused"
                    )
                self.stdout.write(f"{count} message(s) queued again")
            case "add-system":
                self.add_system(options)
            case "disable-system":
                self.disable_system(options)
            case "sweep-files":
                from lienthong.exchange import attachments

                stale = attachments.sweep(delete=options["delete"])
                verb = "removed" if options["delete"] else "would remove (add --delete)"
                self.stdout.write(f"{verb}: {len(stale)} unfinished transfer(s) older than a day")
            case "set-webhook" | "remove-webhook" as action:
                self.webhook(options, remove=action == "remove-webhook")
            case "add-service" | "disable-service" as action:
                self.service(options, enable=action == "add-service")
            case "grant" | "revoke-grant" as action:
                self.grant(options, enable=action == "grant")

    def timestamp(self, url: str) -> None:
        if not url:
            raise CommandError("no time-stamping authority: set LIENTHONG_TSA_URL or give --tsa")
        try:
            stamp = log.timestamp_head(url)
        except log.TimestampFailed as exc:
            raise CommandError(f"no timestamp from {url}: {exc}") from exc
        if stamp is None:
            self.stdout.write("nothing new to timestamp")
            return
        self.stdout.write(f"log head #{stamp.sequence} timestamped at {stamp.time.isoformat()}")

    def verify(self) -> None:
        outcome = log.verify()
        if not outcome.intact:
            raise CommandError(
                f"message log broken at record #{outcome.broken_at}: {outcome.problem} "
                f"({outcome.records} record(s) before it are intact)"
            )
        self.stdout.write(
            f"message log intact: {outcome.records} record(s), head {outcome.head}, "
            f"{outcome.timestamps} timestamp(s) verified"
        )

    def _cutoff(self, options, default_days=None):
        if options.get("before"):
            return dt.datetime.combine(options["before"], dt.time(), tzinfo=dt.UTC)
        days = options["older_than_days"]
        if days is None:
            days = settings.EXCHANGE_RETENTION_DAYS if default_days is None else default_days
        if days < 0:
            raise CommandError("--older-than-days must not be negative")
        return timezone.now() - dt.timedelta(days=days)

    def archive_log(self, options) -> None:
        output: Path = options["output"]
        if output.exists():
            raise CommandError(f"{output} exists; archives are never overwritten")
        cutoff = self._cutoff(options, settings.EXCHANGE_LOG_RETENTION_DAYS)
        try:
            archived = log_archive.archive(before=cutoff, path=output)
        except log_archive.ArchiveRefused as exc:
            raise CommandError(f"not archived: {exc}") from exc
        if archived is None:
            self.stdout.write("nothing to archive (before the cut-off and timestamped)")
            return
        self.stdout.write(
            f"archived records #{archived.first} to #{archived.last} ({archived.records}) to "
            f"{output} (SHA-256 {archived.sha256}); the chain goes on from {archived.digest}"
        )

    def verify_archive(self, path: Path) -> None:
        outcome = log_archive.verify_archive(path)
        if not outcome.intact:
            raise CommandError(f"archive broken at record #{outcome.broken_at}: {outcome.problem}")
        self.stdout.write(
            f"archive intact: {outcome.records} record(s), last digest {outcome.head}"
        )

    def purge_messages(self, options) -> None:
        cutoff = self._cutoff(options)
        State = OutboundMessage.State
        with transaction.atomic():
            sent, _ = OutboundMessage.objects.filter(
                created_at__lt=cutoff, state__in=[State.DELIVERED, State.REFUSED]
            ).delete()
            received, _ = InboundMessage.objects.filter(
                received_at__lt=cutoff, acknowledged_at__isnull=False
            ).delete()
            # The receipts no message points to any more (the log keeps its own record).
            receipts, _ = Receipt.objects.filter(
                outbound_messages__isnull=True, inbound_messages__isnull=True
            ).delete()
            audit.record(
                actor=ACTOR,
                action=AuditRecord.Action.DELETE,
                object_type="exchange.message",
                object_repr=f"messages settled before {cutoff:%Y-%m-%d}",
                changes={"sent": sent, "received": received, "receipts": receipts},
                source="cli",
            )
        self.stdout.write(
            f"deleted {sent} sent and {received} received message(s), {receipts} receipt(s)"
        )

    def export_evidence(self, options) -> None:
        for archive in options["archive"]:
            if not archive.is_file():
                raise CommandError(f"{archive}: no such file")
        try:
            data = evidence.build(
                options["correlation_id"],
                archives=options["archive"],
                tsa_url=options["tsa"] or settings.TSA_URL,
            )
        except LookupError as exc:
            raise CommandError(f"no message with the correlation id {exc}") from exc
        except evidence.NotTimestamped as exc:
            raise CommandError(
                f"record #{exc} is not yet covered by a timestamped log head: run "
                "`lienthong exchange timestamp-log` (or give --tsa) and export again"
            ) from exc
        except log.TimestampFailed as exc:
            raise CommandError(f"the log head could not be timestamped: {exc}") from exc
        except evidence.UnusableArchive as exc:
            raise CommandError(f"not a usable log archive: {exc}") from exc
        safe = "".join(c if c.isalnum() or c in ".-_" else "_" for c in options["correlation_id"])
        output = options["output"] or Path(f"evidence-{safe}.zip")
        output.write_bytes(data)
        self.stdout.write(f"wrote {output} ({len(data)} bytes)")

    def verify_evidence(self, path: Path) -> None:
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        report = verify_evidence.verify(path.read_bytes())
        for line in report.lines()[:-1]:
            self.stdout.write(line)
        if not report.intact:
            raise CommandError(f"evidence not intact: {report.problems[0]}")
        self.stdout.write("evidence intact")

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

    def add_system(self, options) -> None:
        from lienthong.exchange import adapter

        agency = _agency(options["agency"])
        if SystemClient.objects.filter(agency=agency, subsystem=options["subsystem"]).exists():
            raise CommandError("that subsystem is already connected")
        try:
            system, token = adapter.add_system(
                actor=ACTOR, agency=agency, subsystem=options["subsystem"], name=options["name"]
            )
        except EnvelopeError as exc:
            raise CommandError(f"not a subsystem name: {options['subsystem']}") from exc
        self.stdout.write(f"connected {system}")
        self.stdout.write(f"token (shown once; keep it in the system's secret store): {token}")

    def disable_system(self, options) -> None:
        agency = _agency(options["agency"])
        with transaction.atomic():
            system = SystemClient.objects.filter(
                agency=agency, subsystem=options["subsystem"]
            ).first()
            if system is None:
                raise CommandError("no such connected system")
            if system.is_enabled:
                SystemClient.objects.filter(pk=system.pk).update(is_enabled=False)
                audit.record(
                    actor=ACTOR,
                    action=AuditRecord.Action.UPDATE,
                    obj=system,
                    changes={"is_enabled": [True, False]},
                    source="cli",
                )
        self.stdout.write(f"disabled {system}")

    def webhook(self, options, *, remove: bool) -> None:
        from lienthong.exchange import webhooks

        system = SystemClient.objects.filter(
            agency=_agency(options["agency"]), subsystem=options["subsystem"]
        ).first()
        if system is None:
            raise CommandError("no such connected system")
        if remove:
            webhooks.remove_webhook(actor=ACTOR, system=system)
            self.stdout.write(f"no more posts to {system}")
            return
        try:
            secret = webhooks.set_webhook(actor=ACTOR, system=system, url=options["url"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"posting envelopes for {system} to {options['url']}")
        self.stdout.write(
            f"secret (shown once; the system verifies X-Lienthong-Signature): {secret}"
        )

    def service(self, options, *, enable: bool) -> None:
        from lienthong.exchange import queries

        agency = _agency(options["agency"])
        if enable:
            url, timeout = options["backend_url"], options["timeout"]
        else:
            existing = QueryService.objects.filter(
                agency=agency, subsystem=options["subsystem"], code=options["code"]
            ).first()
            if existing is None:
                raise CommandError("no such query service")
            url, timeout = existing.backend_url, existing.timeout_seconds
        try:
            service = queries.register_service(
                actor=ACTOR,
                agency=agency,
                subsystem=options["subsystem"],
                code=options["code"],
                backend_url=url,
                timeout_seconds=timeout,
                enabled=enable,
            )
        except (ValueError, EnvelopeError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{'providing' if enable else 'disabled'}: {service} → {url}")

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
