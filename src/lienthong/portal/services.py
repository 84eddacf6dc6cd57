"""The citizen's own writes beside the dossier services: submitting (and routing an
interconnected dossier to the first step's node), withdrawing (or asking the node
that holds a routed dossier to withdraw it), rating a dossier, choosing how
the result is delivered, signing one's declaration. Each writes in one
transaction and is audited."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from lienthong.audit import services as audit
from lienthong.catalog.models import InterconnectedProcedure, Procedure
from lienthong.directory.models import Agency
from lienthong.dossiers import attachments, interconnection, workflow
from lienthong.dossiers import services as dossiers
from lienthong.dossiers.errors import DossierConflict, IllegalTransition
from lienthong.dossiers.models import (
    CLOSED,
    Attachment,
    AttachmentKind,
    Dossier,
    ResultDelivery,
    Status,
)
from lienthong.node import this_node
from lienthong.portal import ratings
from lienthong.portal.declarations import declaration_pdf
from lienthong.portal.errors import PortalConflict
from lienthong.portal.models import DeclarationSignature, Rating

SOURCE = "portal"
# The result is out: decided and signed (9), or handed over (10).
RATEABLE = frozenset({Status.DONE, Status.RESULT_RETURNED})


def _own(actor: Any, dossier: Dossier) -> None:
    if actor is None or isinstance(actor, str) or dossier.applicant_id != actor.pk:
        raise DossierConflict("not_allowed")


def _clean_answers(answers: Mapping[str, Any]) -> dict[str, int]:
    levels = {value for value, _label in ratings.SCALE}
    cleaned: dict[str, int] = {}
    for key in ratings.KEYS:
        try:
            value = int(answers[key])
        except (KeyError, TypeError, ValueError):
            raise PortalConflict("rating_incomplete", question=key) from None
        if value not in levels:
            raise PortalConflict("rating_incomplete", question=key)
        cleaned[key] = value
    return cleaned


# --- Submitting --------------------------------------------------------------------------------


def receiving_here(procedure: Procedure, chosen: Agency) -> Agency | None:
    """The agency of this node that receives an interconnected dossier for ``chosen``
    when ``chosen`` is on another node (the directory places it on a node with an
    exchange address); None when ``chosen`` is hosted here or cannot be reached.

    The receiver is the first of this node's agencies (in configured order) that
    handles the procedure: the national portal's agency on the central node.
    Refused (``no_receiving_agency``) when none does."""
    hosted = this_node().hosted_agencies()
    node = chosen.node
    if (
        not hosted
        or chosen.pk in {a.pk for a in hosted}
        or node is None
        or not node.exchange_endpoint
        or node.identifier == this_node().identifier
    ):
        return None
    handling = set(procedure.agencies.filter(is_active=True).values_list("pk", flat=True))
    for agency in hosted:
        if agency.pk in handling:
            return agency
    raise PortalConflict("no_receiving_agency", agency=chosen.identifier)


def submit(
    *,
    actor: Any,
    procedure: Procedure,
    agency: Agency,
    form_data: Mapping[str, Any],
    documents: Mapping[int, Sequence[Any]],
    interconnected: InterconnectedProcedure | None = None,
) -> Dossier:
    """The citizen submits online for ``agency`` (``dossiers.services.submit``).

    An interconnected dossier whose first step's agency is on another node is
    received here by this node's agency (``receiving_here``) and routed there
    (``interconnection.route``: the hand-off envelope, with the citizen's files,
    queued in the exchange outbox) in the same transaction: the dossier is
    submitted and on its way, or nothing is written. It stays here as the
    citizen's dossier; every step's status comes back to it."""
    receiver = receiving_here(procedure, agency) if interconnected is not None else None
    # Routing writes beside the submission, in its transaction; a dossier submitted
    # here needs no outer one (the submission's own is a transaction, not a savepoint).
    with transaction.atomic() if receiver is not None else nullcontext():
        dossier = dossiers.submit(
            actor=actor,
            procedure=procedure,
            agency=receiver or agency,
            form_data=form_data,
            documents=documents,
            interconnected=interconnected,
        )
        if receiver is not None:
            interconnection.route(actor=actor, dossier=dossier, agency=agency)
    return dossier


def was_routed(dossier: Dossier) -> bool:
    """The citizen's dossier was sent on for its first step from here (the portal's
    node): that step's agency, elsewhere, decides it and reports back, so the
    dossier's own status here stays "new"."""
    if not dossier.interconnected_id:
        return False
    first = dossier.interconnected.steps.order_by("position").first()
    return (
        first is not None
        and dossier.events.filter(action="handed_off", step=first.position).exists()
    )


