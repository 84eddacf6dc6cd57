"""Interconnected procedures (liên thông, Decree 63/2024/NĐ-CP) across agencies and nodes.

The citizen's dossier is the one submitted for the first step (the
*originating* dossier). When a step is done and the procedure has a next
step, the agency that did it hands the dossier to the next step's agency:

``dossier.handoff`` (from the step's agency to the next step's agency)
    ``{"origin_code", "origin": "VN:GOV:{agency}:dossiers", "interconnected",
    "step", "procedure", "channel", "applicant": {...}, "form_data": {...},
    "attachments": [{"sha256", "size", "media_type", "name", "kind"}]}``.
    The files themselves travel as the envelope's attachments (by digest,
    through the exchange's file store). The receiver opens a dossier of its own
    for that step (its own code, ``origin_code`` pointing back) with status 1
    (new) and the files stored content-addressed as its attachments.

``dossier.status`` (from a later step's agency to the originating agency)
    ``{"origin_code", "code", "step", "status", "reason", "at"}``, sent at every
    status change of the later step's dossier. The originating side records it
    on the citizen's dossier (``remote_agency``, ``remote_status``, ``step`` and
    an event on the timeline) without changing that dossier's own status.

``dossier.result`` (from a later step's agency to the originating agency)
    A ``dossier.status`` that also carries the step's signed result:
    ``{..., "result": {"sha256", "size", "media_type", "name"}}``, the PDF as the
    envelope's attachment. Sent instead of ``dossier.status`` when the step is
    done with a signed result; the originating side records the status and
    stores the PDF against that step (``step_results``).

``dossier.withdraw`` (from the originating agency to the agency holding the dossier)
    ``{"origin_code", "request_id", "reason", "at"}``: the applicant asks, on the
    portal's node, to withdraw a dossier routed to another node. The holder applies
    it only if its own state machine lets the applicant withdraw (``workflow``): the
    new status goes back as a ``dossier.status``; otherwise a ``dossier.refusal``.

``dossier.payment`` (from the originating agency to the agency holding the dossier)
    ``{"origin_code", "code", "request", "request_id", "amount", "backend",
    "reference", "receipt", "paid_at"}``: the fee the holder asked (its status 6
    report carries ``payment``: ``{"id", "amount", "reason"}``; ``request`` is that
    id) was paid on the portal's node. The holder records it through its own state
    machine (``services.record_payment``, acting as ``payment:<backend>``): the
    dossier goes back to processing and that status comes back as any change does;
    refused (another amount, nothing awaited), a ``dossier.refusal``. The same
    payment again (``request_id``: backend and reference) is ``duplicate``.

``dossier.refusal`` (from the holding agency to the originating agency)
    ``{"origin_code", "code", "step", "status", "request", "request_id", "refusal",
    "message_vi", "message_en", "at"}``: a request (``request``: its type) was refused
    by the holder's state machine (``refusal``: the stable code); recorded on the
    citizen's dossier for her timeline, with the holder's status.

All are sent through the exchange outbox in the transaction of the change
(``exchange.services.send``). Received envelopes are applied by ``apply``,
once per envelope id (``AppliedEnvelope``): applying again changes nothing.
The envelope's correlation id is always the originating dossier's code, so
the exchange keeps one dossier's messages in order.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.db.models import Value
from django.utils import timezone

from lienthong.audit import services as audit
from lienthong.catalog.models import InterconnectedProcedure, InterconnectedStep, Procedure
from lienthong.directory.models import Agency
from lienthong.dossiers import attachments as dossier_files
from lienthong.dossiers import notifications, workflow
from lienthong.dossiers.codes import allocate_code
from lienthong.dossiers.errors import AttachmentRefused, DossierConflict
from lienthong.dossiers.models import (
    AppliedEnvelope,
    Attachment,
    AttachmentKind,
    AttemptState,
    Dossier,
    DossierEvent,
    Payment,
    PaymentAttempt,
    Status,
)
from lienthong.dossiers.money import format_vnd
from lienthong.exchange import attachments as exchange_files
from lienthong.exchange import envelope as envelopes
from lienthong.exchange import services as exchange
from lienthong.exchange.inserts import any_row
from lienthong.exchange.models import InboundMessage

SUBSYSTEM = "dossiers"
HANDOFF = "dossier.handoff"
STATUS = "dossier.status"
RESULT = "dossier.result"
WITHDRAW = "dossier.withdraw"
REFUSAL = "dossier.refusal"
PAYMENT = "dossier.payment"
TYPES = (HANDOFF, STATUS, RESULT, WITHDRAW, REFUSAL, PAYMENT)
# What travels with a hand-off: the citizen's documents and supplements, and the
# signed results of the earlier steps (the next agency decides on them). Drafts stay.
CARRIED = (AttachmentKind.DOCUMENT, AttachmentKind.SUPPLEMENT, AttachmentKind.RESULT)


class FileRefused(Exception):
    """A received envelope's file cannot be taken in: ``code`` is the recorded outcome
    (``attachment_missing``, ``attachment_mismatch``)."""

    def __init__(self, code: str):
        self.code = code
        super().__init__(code)


def member(agency: Agency | str) -> str:
    """The exchange identity of an agency's dossier system."""
    identifier = agency if isinstance(agency, str) else agency.identifier
    return f"VN:GOV:{identifier}:{SUBSYSTEM}"


