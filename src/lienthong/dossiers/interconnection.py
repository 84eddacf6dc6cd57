"""Interconnected procedures (liên thông, Decree 63/2024/NĐ-CP) across agencies and nodes.

The citizen's dossier is the one submitted for the first step (the
*originating* dossier). When a step is done and the procedure has a next
step, the agency that did it hands the dossier to the next step's agency:

``dossier.handoff`` (from the step's agency to the next step's agency)
    ``{"origin_code", "origin": "VN:GOV:{agency}:dossiers", "interconnected",
    "step", "procedure", "channel", "applicant": {...}, "form_data": {...},
    "attachments": [{"sha256", "size", "media_type", "name", "kind"}]}``.
    The receiver opens a dossier of its own for that step (its own code,
    ``origin_code`` pointing back) with status 1 (new).

``dossier.status`` (from a later step's agency to the originating agency)
    ``{"origin_code", "code", "step", "status", "reason", "at"}``, sent at every
    status change of the later step's dossier. The originating side records it
    on the citizen's dossier (``remote_agency``, ``remote_status``, ``step`` and
    an event on the timeline) without changing that dossier's own status.

Both are sent through the exchange outbox in the transaction of the change
(``exchange.services.send``). Received envelopes are applied by ``apply``,
once per envelope id (``AppliedEnvelope``): applying again changes nothing.
The envelope's correlation id is always the originating dossier's code, so
the exchange keeps one dossier's messages in order.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.utils import timezone

from lienthong.audit import services as audit
from lienthong.catalog.models import InterconnectedProcedure, InterconnectedStep, Procedure
from lienthong.directory.models import Agency
from lienthong.dossiers import notifications
from lienthong.dossiers.codes import allocate_code
from lienthong.dossiers.errors import DossierConflict
from lienthong.dossiers.models import AppliedEnvelope, Dossier, DossierEvent, Status
from lienthong.exchange import envelope as envelopes
from lienthong.exchange import services as exchange
from lienthong.exchange.models import InboundMessage

SUBSYSTEM = "dossiers"
HANDOFF = "dossier.handoff"
STATUS = "dossier.status"
TYPES = (HANDOFF, STATUS)


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
    comes back to it."""
    step = dossier.interconnected.steps.select_related("procedure").order_by("position").first()
    if step is None:
        raise DossierConflict("no_next_agency", procedure=dossier.procedure.code)
    _send_step(actor=actor, dossier=dossier, step=step, target=agency)


def _send_step(*, actor: Any, dossier: Dossier, step: InterconnectedStep, target: Agency) -> None:
    """The ``dossier.handoff`` envelope of ``step`` to ``target``, its event and audit."""
    origin_code, origin_member = _origin(dossier)
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
            for a in dossier.attachments.all()
        ],
    }
    exchange.send(
        actor=actor,
        type=HANDOFF,
        sender=member(dossier.current_agency),
        recipient=member(target),
        correlation_id=origin_code,
        payload=payload,
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
        changes={"to": target.identifier, "step": step.position},
        source="dossiers",
    )


def report_status(*, actor: Any, dossier: Dossier, reason: str = "") -> None:
    """Tell the originating agency the status of this later step (in the caller's transaction)."""
    origin_code, origin_member = _origin(dossier)
    exchange.send(
        actor=actor,
        type=STATUS,
        sender=member(dossier.current_agency),
        recipient=origin_member,
        correlation_id=origin_code,
        payload={
            "origin_code": origin_code,
            "code": dossier.code,
            "step": dossier.step.position if dossier.step_id else None,
            "status": dossier.status,
            "reason": reason,
            "at": timezone.now().isoformat(),
        },
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
        # Serialises two workers applying the same envelope (a no-op lock on SQLite,
        # whose IMMEDIATE transactions already run one at a time).
        InboundMessage.objects.select_for_update().get(pk=message.pk)
        done = AppliedEnvelope.objects.filter(envelope_id=message.envelope_id).first()
        if done is not None:
            return done
        handler = {HANDOFF: _apply_handoff, STATUS: _apply_status}[message.type]
        try:
            with transaction.atomic():
                dossier, outcome = handler(message)
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
    pending = (
        InboundMessage.objects.filter(type__in=TYPES)
        .exclude(envelope_id__in=AppliedEnvelope.objects.values("envelope_id"))
        .order_by("pk")[:limit]
    )
    return [apply(message) for message in pending]


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
        changes={"origin_code": dossier.origin_code, "envelope_id": message.envelope_id},
        source="exchange",
    )
    report_status(actor=actor, dossier=dossier)
    return dossier, "created"


def _apply_status(message: InboundMessage) -> tuple[Dossier | None, str]:
    data = message.payload
    sender = Agency.objects.get(identifier=_agency_of(message.sender))
    dossier = (
        Dossier.objects.select_for_update()
        .filter(
            code=data["origin_code"],
            receiving_agency__identifier=_agency_of(message.recipient),
        )
        .first()
    )
    if dossier is None:
        return None, "unknown_dossier"
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
    # The citizen's dossier keeps its own status (its step is done); what the
    # later step's agency reports is shown beside it. Version moves on, so an
    # officer's form read before this report is refused as stale.
    Dossier.objects.filter(pk=dossier.pk).update(
        remote_agency=sender,
        remote_status=status,
        step=step or dossier.step,
        version=dossier.version + 1,
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
    notifications.notify_on_commit(dossier, status)
    return dossier, "recorded"