# --- Withdrawing -------------------------------------------------------------------------------


def _withdrawable_from(dossier: Dossier) -> Status:
    """The status the withdrawal is judged from: the dossier's own, or for one held
    elsewhere the status its holder last reported (new until it reports)."""
    if workflow.held_elsewhere(dossier):
        return Status(dossier.remote_status or Status.NEW)
    return Status(dossier.status)


def may_withdraw(dossier: Dossier) -> bool:
    """Whether the page offers withdrawal: the state machine lets the applicant withdraw
    from ``_withdrawable_from``, and no request awaits the holder's answer. The
    service (and, for a dossier held elsewhere, its holder) decides again."""
    allowed = workflow.APPLICANT in workflow.allowed_roles(
        _withdrawable_from(dossier), Status.WITHDRAWN
    )
    if allowed and workflow.held_elsewhere(dossier):
        return not interconnection.withdrawal_pending(dossier)
    return allowed


def withdraw(*, actor: Any, dossier: Dossier, expected_version: int, reason: str = "") -> Dossier:
    """The applicant withdraws their dossier (``dossiers.services.withdraw``).

    A dossier routed to another node's agency (``workflow.held_elsewhere``) is not
    withdrawn here: the request goes to the agency holding it in a ``dossier.withdraw``
    envelope (``interconnection.request_withdrawal``), whose state machine decides;
    the new status, or the refusal with its reason, comes back to the dossier's
    timeline. Refused here with nothing sent when the status the holder last reported
    already rules it out (``illegal_transition``), when a request awaits its answer
    (``withdrawal_pending``), or on a stale version."""
    _own(actor, dossier)
    with transaction.atomic():
        current = (
            Dossier.objects.select_for_update(of=("self",))
            .select_related("current_agency", "receiving_agency", "step")
            .get(pk=dossier.pk)
        )
        if not workflow.held_elsewhere(current):
            return dossiers.withdraw(
                actor=actor, dossier=current, expected_version=expected_version, reason=reason
            )
        if current.version != expected_version:
            raise DossierConflict("stale_dossier", version=current.version)
        status = _withdrawable_from(current)
        if workflow.APPLICANT not in workflow.allowed_roles(status, Status.WITHDRAWN):
            raise IllegalTransition(
                "illegal_transition", status_from=status, status_to=Status.WITHDRAWN
            )
        if interconnection.withdrawal_pending(current):
            raise PortalConflict("withdrawal_pending")
        interconnection.request_withdrawal(actor=actor, dossier=current, reason=reason)
        # The page's forms were read before the request: they are stale now.
        Dossier.objects.filter(pk=current.pk).update(version=F("version") + 1)
        current.refresh_from_db()
        return current


# --- Rating ----------------------------------------------------------------------------------


def result_is_out(dossier: Dossier) -> bool:
    """Decided (9) or handed over (10); for an interconnected dossier, at its last
    step too: the citizen rates the whole procedure, not its first step only. The
    later steps' agencies report their statuses (``remote_status``) to this one; a
    dossier routed from here for its first step has only what they report."""
    if dossier.status not in RATEABLE and not was_routed(dossier):
        return False
    if not dossier.interconnected_id:
        return True
    last = dossier.interconnected.steps.order_by("-position").first()
    first = dossier.interconnected.steps.order_by("position").first()
    if last is None or (last.pk == first.pk and not was_routed(dossier)):
        return True
    return dossier.step_id == last.pk and dossier.remote_status in RATEABLE