def _agency_of(member_id: str) -> str:
    match = envelopes.MEMBER_RE.fullmatch(member_id)
    if match is None:
        raise ValueError(f"not an exchange member: {member_id}")
    return match["agency"]


def next_step(dossier: Dossier) -> InterconnectedStep | None:
    if not dossier.interconnected_id or not dossier.step_id:
        return None
    return (
        InterconnectedStep.objects.select_related("procedure")
        .filter(interconnected_id=dossier.interconnected_id, position__gt=dossier.step.position)
        .order_by("position")
        .first()
    )


def next_agency(procedure: Procedure, dossier: Dossier) -> Agency:
    """The agency that takes the next step: the procedure's only handling agency,
    else the one in the same administrative unit as the agency handing over, else
    in its parent unit (a commune's province). Refused when that is not one agency."""
    candidates = procedure.agencies.filter(is_active=True)
    if candidates.count() == 1:
        return candidates.get()
    unit = dossier.current_agency.unit
    if unit is not None:
        for unit_id in (unit.pk, unit.parent_id):
            local = list(candidates.filter(unit_id=unit_id)[:2])
            if len(local) == 1:
                return local[0]
    raise DossierConflict("no_next_agency", procedure=procedure.code)


def _origin(dossier: Dossier) -> tuple[str, str]:
    """(originating dossier code, where its statuses go)."""
    if dossier.origin_code:
        return dossier.origin_code, dossier.origin_member
    return dossier.code, member(dossier.receiving_agency)


def hand_off(*, actor: Any, dossier: Dossier) -> Dossier | None:
    """Send ``dossier`` (done at its step) to the next step's agency, in the caller's
    transaction; None when it was the last step."""
    step = next_step(dossier)
    if step is None:
        return None
    _send_step(actor=actor, dossier=dossier, step=step, target=next_agency(step.procedure, dossier))
    return dossier


def route(*, actor: Any, dossier: Dossier, agency: Agency) -> None:
    """Hand an interconnected dossier received here (on the portal's node, say) to
    ``agency``, the first step's competent agency on its own node, in the caller's
    transaction. The dossier stays here as the citizen's: every step's status
    comes back to it. From now on it is held by ``agency`` (``current_agency``), so
    no officer here has it in a queue or acts on it (``workflow.held_elsewhere``)."""
    step = dossier.interconnected.steps.select_related("procedure").order_by("position").first()
    if step is None:
        raise DossierConflict("no_next_agency", procedure=dossier.procedure.code)
    _send_step(actor=actor, dossier=dossier, step=step, target=agency)
    Dossier.objects.filter(pk=dossier.pk).update(current_agency=agency)
    dossier.current_agency = agency


def request_withdrawal(*, actor: Any, dossier: Dossier, reason: str = "") -> str:
    """Ask the agency holding a routed dossier (``workflow.held_elsewhere``) to withdraw
    it for its applicant, in the caller's transaction: the ``dossier.withdraw``
    envelope, a ``withdraw_requested`` event and the audit record. Returns the
    request's id; the holder answers with the new status or a refusal."""
    origin_code, _origin_member = _origin(dossier)
    request_id = str(uuid.uuid4())
    exchange.send(
        actor=actor,
        type=WITHDRAW,
        sender=member(dossier.receiving_agency),
        recipient=member(dossier.current_agency),
        correlation_id=origin_code,
        payload={
            "origin_code": origin_code,
            "request_id": request_id,
            "reason": reason,
            "at": timezone.now().isoformat(),
        },
    )
    DossierEvent.objects.create(
        dossier=dossier,
        action="withdraw_requested",
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=audit.actor_label(actor),
        agency=dossier.current_agency,
        step=dossier.step.position if dossier.step_id else None,
        reason=reason,
        note=request_id,
    )
    audit.record(
        actor=actor,
        action="withdraw_requested",
        obj=dossier,
        changes={"to": dossier.current_agency.identifier, "request_id": request_id},
        source="dossiers",
    )
    return request_id


