"""Writing dossiers: submission, counter intake, every status change, supplements, results.

Each service takes keyword arguments, runs in one transaction, writes a
``DossierEvent`` and an audit record in it, and leaves notifications and
messages to ``transaction.on_commit`` / the exchange outbox. Status changes
go through ``transition``: the state machine (``workflow.py``) decides whether
the move is allowed, and a compare-and-set on ``version`` decides which of two
officers acting at once wins — the other gets ``stale_dossier`` and nothing of
theirs is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from lienthong.audit import services as audit
from lienthong.catalog.models import InterconnectedProcedure, Procedure
from lienthong.directory.models import Agency
from lienthong.dossiers import attachments, interconnection, notifications, results, workflow
from lienthong.dossiers.codes import allocate_code
from lienthong.dossiers.errors import AttachmentRefused, DossierConflict
from lienthong.dossiers.intake import (
    Applicant,
    always_required,
    applicant_from_account,
    clean_form_data,
    jsonable,
)
from lienthong.dossiers.models import (
    Attachment,
    AttachmentKind,
    Channel,
    Dossier,
    DossierEvent,
    Payment,
    ResultDelivery,
    Status,
    SupplementRequest,
)
from lienthong.dossiers.money import format_vnd
from lienthong.identity import numbers
from lienthong.identity import services as identity
from lienthong.identity.models import Account, AccountKind, Role
from lienthong.identity.permissions import has_role

SOURCE = "dossiers"


# --- Submission ----------------------------------------------------------------------------


def _store_documents(
    *,
    actor: Any,
    dossier: Dossier,
    documents: Mapping[int, Sequence[Any]],
    require: bool,
) -> list[Attachment]:
    by_id = {d.pk: d for d in dossier.procedure.documents.all()}
    if require:
        missing = [d.pk for d in always_required(dossier.procedure) if not documents.get(d.pk)]
        if missing:
            raise DossierConflict("documents_missing", documents=missing)
    stored = []
    for document_id, files in documents.items():
        document = by_id.get(int(document_id))
        if document is None:
            raise ValidationError(
                {
                    "documents": ValidationError(
                        _("This procedure lists no such document."), code="unknown_document"
                    )
                }
            )
        for upload in files:
            stored.append(
                _attach(
                    actor=actor,
                    dossier=dossier,
                    upload=upload,
                    kind=AttachmentKind.DOCUMENT,
                    accepted=attachments.accepted_types(document),
                    document=document,
                )
            )
    return stored


def _attach(
    *, actor: Any, dossier: Dossier, upload: Any, kind: str, accepted, **links: Any
) -> Attachment:
    # The file reaches its final (content-addressed) name before this row is
    # created, and the row commits with the dossier change or not at all.
    blob = attachments.store(upload, accepted=accepted)
    return Attachment.objects.create(
        dossier=dossier,
        kind=kind,
        sha256=blob.sha256,
        size=blob.size,
        media_type=blob.media_type,
        original_name=blob.original_name,
        path=blob.path,
        uploaded_by=audit.actor_user(actor),
        **links,
    )


@transaction.atomic
def _create(
    *,
    actor: Any,
    procedure: Procedure,
    agency: Agency,
    channel: int,
    form_data: Mapping[str, Any],
    documents: Mapping[int, Sequence[Any]],
    applicant: Applicant,
    applicant_user: Any,
    interconnected: InterconnectedProcedure | None,
    result_delivery: int = ResultDelivery.COUNTER,
    delivery_address: str = "",
) -> Dossier:
    if result_delivery == ResultDelivery.POST and not delivery_address.strip():
        raise DossierConflict("delivery_address_required")
    # The link table alone (no join to the agencies' table): the agency is at hand.
    links = Procedure.agencies.through.objects
    if (
        not procedure.is_active
        or not links.filter(procedure_id=procedure.pk, agency_id=agency.pk).exists()
    ):
        raise ValidationError(
            {
                "agency": ValidationError(
                    _("This agency does not handle this procedure."), code="wrong_agency"
                )
            }
        )
    step = None
    if interconnected is not None:
        step = interconnected.steps.order_by("position").first()
        if step is None or step.procedure_id != procedure.pk:
            raise ValidationError(
                {
                    "procedure": ValidationError(
                        _("An interconnected dossier starts with the first step's procedure."),
                        code="not_first_step",
                    )
                }
            )
    cleaned = clean_form_data(procedure, form_data)
    now = timezone.now()
    dossier = Dossier.objects.create(
        code=allocate_code(agency=agency, at=now),
        procedure=procedure,
        receiving_agency=agency,
        current_agency=agency,
        applicant=applicant_user,
        applicant_name=applicant.name,
        applicant_id_number=applicant.id_number,
        applicant_phone=applicant.phone,
        applicant_email=applicant.email,
        applicant_address=applicant.address,
        channel=channel,
        status=Status.NEW,
        form_data=cleaned,
        submitted_at=now,
        interconnected=interconnected,
        step=step,
        result_delivery=result_delivery,
        delivery_address=delivery_address.strip(),
    )
    _store_documents(actor=actor, dossier=dossier, documents=documents, require=True)
    _event(actor=actor, dossier=dossier, action="submitted", status_from=None, at=now)
    audit.record(
        actor=actor,
        action="create",
        obj=dossier,
        changes={"procedure": procedure.code, "channel": channel, "agency": agency.identifier},
        source=SOURCE,
    )
    notifications.notify_on_commit(dossier)
    return dossier


def submit(
    *,
    actor: Any,
    procedure: Procedure,
    agency: Agency,
    form_data: Mapping[str, Any],
    documents: Mapping[int, Sequence[Any]],
    applicant: Applicant | None = None,
    interconnected: InterconnectedProcedure | None = None,
) -> Dossier:
    """An online submission (channel 2) by a signed-in citizen or business, for
    themselves: the declaration is checked, every always-required document must
    be there, and the dossier gets its code and status 1 (new)."""
    if actor is None or isinstance(actor, str) or not actor.is_authenticated:
        raise DossierConflict("not_allowed")
    return _create(
        actor=actor,
        procedure=procedure,
        agency=agency,
        channel=Channel.ONLINE,
        form_data=form_data,
        documents=documents,
        applicant=applicant or applicant_from_account(actor),
        applicant_user=actor,
        interconnected=interconnected,
    )


def counter_applicant(
    *, actor: Any, agency: Agency, applicant: Applicant, create_account: bool = False
) -> Any | None:
    """The account of the person or business a one-stop officer takes a paper dossier
    for: the citizen account with that personal ID number (or the business account
    with that tax code) if there is one; else, when a citizen wants one
    (``create_account``), a new citizen account without a password (they set one
    later, or sign in with a passkey); else None, and the dossier keeps only the
    details the officer recorded. A number that is neither a valid personal ID
    number nor a valid tax code is refused (ValidationError on ``id_number``, with
    the identity app's codes: ``personal_id_format``, ``tax_code_check_digit``…)."""
    if not has_role(actor, agency, Role.ONE_STOP_OFFICER):
        raise DossierConflict("not_allowed")
    id_number = applicant.id_number.strip()
    if not id_number:
        if create_account:
            raise ValidationError(
                {
                    "id_number": ValidationError(
                        _("An account needs the personal ID number."), code="id_number_required"
                    )
                }
            )
        return None
    business = numbers.identifier_kind(id_number) == "tax_code"
    try:
        (numbers.validate_tax_code if business else numbers.validate_personal_id)(id_number)
    except ValidationError as exc:
        raise ValidationError({"id_number": exc.error_list}) from exc
    lookup = (
        {"kind": AccountKind.BUSINESS, "tax_code": id_number}
        if business
        else {"kind": AccountKind.CITIZEN, "personal_id": id_number}
    )
    account = Account.objects.select_related("user").filter(user__is_active=True, **lookup).first()
    if account is not None:
        return account.user
    # A business account is opened by the business itself (its representative).
    if not create_account or business:
        return None
    return identity.create_account(
        actor=actor,
        kind=AccountKind.CITIZEN,
        display_name=applicant.name,
        personal_id=id_number,
        password=None,
        phone=applicant.phone,
        email=applicant.email,
        source=SOURCE,
    ).user


def counter_intake(
    *,
    actor: Any,
    procedure: Procedure,
    agency: Agency,
    form_data: Mapping[str, Any],
    documents: Mapping[int, Sequence[Any]],
    applicant: Applicant,
    applicant_user: Any = None,
    channel: int = Channel.COUNTER,
    interconnected: InterconnectedProcedure | None = None,
    accept_now: bool = False,
    create_account: bool = False,
    result_delivery: int = ResultDelivery.COUNTER,
    delivery_address: str = "",
    note: str = "",
) -> Dossier:
    """A paper dossier a one-stop officer of ``agency`` takes at the counter (or by
    post, channel 3) for an applicant, who may have no account: without
    ``applicant_user`` the account is found by the personal ID number, or made
    (``create_account``), see ``counter_applicant``. With ``accept_now`` the
    officer, having checked the papers in front of them, accepts it at once
    (status 2, the deadline starts). All in one transaction: a refused
    declaration creates no account either."""
    if not has_role(actor, agency, Role.ONE_STOP_OFFICER):
        raise DossierConflict("not_allowed")
    with transaction.atomic():
        if applicant_user is None:
            applicant_user = counter_applicant(
                actor=actor, agency=agency, applicant=applicant, create_account=create_account
            )
        dossier = _create(
            actor=actor,
            procedure=procedure,
            agency=agency,
            channel=channel,
            form_data=form_data,
            documents=documents,
            applicant=applicant,
            applicant_user=applicant_user,
            interconnected=interconnected,
            result_delivery=result_delivery,
            delivery_address=delivery_address,
        )
        if accept_now:
            dossier = accept(
                actor=actor, dossier=dossier, expected_version=dossier.version, note=note
            )
        return dossier


# --- Status changes ------------------------------------------------------------------------


def _event(
    *,
    actor: Any,
    dossier: Dossier,
    action: str,
    status_from: int | None,
    reason: str = "",
    note: str = "",
    agency: Agency | None = None,
    step: int | None = None,
    at: dt.datetime | None = None,
) -> DossierEvent:
    return DossierEvent.objects.create(
        dossier=dossier,
        at=at or timezone.now(),
        action=action,
        status_from=status_from,
        status_to=dossier.status,
        actor=audit.actor_user(actor),
        actor_label=audit.actor_label(actor),
        agency=agency or dossier.current_agency,
        step=step if step is not None else (dossier.step.position if dossier.step_id else None),
        reason=reason,
        note=note,
    )


def transition(
    *,
    actor: Any,
    dossier: Dossier,
    to: int,
    expected_version: int,
    reason: str = "",
    note: str = "",
) -> Dossier:
    """Move ``dossier`` to status ``to`` if the state machine lets ``actor`` do it
    and nobody changed it since they read ``expected_version``.

    Raises IllegalTransition / DossierConflict (``illegal_transition``,
    ``not_allowed``, ``reason_required``, ``stale_dossier``,
    ``use_answer_supplement``, ``use_confirm_payment``). Returns the dossier as stored, with its new
    version. The named services below (``accept``, ``approve``, …) call it and
    write what goes with their move.
    """
    if to == Status.SUPPLEMENT_REQUESTED:
        return request_supplement(
            actor=actor, dossier=dossier, reason=reason, expected_version=expected_version
        )
    if to == Status.DONE:
        return approve(actor=actor, dossier=dossier, expected_version=expected_version, note=note)
    if to == Status.PAYMENT_REQUESTED:
        return request_payment(
            actor=actor, dossier=dossier, reason=reason, expected_version=expected_version
        )
    return _transition(
        actor=actor,
        dossier=dossier,
        to=to,
        expected_version=expected_version,
        reason=reason,
        note=note,
    )


def _transition(
    *,
    actor: Any,
    dossier: Dossier,
    to: int,
    expected_version: int,
    reason: str = "",
    note: str = "",
    before=None,
    answering: bool = False,
    paying: bool = False,
) -> Dossier:
    """Move ``dossier`` to status ``to`` if the state machine lets ``actor`` do it
    and nobody changed it since they read ``expected_version``.

    ``before(current, now)`` writes what goes with the move (a supplement
    request, a result) and may return more fields to set.
    """
    to = Status(to)
    with transaction.atomic():
        current = Dossier.objects.select_related("procedure", "step").get(pk=dossier.pk)
        if current.version != expected_version:
            raise DossierConflict("stale_dossier", version=current.version)
        workflow.check(actor=actor, dossier=current, to=to, reason=reason)
        status_from = current.status
        if status_from == Status.SUPPLEMENT_REQUESTED and to != Status.STOPPED and not answering:
            raise DossierConflict("use_answer_supplement", status_from=status_from, status_to=to)
        if status_from == Status.PAYMENT_REQUESTED and not paying:
            # Only a payment recorded (online, or at the counter) ends the wait.
            raise DossierConflict("use_confirm_payment", status_from=status_from, status_to=to)
        now = timezone.now()
        changes: dict[str, Any] = dict(before(current, now) or {}) if before else {}
        if status_from == Status.SUPPLEMENT_REQUESTED:
            # Stopped while waiting: the pause ends with the dossier.
            SupplementRequest.objects.filter(dossier=current, answered_at__isnull=True).update(
                answered_at=now
            )
        if to == Status.ACCEPTED:
            current.accepted_at = now
            changes["accepted_at"] = now
            changes["due_at"] = current.compute_due_at(now=now)
        if to in (Status.DONE, Status.REJECTED, Status.STOPPED):
            changes["finished_at"] = now
        if to == Status.RESULT_RETURNED:
            changes["returned_at"] = now
        # Compare-and-set: of two officers who read the same version, the
        # second UPDATE matches no row (on PostgreSQL it waits for the first
        # to commit, then sees the new version) and changes nothing.
        updated = Dossier.objects.filter(pk=current.pk, version=expected_version).update(
            status=to, version=F("version") + 1, **changes
        )
        if updated != 1:
            raise DossierConflict("stale_dossier")
        current.refresh_from_db()
        _event(
            actor=actor,
            dossier=current,
            action=workflow.ACTIONS[to],
            status_from=status_from,
            reason=reason,
            note=note,
            at=now,
        )
        audit.record(
            actor=actor,
            action=workflow.ACTIONS[to],
            obj=current,
            changes={
                "status": [status_from, int(to)],
                **{key: jsonable(value) for key, value in changes.items()},
                **({"reason": reason} if reason else {}),
            },
            source=SOURCE,
        )
        notifications.notify_on_commit(current)
        if current.origin_member:
            interconnection.report_status(actor=actor, dossier=current, reason=reason)
        return current


def accept(*, actor: Any, dossier: Dossier, expected_version: int, note: str = "") -> Dossier:
    """The one-stop officer accepts the dossier: the deadline starts."""
    return transition(
        actor=actor,
        dossier=dossier,
        to=Status.ACCEPTED,
        expected_version=expected_version,
        note=note,
    )


def reject(*, actor: Any, dossier: Dossier, reason: str, expected_version: int) -> Dossier:
    """The one-stop officer refuses the dossier, saying why."""
    return transition(
        actor=actor,
        dossier=dossier,
        to=Status.REJECTED,
        reason=reason,
        expected_version=expected_version,
    )


def process(
    *,
    actor: Any,
    dossier: Dossier,
    expected_version: int,
    note: str = "",
    draft_result: Any | None = None,
) -> Dossier:
    """A specialist starts processing, attaching the draft result if it is ready."""
    if draft_result is None:
        return transition(
            actor=actor,
            dossier=dossier,
            to=Status.PROCESSING,
            expected_version=expected_version,
            note=note,
        )

    def attach_draft(current: Dossier, now: dt.datetime) -> dict:
        _attach(
            actor=actor,
            dossier=current,
            upload=draft_result,
            kind=AttachmentKind.DRAFT,
            accepted=["pdf"],
        )
        return {}

    return _transition(
        actor=actor,
        dossier=dossier,
        to=Status.PROCESSING,
        expected_version=expected_version,
        note=note,
        before=attach_draft,
    )


@transaction.atomic
def attach_draft_result(
    *, actor: Any, dossier: Dossier, upload: Any, expected_version: int, note: str = ""
) -> Dossier:
    """A specialist attaches (or replaces) the draft result of a dossier being processed;
    the leader signs the latest one on approval. The status stays; the version moves on."""
    current = Dossier.objects.select_related("step").get(pk=dossier.pk)
    if current.version != expected_version:
        raise DossierConflict("stale_dossier", version=current.version)
    if current.status != Status.PROCESSING:
        raise workflow.IllegalTransition("illegal_transition", status_from=current.status)
    if Role.SPECIALIST not in workflow.capacities(actor, current):
        raise DossierConflict("not_allowed", status_from=current.status)
    if not Dossier.objects.filter(pk=current.pk, version=expected_version).update(
        version=F("version") + 1
    ):
        raise DossierConflict("stale_dossier")
    stored = _attach(
        actor=actor, dossier=current, upload=upload, kind=AttachmentKind.DRAFT, accepted=["pdf"]
    )
    current.refresh_from_db()
    _event(
        actor=actor,
        dossier=current,
        action="draft_result",
        status_from=current.status,
        note=note or stored.original_name,
    )
    audit.record(
        actor=actor,
        action="draft_result",
        obj=current,
        changes={"sha256": stored.sha256, "name": stored.original_name},
        source=SOURCE,
    )
    return current


def withdraw(*, actor: Any, dossier: Dossier, expected_version: int, reason: str = "") -> Dossier:
    """The applicant withdraws the dossier (while new, or accepted and not yet processed)."""
    return transition(
        actor=actor,
        dossier=dossier,
        to=Status.WITHDRAWN,
        reason=reason,
        expected_version=expected_version,
    )


def stop(*, actor: Any, dossier: Dossier, reason: str, expected_version: int) -> Dossier:
    """A leader stops processing, saying why."""
    return transition(
        actor=actor,
        dossier=dossier,
        to=Status.STOPPED,
        reason=reason,
        expected_version=expected_version,
    )


def request_supplement(
    *, actor: Any, dossier: Dossier, reason: str, expected_version: int
) -> Dossier:
    """Ask the applicant for what is missing; the deadline's clock stops until they answer."""

    def open_request(current: Dossier, now: dt.datetime) -> dict:
        SupplementRequest.objects.create(
            dossier=current,
            requested_at=now,
            requested_by=audit.actor_user(actor),
            reason=reason,
            resume_status=current.status,
        )
        return {}

    return _transition(
        actor=actor,
        dossier=dossier,
        to=Status.SUPPLEMENT_REQUESTED,
        reason=reason,
        expected_version=expected_version,
        before=open_request,
    )


def answer_supplement(
    *,
    actor: Any,
    dossier: Dossier,
    files: Sequence[Any],
    expected_version: int,
    note: str = "",
) -> Dossier:
    """The applicant (or a one-stop officer for them) hands in what was missing:
    the files are attached, the pause ends, the deadline moves by the time paused,
    and the dossier goes back to where the request found it."""
    with transaction.atomic():
        request = (
            SupplementRequest.objects.select_for_update()
            .filter(dossier=dossier, answered_at__isnull=True)
            .first()
        )
        if request is None:
            raise workflow.IllegalTransition(
                "illegal_transition", status_from=dossier.status, status_to=None
            )
        if not files:
            raise DossierConflict("documents_missing")

        def close_request(current: Dossier, now: dt.datetime) -> dict:
            for upload in files:
                _attach(
                    actor=actor,
                    dossier=current,
                    upload=upload,
                    kind=AttachmentKind.SUPPLEMENT,
                    accepted=attachments.accepted_types(None),
                    supplement=request,
                )
            request.answered_at = now
            request.save(update_fields=["answered_at"])
            return {"due_at": current.compute_due_at(now=now)}

        return _transition(
            actor=actor,
            dossier=dossier,
            to=request.resume_status,
            expected_version=expected_version,
            note=note,
            before=close_request,
            answering=True,
        )


@transaction.atomic
def propose(*, actor: Any, dossier: Dossier, note: str, expected_version: int) -> Dossier:
    """A specialist proposes a decision to the leader (the status stays "processing");
    the proposal is an event of the history, and moves the version on like any change."""
    current = Dossier.objects.select_related("step").get(pk=dossier.pk)
    if current.version != expected_version:
        raise DossierConflict("stale_dossier", version=current.version)
    if current.status != Status.PROCESSING:
        raise workflow.IllegalTransition("illegal_transition", status_from=current.status)
    if Role.SPECIALIST not in workflow.capacities(actor, current):
        raise DossierConflict("not_allowed", status_from=current.status)
    if not note.strip():
        raise DossierConflict("reason_required", status_from=current.status)
    if not Dossier.objects.filter(pk=current.pk, version=expected_version).update(
        version=F("version") + 1
    ):
        raise DossierConflict("stale_dossier")
    current.refresh_from_db()
    _event(actor=actor, dossier=current, action="proposed", status_from=current.status, note=note)
    audit.record(actor=actor, action="proposed", obj=current, changes={"note": note}, source=SOURCE)
    return current


def catalogue_fee(procedure: Procedure) -> tuple[int | None, str]:
    """The fee the catalogue lists for ``procedure`` (the sum of its fees) and what it
    is for; None when there is nothing to ask (no fee, all free) or when a fee's
    amount is set by each province (the officer then types the amount)."""
    fees = list(procedure.fees.all())
    if not fees or any(fee.amount is None for fee in fees):
        return None, ""
    total = sum(fee.amount for fee in fees)
    if total <= 0:
        return None, ""
    return total, "; ".join(fee.description for fee in fees if fee.amount)


def request_payment(
    *,
    actor: Any,
    dossier: Dossier,
    expected_version: int,
    amount: int | None = None,
    reason: str = "",
) -> Dossier:
    """A specialist asks for a fee to be paid before processing goes on: ``amount``
    (VND) with the ``reason``, or by default the procedure's fee from the catalogue
    (its description is the reason). The applicant is told the amount; the dossier
    goes back to processing once it is paid (``payments.confirm``, ``confirm_payment``).

    Refused (409): ``amount_required`` (no amount and no catalogue fee, or an
    amount that is not positive), and every refusal of ``transition``."""
    if amount is None:
        amount, described = catalogue_fee(dossier.procedure)
        if amount is None:
            raise DossierConflict("amount_required", status_from=dossier.status)
        reason = reason.strip() or described
    elif amount <= 0:
        raise DossierConflict("amount_required", status_from=dossier.status)

    def open_payment(current: Dossier, now: dt.datetime) -> dict:
        Payment.objects.create(
            dossier=current,
            amount=amount,
            reason=reason.strip(),
            requested_at=now,
            requested_by=audit.actor_user(actor),
        )
        return {}

    return _transition(
        actor=actor,
        dossier=dossier,
        to=Status.PAYMENT_REQUESTED,
        reason=reason,
        note=f"{format_vnd(amount)} VND",
        expected_version=expected_version,
        before=open_payment,
    )


def record_payment(
    *,
    actor: Any,
    dossier: Dossier,
    backend: str,
    reference: str,
    amount: int,
    receipt: str = "",
    note: str = "",
    expected_version: int | None = None,
) -> Dossier:
    """Record that the fee asked was paid and let processing go on, in one transaction:
    the payment (amount, backend, reference, receipt, time), the move back to 4
    processing, the event, the audit record. ``actor`` is ``payment:<backend>`` (a
    backend's verified confirmation, ``payments.confirm``) or the one-stop officer
    who took the money at the counter (``confirm_payment``).

    Refused (409): ``payment_not_requested`` (nothing is waiting to be paid, or the
    reference is not the payment under way), ``payment_mismatch`` (another amount),
    and every refusal of ``transition``."""
    with transaction.atomic():
        payment = (
            Payment.objects.select_for_update()
            .filter(dossier=dossier, paid_at__isnull=True)
            .first()
        )
        if payment is None or (backend != COUNTER and payment.reference != reference):
            raise DossierConflict("payment_not_requested", status_from=dossier.status)
        if amount != payment.amount:
            raise DossierConflict("payment_mismatch", status_from=dossier.status)
        if expected_version is None:
            expected_version = Dossier.objects.values_list("version", flat=True).get(pk=dossier.pk)

        def paid(current: Dossier, now: dt.datetime) -> dict:
            payment.backend = backend
            if backend != COUNTER:  # a counter's receipt numbers are the agency's own
                payment.reference = reference
            payment.receipt = receipt
            payment.paid_at = now
            payment.recorded_by = audit.actor_user(actor)
            payment.save(
                update_fields=["backend", "reference", "receipt", "paid_at", "recorded_by"]
            )
            audit.record(
                actor=actor,
                action="payment_received",
                obj=current,
                changes={
                    "payment": payment.pk,
                    "amount": payment.amount,
                    "backend": backend,
                    "reference": reference,
                    "receipt": receipt,
                },
                source=SOURCE,
            )
            return {}

        return _transition(
            actor=actor,
            dossier=dossier,
            to=Status.PROCESSING,
            expected_version=expected_version,
            note=note or f"{format_vnd(amount)} VND",
            before=paid,
            paying=True,
        )


# The backend name of a payment taken at the counter.
COUNTER = "counter"


def confirm_payment(
    *, actor: Any, dossier: Dossier, expected_version: int, receipt: str = "", note: str = ""
) -> Dossier:
    """A one-stop officer records the fee paid at the counter (with the number of the
    receipt they gave); processing goes on."""
    payment = dossier.payment_due
    if payment is None:
        raise DossierConflict("payment_not_requested", status_from=dossier.status)
    return record_payment(
        actor=actor,
        dossier=dossier,
        backend=COUNTER,
        reference="",
        receipt=receipt.strip(),
        amount=payment.amount,
        note=note,
        expected_version=expected_version,
    )


def approve(
    *,
    actor: Any,
    dossier: Dossier,
    expected_version: int,
    result: Any | None = None,
    note: str = "",
    signer: results.ResultSigner | None = None,
) -> Dossier:
    """A leader approves: the dossier is done, with its result signed as PAdES.

    The result is ``result`` (a PDF uploaded at approval) or else the specialist's
    draft; it is signed with the agency's key held by the node (or ``signer``)
    before the transaction, and recorded in it (``results.py``). A dossier with
    neither is approved as a decision without a document. Refused, with nothing
    written: ``not_a_pdf``/``too_large`` (AttachmentRefused), ``no_signing_key``
    or ``signing_failed`` (ResultRefused), and every refusal of ``transition``.
    For a step of an interconnected procedure with a next step, the dossier is
    handed to the next step's agency in the same transaction."""
    current = Dossier.objects.select_related("current_agency", "procedure").get(pk=dossier.pk)
    if current.version != expected_version:
        raise DossierConflict("stale_dossier", version=current.version)
    # The state machine is asked before signing, so that a refused approval
    # never costs a signature (nor a time-stamp); it is asked again below.
    workflow.check(actor=actor, dossier=current, to=Status.DONE)
    pdf, name = None, "ket-qua.pdf"
    if result is not None:
        pdf, name = _read_upload(result), getattr(result, "name", "") or name
    prepared = results.prepare(actor=actor, dossier=current, pdf=pdf, name=name, signer=signer)

    def record_result(current: Dossier, now: dt.datetime) -> dict:
        if prepared is None:
            return {}
        document = results.record(actor=actor, dossier=current, prepared=prepared)
        return {"result": document.signed}

    with transaction.atomic():
        done = _transition(
            actor=actor,
            dossier=dossier,
            to=Status.DONE,
            expected_version=expected_version,
            note=note,
            before=record_result,
        )
        if done.interconnected_id:
            interconnection.hand_off(actor=actor, dossier=done)
        return done


def _read_upload(upload: Any) -> bytes:
    """An uploaded result in memory, refused as soon as it passes the size limit."""
    limit = settings.DOSSIERS_MAX_ATTACHMENT_BYTES
    declared = getattr(upload, "size", None)
    if declared is not None and declared > limit:
        raise AttachmentRefused("too_large", limit=limit)
    if attachments.extension(getattr(upload, "name", "") or "x.pdf") != "pdf":
        raise AttachmentRefused("not_a_pdf")
    content = b"".join(attachments._chunks(upload))
    if len(content) > limit:
        raise AttachmentRefused("too_large", limit=limit)
    return content


def return_result(
    *,
    actor: Any,
    dossier: Dossier,
    expected_version: int,
    note: str = "",
    delivery: int | None = None,
    delivery_address: str = "",
) -> Dossier:
    """The one-stop officer hands the result to the applicant: at the counter, or
    to the public postal service for delivery to ``delivery_address`` (by default
    the address given with the dossier). The signed result stays available to
    the applicant (``results.result_bytes``)."""
    delivery = ResultDelivery(delivery or dossier.result_delivery or ResultDelivery.COUNTER)
    address = ""
    if delivery == ResultDelivery.POST:
        address = delivery_address.strip() or dossier.delivery_address or dossier.applicant_address
        if not address:
            raise DossierConflict("delivery_address_required")

    def record_delivery(current: Dossier, now: dt.datetime) -> dict:
        return {"result_delivery": int(delivery), "delivery_address": address}

    return _transition(
        actor=actor,
        dossier=dossier,
        to=Status.RESULT_RETURNED,
        expected_version=expected_version,
        note=note,
        before=record_delivery,
    )