def may_rate(user: Any, dossier: Dossier) -> bool:
    """The applicant may rate their dossier once its result is out."""
    return (
        user is not None
        and getattr(user, "pk", None) is not None
        and dossier.applicant_id == user.pk
        and result_is_out(dossier)
    )


@transaction.atomic
def rate(*, actor: Any, dossier: Dossier, answers: Mapping[str, Any], comment: str = "") -> Rating:
    """The applicant rates the handling of their dossier once its result is out
    (``result_is_out``): every question answered.

    One rating per dossier and citizen; a second call within ``EDITABLE_FOR``
    changes it (audited with what changed), later it is refused (``rating_final``).
    """
    _own(actor, dossier)
    current = Dossier.objects.select_for_update().get(pk=dossier.pk)
    if not result_is_out(current):
        raise PortalConflict("rating_not_open", status=current.status)
    cleaned = _clean_answers(answers)
    comment = comment.strip()[:2000]
    now = timezone.now()
    rating = Rating.objects.select_for_update().filter(dossier=current, citizen=actor).first()
    if rating is None:
        rating = Rating.objects.create(
            dossier=current,
            citizen=actor,
            agency=current.current_agency,
            answers=cleaned,
            score=ratings.score(cleaned),
            comment=comment,
            created_at=now,
            updated_at=now,
        )
        audit.record(
            actor=actor,
            action="rate",
            obj=rating,
            changes={"dossier": current.code, "score": rating.score, "answers": cleaned},
            source=SOURCE,
        )
        return rating
    if not rating.is_editable(now):
        raise PortalConflict("rating_final")
    before = audit.snapshot(rating)
    rating.answers, rating.score = cleaned, ratings.score(cleaned)
    rating.comment, rating.updated_at = comment, now
    rating.save(update_fields=["answers", "score", "comment", "updated_at"])
    audit.record(
        actor=actor,
        action="rate_again",
        obj=rating,
        changes=audit.diff(before, audit.snapshot(rating)),
        source=SOURCE,
    )
    return rating


def may_choose_delivery(dossier: Dossier) -> bool:
    """How the result is delivered may change until it is handed over (or the dossier closes)."""
    return dossier.status not in CLOSED


@transaction.atomic
def choose_result_delivery(
    *,
    actor: Any,
    dossier: Dossier,
    delivery: int,
    address: str = "",
    expected_version: int,
) -> Dossier:
    """The applicant asks for the result at the counter, or by public post
    (Decision 45/2016/QĐ-TTg) to ``address`` (by default the one declared with
    the dossier). Refused once the result is handed over; compare-and-set on
    the version, like every change of a dossier."""
    _own(actor, dossier)
    delivery = ResultDelivery(delivery)
    current = Dossier.objects.get(pk=dossier.pk)
    if current.version != expected_version:
        raise DossierConflict("stale_dossier", version=current.version)
    if not may_choose_delivery(current):
        raise PortalConflict("delivery_closed", status=current.status)
    address = address.strip()
    if delivery == ResultDelivery.POST:
        address = address or current.applicant_address
        if not address:
            raise DossierConflict("delivery_address_required")
    else:
        address = ""
    updated = Dossier.objects.filter(pk=current.pk, version=expected_version).update(
        result_delivery=int(delivery), delivery_address=address, version=F("version") + 1
    )
    if updated != 1:
        raise DossierConflict("stale_dossier")
    audit.record(
        actor=actor,
        action="choose_delivery",
        obj=current,
        changes={
            "result_delivery": [current.result_delivery, int(delivery)],
            "delivery_address": [current.delivery_address, address],
        },
        source=SOURCE,
    )
    current.refresh_from_db()
    return current