def withdrawal_pending(dossier: Dossier) -> bool:
    """A withdrawal was asked of the holding agency and it has not answered yet (no
    status or refusal recorded since)."""
    last = (
        dossier.events.filter(action__in=("withdraw_requested", "step_status", "refused"))
        .order_by("-at", "-id")
        .values_list("action", flat=True)
        .first()
    )
    return last == "withdraw_requested"


def _offer(attachment: Attachment) -> dict[str, Any]:
    """Put a dossier file into the exchange's file store (by its digest, checked while
    copying) and describe it as an envelope attachment. The copy is made before the
    envelope is queued; a transaction rolled back after it leaves a file the
    exchange's store simply holds (content-addressed, like the dossiers' blobs)."""
    if exchange_files.size_of(attachment.sha256) != attachment.size:
        try:
            with dossier_files.open_blob(attachment.path) as handle:
                exchange_files.store(
                    exchange_files.chunks_of(handle), sha256=attachment.sha256, size=attachment.size
                )
        except (OSError, exchange_files.AttachmentRefused) as exc:
            # The stored blob is gone or no longer its digest: nothing is sent.
            raise DossierConflict("attachment_unavailable", sha256=attachment.sha256) from exc
    return {
        "sha256": attachment.sha256,
        "size": attachment.size,
        "media_type": attachment.media_type,
        "name": attachment.original_name,
    }


def _send_step(*, actor: Any, dossier: Dossier, step: InterconnectedStep, target: Agency) -> None:
    """The ``dossier.handoff`` envelope of ``step`` to ``target`` with the dossier's files,
    its event and audit."""
    origin_code, origin_member = _origin(dossier)
    carried = list(dossier.attachments.filter(kind__in=CARRIED).order_by("uploaded_at", "id"))
    files = {a.sha256: _offer(a) for a in carried}  # one envelope attachment per content
    payload = {
        "origin_code": origin_code,
        "origin": origin_member,
        "interconnected": dossier.interconnected.code,
        "step": step.position,
        "procedure": step.procedure.code,
        "channel": dossier.channel,
        "applicant": {
            "name": dossier.applicant_name,
            "id_number": dossier.applicant_id_number,
            "phone": dossier.applicant_phone,
            "email": dossier.applicant_email,
            "address": dossier.applicant_address,
        },
        "form_data": dossier.form_data,
        "attachments": [
            {
                "sha256": a.sha256,
                "size": a.size,
                "media_type": a.media_type,
                "name": a.original_name,
                "kind": a.kind,
            }
            for a in carried
        ],
    }
    exchange.send(
        actor=actor,
        type=HANDOFF,
        sender=member(dossier.current_agency),
        recipient=member(target),
        correlation_id=origin_code,
        payload=payload,
        attachments=list(files.values()),
    )
    DossierEvent.objects.create(
        dossier=dossier,
        action="handed_off",
        status_from=dossier.status,
        status_to=dossier.status,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=audit.actor_label(actor),
        agency=target,
        step=step.position,
    )
    audit.record(
        actor=actor,
        action="hand_off",
        obj=dossier,
        changes={"to": target.identifier, "step": step.position, "files": len(files)},
        source="dossiers",
    )


def report_status(*, actor: Any, dossier: Dossier, reason: str = "") -> None:
    """Tell the originating agency the status of this later step (in the caller's
    transaction); once done with a signed result, the result goes with it
    (``dossier.result``, the PDF as the envelope's attachment)."""
    origin_code, origin_member = _origin(dossier)
    payload = {
        "origin_code": origin_code,
        "code": dossier.code,
        "step": dossier.step.position if dossier.step_id else None,
        "status": dossier.status,
        "reason": reason,
        "at": timezone.now().isoformat(),
    }
    files = None
    if dossier.status == Status.PAYMENT_REQUESTED:
        due = dossier.payment_due
        if due is not None:  # the citizen pays it on the portal's node (``relay_payment``)
            payload["payment"] = {"id": due.pk, "amount": due.amount, "reason": due.reason}
    if dossier.status == Status.DONE and dossier.result_id:
        payload["result"] = _offer(dossier.result)
        files = [payload["result"]]
    exchange.send(
        actor=actor,
        type=RESULT if files else STATUS,
        sender=member(dossier.current_agency),
        recipient=origin_member,
        correlation_id=origin_code,
        payload=payload,
        attachments=files,
    )


# --- Receiving ---------------------------------------------------------------------------


def apply(message: InboundMessage) -> AppliedEnvelope:
    """Apply one received dossier envelope to this node's dossiers, once.

    The outcome is recorded with the envelope id in the same transaction as
    the change: a second call (a redelivery, a second worker) finds it and
    does nothing. A message that cannot be applied (unknown procedure or
    dossier) is recorded with that outcome rather than retried forever.
    """
    with transaction.atomic():
        # Marked applied with the outcome (``apply_pending`` looks for the unmarked
        # ones). The row's lock also serialises two workers applying the same envelope
        # (SQLite's IMMEDIATE transactions already run one at a time).
        if not InboundMessage.objects.filter(pk=message.pk).update(applied=True):
            raise InboundMessage.DoesNotExist(message.pk)
        done = AppliedEnvelope.objects.filter(envelope_id=message.envelope_id).first()
        if done is not None:
            return done
        handler = {
            HANDOFF: _apply_handoff,
            STATUS: _apply_status,
            RESULT: _apply_result,
            WITHDRAW: _apply_withdraw,
            REFUSAL: _apply_refusal,
            PAYMENT: _apply_payment,
        }[message.type]
        try:
            with transaction.atomic():
                dossier, outcome = handler(message)
        except FileRefused as refused:
            # A file the envelope names is not here, or not what it says: nothing of
            # the envelope is applied (the savepoint above is rolled back).
            dossier, outcome = None, refused.code
        except ObjectDoesNotExist:
            # A procedure, step or agency this node does not know: recorded,
            # not retried (the operator reads it in the admin).
            dossier, outcome = None, "unknown_reference"
        except (KeyError, TypeError, ValueError):
            dossier, outcome = None, "malformed"
        return AppliedEnvelope.objects.create(
            envelope_id=message.envelope_id, type=message.type, dossier=dossier, outcome=outcome
        )


def apply_pending(limit: int = 100) -> list[AppliedEnvelope]:
    """Apply the received dossier envelopes not applied yet, in the order received."""
    # The worker asks after every arrival, of any type: a plain look first.
    marks = ", ".join(["%s"] * len(TYPES))
    if not any_row(InboundMessage, f"applied = %s AND type IN ({marks})", [False, *TYPES]):
        return []
    # ``= false`` rather than the ORM's ``NOT applied``, which no index serves.
    pending = InboundMessage.objects.filter(type__in=TYPES, applied=Value(False))
    pending = pending.order_by("pk")[:limit]
    return [apply(message) for message in pending]


def _received_file(message: InboundMessage, described: dict[str, Any]) -> dossier_files.StoredBlob:
    """A file the envelope names, copied from the exchange's store into the dossiers'
    (content-addressed). FileRefused when the envelope does not carry it or the store
    does not hold those bytes (``attachment_missing``), or when they are not what the
    payload says (``attachment_mismatch``)."""
    sha256, size = str(described["sha256"]), int(described["size"])
    name = Path(str(described.get("name") or "")).name[:255] or f"{sha256[:16]}.bin"
    if sha256 not in message.attachment_digests.split():
        raise FileRefused("attachment_missing")
    try:
        if exchange_files.size_of(sha256) != size:
            raise FileRefused("attachment_missing")
        content = b"".join(exchange_files.read(sha256))
    except exchange_files.AttachmentRefused:  # not a digest at all
        raise FileRefused("attachment_mismatch") from None
    if hashlib.sha256(content).hexdigest() != sha256:
        raise FileRefused("attachment_mismatch")
    upload = io.BytesIO(content)
    upload.name = name
    try:
        # The sending node checked the file against its own limits; the exchange's
        # limit already bounded the transfer.
        blob = dossier_files.store(
            upload,
            accepted=[dossier_files.extension(name)],
            max_bytes=settings.EXCHANGE_MAX_ATTACHMENT_BYTES,
        )
    except AttachmentRefused:  # a ".pdf" that is not a PDF, an empty file
        raise FileRefused("attachment_mismatch") from None
    return blob


def _attachment(dossier: Dossier, blob: dossier_files.StoredBlob, kind: str) -> Attachment:
    return Attachment.objects.create(
        dossier=dossier,
        kind=kind if kind in AttachmentKind.values else AttachmentKind.DOCUMENT,
        sha256=blob.sha256,
        size=blob.size,
        media_type=blob.media_type,
        original_name=blob.original_name,
        path=blob.path,
    )