# --- Signing one's declaration ---------------------------------------------------------------


def may_sign_declaration(user: Any, dossier: Dossier) -> bool:
    """The applicant may sign their declaration once, while the dossier is open."""
    return (
        getattr(user, "pk", None) is not None
        and dossier.applicant_id == user.pk
        and dossier.status not in CLOSED
        and not DeclarationSignature.objects.filter(dossier=dossier).exists()
    )


def sign_declaration(
    *,
    actor: Any,
    dossier: Dossier,
    credential_id: str,
    otp: str,
    otp_method: str | None = None,
    address: str | None = None,
) -> DeclarationSignature:
    """The applicant signs their declaration (``declarations.declaration_pdf``) with
    their own remote signing key, authorised by their one-time code (PAdES B-T
    with the configured time-stamping authority, else B-B). The signed PDF
    becomes an attachment of the dossier.

    The signature is made before the transaction (a time-stamp request must not
    hold the database's write lock, as for results); a refusal there writes
    nothing (``lienthong.signing.errors.SigningRefused``). Refused as well:
    ``not_allowed`` (not the applicant), ``declaration_closed`` (the dossier is
    closed, or already carries a signed declaration), ``no_signing_credential``.
    """
    from lienthong.signing import pdf as signing_pdf
    from lienthong.signing import providers

    _own(actor, dossier)
    if not may_sign_declaration(actor, dossier):
        raise PortalConflict("declaration_closed", status=dossier.status)
    credential = providers.credential_for(actor, credential_id)
    if credential is None or not credential.is_usable():
        raise PortalConflict("no_signing_credential")
    timestamp_url = getattr(settings, "TSA_URL", "") or None
    signed = signing_pdf.sign_pdf(
        user=actor,
        credential=credential,
        pdf=declaration_pdf(dossier),
        otp=otp,
        otp_method=otp_method or None,
        reason=f"Ký tờ khai hồ sơ {dossier.code}",
        timestamp_url=timestamp_url,
        address=address,
    )
    return keep_signed_declaration(
        actor=actor,
        dossier=dossier,
        signed=signed,
        credential=credential,
        level="B-T" if timestamp_url else "B-B",
    )


def keep_signed_declaration(
    *, actor: Any, dossier: Dossier, signed: bytes, credential, level: str, method: str = "otp"
) -> DeclarationSignature:
    """Add the signed declaration to the dossier (an attachment and its
    ``DeclarationSignature``), audited, in one transaction; ``declaration_closed``
    when the dossier closed or was signed meanwhile."""
    # Content-addressed: a blob left by a refusal below is swept (attachments.sweep).
    blob = attachments.store_bytes(signed, name=f"to-khai-{dossier.code}-da-ky.pdf")
    with transaction.atomic():
        current = Dossier.objects.select_for_update().get(pk=dossier.pk)
        if not may_sign_declaration(actor, current):
            raise PortalConflict("declaration_closed", status=current.status)
        attachment = Attachment.objects.create(
            dossier=current,
            kind=AttachmentKind.DOCUMENT,
            sha256=blob.sha256,
            size=blob.size,
            media_type=blob.media_type,
            original_name=blob.original_name,
            path=blob.path,
            uploaded_by=actor,
        )
        signature = DeclarationSignature.objects.create(
            dossier=current,
            attachment=attachment,
            signer=credential.subject,
            certificate_sha256=credential.fingerprint_sha256,
            level=level,
        )
        audit.record(
            actor=actor,
            action="sign_declaration",
            obj=current,
            changes={
                "sha256": blob.sha256,
                "credential_id": credential.credential_id,
                "certificate_sha256": credential.fingerprint_sha256,
                "level": signature.level,
                "method": method,
            },
            source=SOURCE,
        )
    return signature