def _apply_handoff(message: InboundMessage) -> tuple[Dossier | None, str]:
    data = message.payload
    agency = Agency.objects.get(identifier=_agency_of(message.recipient), is_active=True)
    sender = Agency.objects.get(identifier=_agency_of(message.sender))
    interconnected = InterconnectedProcedure.objects.get(code=data["interconnected"])
    step = InterconnectedStep.objects.select_related("procedure").get(
        interconnected=interconnected, position=int(data["step"])
    )
    if step.procedure.code != data["procedure"]:
        return None, "wrong_procedure"
    if Dossier.objects.filter(origin_code=data["origin_code"], step=step).exists():
        return None, "duplicate"
    # Every file first, before any row: a missing or altered one refuses the whole
    # hand-off (blobs already copied are named by no row and swept).
    files = [
        (_received_file(message, a), str(a.get("kind", ""))) for a in data.get("attachments") or []
    ]
    applicant = data["applicant"]
    actor = f"exchange:{message.sender}"
    now = timezone.now()
    dossier = Dossier.objects.create(
        code=allocate_code(agency=agency, at=now),
        procedure=step.procedure,
        receiving_agency=agency,
        current_agency=agency,
        applicant_name=str(applicant["name"]),
        applicant_id_number=str(applicant.get("id_number", "")),
        applicant_phone=str(applicant.get("phone", "")),
        applicant_email=str(applicant.get("email", "")),
        applicant_address=str(applicant.get("address", "")),
        channel=int(data["channel"]),
        status=Status.NEW,
        form_data=dict(data.get("form_data") or {}),
        submitted_at=now,
        interconnected=interconnected,
        step=step,
        origin_code=str(data["origin_code"]),
        origin_member=str(data["origin"]),
    )
    _agency_of(dossier.origin_member)  # refuses a malformed reply address
    for blob, kind in files:
        _attachment(dossier, blob, kind)
    DossierEvent.objects.create(
        dossier=dossier,
        action="received",
        status_to=Status.NEW,
        actor_label=actor,
        agency=sender,
        step=step.position,
        note=message.envelope_id,
    )
    audit.record(
        actor=actor,
        action="create",
        obj=dossier,
        changes={
            "origin_code": dossier.origin_code,
            "envelope_id": message.envelope_id,
            "files": [blob.sha256 for blob, _kind in files],
        },
        source="exchange",
    )
    report_status(actor=actor, dossier=dossier)
    return dossier, "created"


def _origin_dossier(message: InboundMessage) -> Dossier | None:
    return (
        Dossier.objects.select_for_update()
        .filter(
            code=message.payload["origin_code"],
            receiving_agency__identifier=_agency_of(message.recipient),
        )
        .first()
    )


def _apply_status(message: InboundMessage) -> tuple[Dossier | None, str]:
    dossier = _origin_dossier(message)
    if dossier is None:
        return None, "unknown_dossier"
    return _record_status(message, dossier), "recorded"


def _record_status(message: InboundMessage, dossier: Dossier) -> Dossier:
    data = message.payload
    sender = Agency.objects.get(identifier=_agency_of(message.sender))
    status = Status(int(data["status"]))
    position = data.get("step")
    step = (
        InterconnectedStep.objects.filter(
            interconnected_id=dossier.interconnected_id, position=int(position)
        ).first()
        if position is not None
        else None
    )
    previous = dossier.remote_status
    same_step = step is None or dossier.step_id == step.pk
    changes: dict[str, Any] = {}
    if workflow.held_elsewhere(dossier) and (
        step is None or dossier.step is None or step.position >= dossier.step.position
    ):
        # A routed dossier is held by whichever agency reports its latest step.
        changes["current_agency"] = sender
    # The citizen's dossier keeps its own status (its step is done); what the
    # later step's agency reports is shown beside it. Version moves on, so an
    # officer's form read before this report is refused as stale.
    Dossier.objects.filter(pk=dossier.pk).update(
        remote_agency=sender,
        remote_status=status,
        step=step or dossier.step,
        version=dossier.version + 1,
        **changes,
    )
    dossier.refresh_from_db()
    DossierEvent.objects.create(
        dossier=dossier,
        action="step_status",
        status_from=previous,
        status_to=status,
        actor_label=f"exchange:{message.sender}",
        agency=sender,
        step=int(position) if position is not None else None,
        reason=str(data.get("reason", ""))[:2000],
        note=str(data.get("code", "")),
    )
    audit.record(
        actor=f"exchange:{message.sender}",
        action="step_status",
        obj=dossier,
        changes={"remote_status": [previous, int(status)], "agency": sender.identifier},
        source="exchange",
    )
    if status == Status.PAYMENT_REQUESTED and isinstance(data.get("payment"), dict):
        _remote_fee(message, dossier, sender, data)
    # Told once, here, under her code: the step's own dossier tells her nothing.
    notifications.notify_reported_on_commit(
        dossier, status, previous=previous if same_step else None, step=step
    )
    return dossier


def _apply_result(message: InboundMessage) -> tuple[Dossier | None, str]:
    """A later step's status with its signed result: the status is recorded as a
    ``dossier.status`` is, and the PDF stored against that step (a ``step_result``
    event names it by digest), both or neither."""
    data = message.payload
    dossier = _origin_dossier(message)
    if dossier is None:
        return None, "unknown_dossier"
    position = int(data["step"])
    described = data["result"]
    if dossier.events.filter(
        action="step_result", step=position, note=str(described["sha256"])
    ).exists():
        return dossier, "duplicate"
    blob = _received_file(message, described)
    if blob.media_type != "application/pdf":
        raise FileRefused("attachment_mismatch")
    dossier = _record_status(message, dossier)
    sender = Agency.objects.get(identifier=_agency_of(message.sender))
    attachment = _attachment(dossier, blob, AttachmentKind.RESULT)
    DossierEvent.objects.create(
        dossier=dossier,
        action="step_result",  # the status itself is the step_status event just above
        actor_label=f"exchange:{message.sender}",
        agency=sender,
        step=position,
        note=attachment.sha256,
    )
    audit.record(
        actor=f"exchange:{message.sender}",
        action="step_result",
        obj=dossier,
        changes={"step": position, "sha256": attachment.sha256, "code": str(data.get("code", ""))},
        source="exchange",
    )
    return dossier, "recorded"


def _apply_withdraw(message: InboundMessage) -> tuple[Dossier | None, str]:
    """The applicant's withdrawal, relayed by the originating agency to this step's
    dossier: made through the one state machine (``services.withdraw``, acting as
    ``workflow.relayed_by``), which reports the new status back as any change does;
    refused by it, the refusal goes back (``dossier.refusal``). A request seen before
    (its ``request_id``) is ``duplicate`` and answered nothing more."""
    from lienthong.dossiers import services  # services hands off through this module

    data = message.payload
    request_id = str(data["request_id"])[:100]
    dossier = (
        Dossier.objects.select_related("step", "current_agency")
        .filter(
            origin_code=str(data["origin_code"]),
            origin_member=message.sender,  # only the originating agency may ask
            current_agency__identifier=_agency_of(message.recipient),
        )
        .order_by("-step__position", "-id")
        .first()
    )
    if dossier is None:
        return None, "unknown_dossier"
    if dossier.events.filter(action="withdraw_requested", note=request_id).exists():
        return dossier, "duplicate"
    actor = workflow.relayed_by(dossier)
    reason = str(data.get("reason", ""))[:2000]
    DossierEvent.objects.create(
        dossier=dossier,
        action="withdraw_requested",
        status_from=dossier.status,
        actor_label=actor,
        agency=dossier.current_agency,
        step=dossier.step.position if dossier.step_id else None,
        reason=reason,
        note=request_id,
    )
    try:
        with transaction.atomic():
            dossier = services.withdraw(
                actor=actor, dossier=dossier, expected_version=dossier.version, reason=reason
            )
    except DossierConflict as refused:
        _refuse(actor=actor, dossier=dossier, request=message, refused=refused)
        return dossier, "refused"
    return dossier, "withdrawn"


def _refuse(
    *, actor: str, dossier: Dossier, request: InboundMessage, refused: DossierConflict
) -> None:
    origin_code, origin_member = _origin(dossier)
    exchange.send(
        actor=actor,
        type=REFUSAL,
        sender=member(dossier.current_agency),
        recipient=origin_member,
        correlation_id=origin_code,
        payload={
            "origin_code": origin_code,
            "code": dossier.code,
            "step": dossier.step.position if dossier.step_id else None,
            "status": dossier.status,
            "request": request.type,
            "request_id": str(request.payload.get("request_id", "")),
            "refusal": refused.code,
            "message_vi": refused.message_vi,
            "message_en": refused.message_en,
            "at": timezone.now().isoformat(),
        },
    )
    audit.record(
        actor=actor,
        action="refused",
        obj=dossier,
        changes={"request": request.type, "refusal": refused.code, "status": dossier.status},
        source="exchange",
    )


def _apply_refusal(message: InboundMessage) -> tuple[Dossier | None, str]:
    """The holding agency refused a request of the citizen's dossier: a ``refused``
    event (its reason in Vietnamese, the code as its note) on her timeline; the
    holder's status is recorded as reported, without a status event."""
    data = message.payload
    dossier = _origin_dossier(message)
    if dossier is None:
        return None, "unknown_dossier"
    sender = Agency.objects.get(identifier=_agency_of(message.sender))
    status = Status(int(data["status"]))
    Dossier.objects.filter(pk=dossier.pk).update(
        remote_agency=sender, remote_status=status, version=dossier.version + 1
    )
    dossier.refresh_from_db()
    position = data.get("step")
    DossierEvent.objects.create(
        dossier=dossier,
        action="refused",
        actor_label=f"exchange:{message.sender}",
        agency=sender,
        step=int(position) if position is not None else None,
        reason=str(data.get("message_vi", ""))[:2000],
        note=f"{str(data['request'])[:40]} {str(data['refusal'])[:40]}",
    )
    audit.record(
        actor=f"exchange:{message.sender}",
        action="refused",
        obj=dossier,
        changes={
            "request": str(data["request"]),
            "request_id": str(data.get("request_id", "")),
            "refusal": str(data["refusal"]),
            "remote_status": int(status),
        },
        source="exchange",
    )
    if data["request"] == PAYMENT:
        _payment_refused(message, dossier, data)
    if data["request"] == WITHDRAW:  # the one request a citizen makes of the holder
        notifications.notify_refused_on_commit(
            dossier, reason=str(data.get("message_vi", ""))[:2000], status=status
        )
    return dossier, "recorded"


# --- A fee asked on the holder's node, paid on the portal's ----------------------------


def _remote_fee(message: InboundMessage, dossier: Dossier, sender: Agency, data: dict) -> None:
    """The holder asks a fee of a routed dossier: the same fee, payable here
    (``payments.payable``), answering that request (``Payment.remote_request``). A
    fee still unpaid here from an earlier request is replaced by the new one."""
    fee = data["payment"]
    amount = int(fee["amount"])
    if amount <= 0:
        raise ValueError("amount")
    request = f"{sender.identifier}/{str(data.get('code', ''))[:60]}/{int(fee['id'])}"
    if dossier.payments.filter(remote_request=request).exists():
        return  # the same request reported again
    values = {
        "amount": amount,
        "reason": str(fee.get("reason", ""))[:2000],
        "requested_at": timezone.now(),
        "remote_request": request,
        "backend": "",
        "reference": "",
        "started_at": None,
    }
    due = dossier.payment_due
    if due is not None:
        due.attempts.filter(state=AttemptState.OPEN).update(
            state=AttemptState.CANCELLED, closed_at=timezone.now()
        )
        Payment.objects.filter(pk=due.pk).update(**values)
    else:
        Payment.objects.create(dossier=dossier, **values)
    audit.record(
        actor=f"exchange:{message.sender}",
        action="payment_requested",
        obj=dossier,
        changes={"amount": amount, "request": request},
        source="exchange",
    )


def relay_payment(
    *, actor: Any, dossier: Dossier, payment: Payment, backend: str, reference: str, receipt: str
) -> Dossier:
    """Record here the payment of a fee the agency holding a routed dossier asked
    (``Payment.remote_request``) and send it there (``dossier.payment``), in the
    caller's transaction: the payment, a ``payment_received`` event (the dossier's
    own status unchanged: the holder decides), the audit record, the envelope."""
    agency_id, step_code, request = payment.remote_request.split("/")
    now = timezone.now()
    Payment.objects.filter(pk=payment.pk).update(
        backend=backend, reference=reference, receipt=receipt, paid_at=now
    )
    origin_code, _origin_member = _origin(dossier)
    request_id = f"{backend}:{reference}"
    exchange.send(
        actor=actor,
        type=PAYMENT,
        sender=member(dossier.receiving_agency),
        recipient=member(agency_id),
        correlation_id=origin_code,
        payload={
            "origin_code": origin_code,
            "code": step_code,
            "request": int(request),
            "request_id": request_id,
            "amount": payment.amount,
            "backend": backend,
            "reference": reference,
            "receipt": receipt,
            "paid_at": now.isoformat(),
        },
    )
    Dossier.objects.filter(pk=dossier.pk).update(version=dossier.version + 1)
    dossier.refresh_from_db()
    DossierEvent.objects.create(
        dossier=dossier,
        action="payment_received",
        status_from=dossier.status,
        status_to=dossier.status,
        actor_label=audit.actor_label(actor),
        agency=dossier.current_agency,
        step=dossier.step.position if dossier.step_id else None,
        note=f"{format_vnd(payment.amount)} VND",
    )
    audit.record(
        actor=actor,
        action="payment_received",
        obj=dossier,
        changes={
            "payment": payment.pk,
            "amount": payment.amount,
            "backend": backend,
            "reference": reference,
            "receipt": receipt,
            "relayed_to": agency_id,
        },
        source="dossiers",
    )
    return dossier


def _apply_payment(message: InboundMessage) -> tuple[Dossier | None, str]:
    """The fee this agency asked was paid on the originating agency's node: recorded
    through the one state machine (``services.record_payment``, acting as
    ``payment:<backend>``), which moves the dossier back to processing and reports
    it; refused by it (another amount, nothing awaited), a ``dossier.refusal``. The
    same payment again is ``duplicate``."""
    from lienthong.dossiers import services  # services hands off through this module

    data = message.payload
    dossier = (
        Dossier.objects.select_related("step", "current_agency")
        .filter(
            code=str(data["code"]),
            origin_code=str(data["origin_code"]),
            origin_member=message.sender,  # only the originating agency pays here
            current_agency__identifier=_agency_of(message.recipient),
        )
        .first()
    )
    if dossier is None:
        return None, "unknown_dossier"
    backend, reference = str(data["backend"])[:60], str(data["reference"])
    if not backend or not reference or backend == services.COUNTER:
        raise ValueError("backend")
    # Taken at the originating agency's gateway: named here under that agency, so it
    # never collides with a payment made at this node's own gateway.
    reference = f"{_agency_of(message.sender)}:{reference}"[:100]
    payment = dossier.payments.filter(pk=int(data["request"])).first()
    if (
        payment is not None
        and payment.paid_at is not None
        and (payment.backend, payment.reference) == (backend, reference)
    ):
        return dossier, "duplicate"
    actor = workflow.paid_through(backend)
    try:
        with transaction.atomic():
            if payment is None or payment.paid_at is not None:
                raise DossierConflict("payment_not_requested", status_from=dossier.status)
            # The attempt made on the other node is the payment under way here.
            Payment.objects.filter(pk=payment.pk).update(
                backend=backend, reference=reference, started_at=timezone.now()
            )
            dossier = services.record_payment(
                actor=actor,
                dossier=dossier,
                backend=backend,
                reference=reference,
                amount=int(data["amount"]),
                receipt=str(data.get("receipt", ""))[:100],
                note=f"{format_vnd(data['amount'])} VND",
            )
    except DossierConflict as refused:
        _refuse(actor=actor, dossier=dossier, request=message, refused=refused)
        return dossier, "refused"
    return dossier, "recorded"


def _payment_refused(message: InboundMessage, dossier: Dossier, data: dict) -> None:
    """The holder refused a payment made here (paid otherwise meanwhile, another
    amount): the money taken is kept on record as to refund (``surplus``)."""
    backend, _sep, reference = str(data.get("request_id", "")).partition(":")
    attempt = PaymentAttempt.objects.filter(
        backend=backend, reference=reference, payment__dossier=dossier
    ).first()
    if attempt is None:
        return
    PaymentAttempt.objects.filter(pk=attempt.pk).update(state=AttemptState.SURPLUS)
    audit.record(
        actor=f"exchange:{message.sender}",
        action="payment_surplus",
        obj=dossier,
        changes={
            "payment": attempt.payment_id,
            "reference": reference,
            "refusal": str(data["refusal"]),
        },
        source="exchange",
    )


# --- Reading -----------------------------------------------------------------------------


def step_results(dossier: Dossier) -> dict[int, Attachment]:
    """{step position: the signed result its agency sent back} for the originating
    dossier (the latest per step)."""
    events = list(dossier.events.filter(action="step_result").order_by("at", "id"))
    if not events:
        return {}
    files = {
        a.sha256: a
        for a in dossier.attachments.filter(
            kind=AttachmentKind.RESULT, sha256__in=[e.note for e in events]
        )
    }
    return {e.step: files[e.note] for e in events if e.step is not None and e.note in files}


def step_result_bytes(attachment: Attachment) -> bytes:
    """A received step result's content, refused (``no_result``) when the stored blob
    is no longer its digest."""
    with dossier_files.open_blob(attachment.path) as handle:
        content = handle.read()
    if hashlib.sha256(content).hexdigest() != attachment.sha256:
        raise DossierConflict("no_result")
    return content


def holder(dossier: Dossier) -> Agency:
    """The agency that holds the citizen's dossier now: the one it was last handed to,
    or that last reported on it, else the agency holding it here."""
    last = (
        dossier.events.filter(action__in=("handed_off", "step_status"), agency__isnull=False)
        .select_related("agency__node")
        .order_by("-at", "-id")
        .first()
    )
    return last.agency if last is not None else dossier.current_agency
