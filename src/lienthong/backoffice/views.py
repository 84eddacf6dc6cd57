"""The officers' pages: their agencies, an agency's queues, one dossier and the
moves the officer's roles allow on it.

Each view parses input, calls one dossiers service or selector, and renders.
An agency where the signed-in user holds no officer role, and a dossier that
agency neither received nor holds, are answered with 404, as absent ones.

The agency's payments to refund (money taken twice for one fee) are the one-stop
officers', who record the fees paid at the counter: refunded through the gateway,
or recorded as refunded otherwise with the refund's reference.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms as django_forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from lienthong.approvals import selectors as approvals
from lienthong.audit import services as audit
from lienthong.audit.middleware import client_address
from lienthong.backoffice import selectors
from lienthong.backoffice.forms import (
    ActionForm,
    ApproveForm,
    CounterForm,
    DraftForm,
    PaidForm,
    PaymentForm,
    ProcessForm,
    ReasonForm,
    RefundedOtherwiseForm,
    ReturnForm,
)
from lienthong.catalog import selectors as catalog
from lienthong.directory.models import Agency
from lienthong.dossiers import attachments as dossier_files
from lienthong.dossiers import payments, results, services, workflow
from lienthong.dossiers import selectors as dossiers
from lienthong.dossiers.errors import MESSAGES as DOSSIER_MESSAGES
from lienthong.dossiers.errors import AttachmentRefused, DossierConflict, ResultRefused
from lienthong.dossiers.forms import DossierForm
from lienthong.dossiers.models import Dossier, PaymentAttempt, Status
from lienthong.identity.models import Role
from lienthong.identity.permissions import has_role, require_role
from lienthong.signing import links as signing_links
from lienthong.signing import oauth2code, providers
from lienthong.signing import pdf as signing_pdf
from lienthong.signing import selectors as signing
from lienthong.signing import services as signing_services
from lienthong.signing.errors import SigningRefused
from lienthong.signing.selectors import not_answered_yet

PAGE_SIZE = 20
OFFICER_ROLES = selectors.OFFICER_ROLES

# The queue tabs, in the order an officer works through them.
QUEUES = (
    ("open", _("All open")),
    ("new", _("New")),
    ("due_soon", _("Due soon")),
    ("overdue", _("Overdue")),
    ("supplement", _("Waiting for supplement")),
)


@dataclass(frozen=True)
class Action:
    """One move an officer makes from the dossier page: its form and its service."""

    slug: str
    to: Status
    form: type[django_forms.Form]
    title: Promise
    button: Promise
    done: Promise
    perform: Callable[[Any, Dossier, dict], Dossier]
    # The form's file input, where a refused file is reported.
    file_field: str = "result"
    # For a move that keeps the status (``to`` is then the status it acts in):
    # whether ``user`` may make it on ``dossier`` now.
    available: Callable[[Any, Dossier], bool] | None = None


ACTIONS = {
    action.slug: action
    for action in (
        Action(
            "accept",
            Status.ACCEPTED,
            ActionForm,
            _("Accept the dossier"),
            _("Accept"),
            _("The dossier was accepted; its deadline runs from now."),
            lambda actor, dossier, data: services.accept(
                actor=actor, dossier=dossier, expected_version=data["version"], note=data["note"]
            ),
        ),
        Action(
            "reject",
            Status.REJECTED,
            ReasonForm,
            _("Reject the dossier"),
            _("Reject"),
            _("The dossier was rejected."),
            lambda actor, dossier, data: services.reject(
                actor=actor,
                dossier=dossier,
                expected_version=data["version"],
                reason=data["reason"],
            ),
        ),
        Action(
            "supplement",
            Status.SUPPLEMENT_REQUESTED,
            ReasonForm,
            _("Ask the applicant for more documents"),
            _("Request a supplement"),
            _("The applicant was asked for more documents; the deadline's clock stops."),
            lambda actor, dossier, data: services.request_supplement(
                actor=actor,
                dossier=dossier,
                expected_version=data["version"],
                reason=data["reason"],
            ),
        ),
        Action(
            "process",
            Status.PROCESSING,
            ProcessForm,
            _("Start processing"),
            _("Process"),
            _("Processing started."),
            lambda actor, dossier, data: services.process(
                actor=actor,
                dossier=dossier,
                expected_version=data["version"],
                note=data["note"],
                draft_result=data["draft_result"],
            ),
            file_field="draft_result",
            # Not from "payment requested" (also a move to processing): "paid" is.
            available=lambda user, dossier: (
                dossier.status == Status.ACCEPTED
                and Role.SPECIALIST in workflow.capacities(user, dossier)
            ),
        ),
        Action(
            "payment",
            Status.PAYMENT_REQUESTED,
            PaymentForm,
            _("Ask the applicant to pay a fee"),
            _("Request payment"),
            _("The applicant was asked to pay; processing goes on once it is paid."),
            lambda actor, dossier, data: services.request_payment(
                actor=actor,
                dossier=dossier,
                expected_version=data["version"],
                amount=data["amount"],
                reason=data["reason"],
            ),
        ),
        Action(
            "paid",
            Status.PROCESSING,
            PaidForm,
            _("Record the payment made at the counter"),
            _("Record the payment"),
            _("The payment was recorded; processing goes on."),
            lambda actor, dossier, data: services.confirm_payment(
                actor=actor,
                dossier=dossier,
                expected_version=data["version"],
                receipt=data["receipt"],
                note=data["note"],
            ),
            available=lambda user, dossier: (
                dossier.status == Status.PAYMENT_REQUESTED
                and Role.ONE_STOP_OFFICER in workflow.capacities(user, dossier)
            ),
        ),
        Action(
            "draft",
            Status.PROCESSING,
            DraftForm,
            _("Attach the draft result"),
            _("Attach the draft"),
            _("The draft result was attached; the leader signs it on approval."),
            lambda actor, dossier, data: services.attach_draft_result(
                actor=actor,
                dossier=dossier,
                expected_version=data["version"],
                upload=data["draft_result"],
                note=data["note"],
            ),
            file_field="draft_result",
            available=lambda user, dossier: (
                dossier.status == Status.PROCESSING
                and Role.SPECIALIST in workflow.capacities(user, dossier)
            ),
        ),
        Action(
            "approve",
            Status.DONE,
            ApproveForm,
            _("Approve and sign the result"),
            _("Approve and sign"),
            _("The dossier was approved and its result signed."),
            lambda actor, dossier, data: services.approve(
                actor=actor,
                dossier=dossier,
                expected_version=data["version"],
                result=data["result"],
                note=data["note"],
                signer=_signer(data),
            ),
        ),
        Action(
            "stop",
            Status.STOPPED,
            ReasonForm,
            _("Stop processing"),
            _("Stop"),
            _("Processing was stopped."),
            lambda actor, dossier, data: services.stop(
                actor=actor,
                dossier=dossier,
                expected_version=data["version"],
                reason=data["reason"],
            ),
        ),
        Action(
            "return",
            Status.RESULT_RETURNED,
            ReturnForm,
            _("Return the result to the applicant"),
            _("Return the result"),
            _("The result was returned to the applicant."),
            lambda actor, dossier, data: services.return_result(
                actor=actor,
                dossier=dossier,
                expected_version=data["version"],
                note=data["note"],
                delivery=data["delivery"],
                delivery_address=data["delivery_address"],
            ),
        ),
    )
}


# --- The officer's agencies and queues -----------------------------------------------------


@login_required
@require_GET
def agencies(request: HttpRequest) -> HttpResponse:
    found = list(selectors.officer_agencies(request.user))
    if not found:
        raise Http404
    return render(request, "backoffice/agencies.html", {"agencies": found})


@require_role(OFFICER_ROLES)
@require_GET
def queue(request: HttpRequest, agency: Agency) -> HttpResponse:
    chosen = request.GET.get("queue", "open")
    if chosen not in dict(QUEUES):
        chosen = "open"
    listed = dossiers.officer_queue(request.user, agency, chosen)
    page = Paginator(listed, PAGE_SIZE).get_page(request.GET.get("page"))
    # The page's rows read as values and printed ready (the count above stays
    # without their joins), each dossier's address made from one reverse().
    rows = dossiers.list_rows(
        dossiers.row_values(page.object_list),
        dossiers.url_of_code("backoffice:detail", agency.identifier),
    )
    return render(
        request,
        "backoffice/queue.html",
        {
            "agency": agency,
            "queues": QUEUES,
            "queue": chosen,
            "page": page,
            "rows": rows,
            "can_intake": has_role(request.user, agency, Role.ONE_STOP_OFFICER),
        },
    )


# --- One dossier ---------------------------------------------------------------------------


def _dossier(request: HttpRequest, agency: Agency, code: str) -> Dossier:
    dossier = selectors.agency_dossier(request.user, agency, code)
    if dossier is None:
        raise Http404
    return dossier


def _detail(
    request: HttpRequest,
    agency: Agency,
    dossier: Dossier,
    *,
    status: int = 200,
    bound: tuple[str, django_forms.Form] | None = None,
    error: str = "",
) -> HttpResponse:
    moves = selectors.next_moves(request.user, dossier)
    actions = []
    for action in ACTIONS.values():
        if not _offered(action, request.user, dossier, moves):
            continue
        if bound and bound[0] == action.slug:
            form = bound[1]
        else:
            initial = {"version": dossier.version, "delivery": dossier.result_delivery}
            form = action.form(initial=initial, prefix=action.slug)
        actions.append({"action": action, "form": form})
    # The leader's own signature: offered on the approve form, or told why not.
    personal = (
        _personal(request.user) if any(a["action"].slug == "approve" for a in actions) else None
    )
    for item in actions:
        if item["action"].slug == "approve" and personal:
            item["form"].offer(personal["choices"], external=personal["external"])
    context = {
        "agency": agency,
        "dossier": dossier,
        "personal": personal,
        "declaration": selectors.declaration(dossier),
        "attachments": selectors.attachments(dossier),
        "supplement": selectors.open_supplement_request(dossier),
        "events": dossiers.timeline(dossier),
        "actions": actions,
        "error": error,
        "result": results.current(dossier),
        "receipt": receipt_available(),
        # Routed to another node's agency: shown here read-only (nobody here may act).
        "held_elsewhere": workflow.held_elsewhere(dossier),
        "taken_twice": selectors.taken_twice(dossier),
        "can_refund": has_role(request.user, agency, Role.ONE_STOP_OFFICER),
    }
    return render(request, "backoffice/detail.html", context, status=status)


def _offered(action: Action, user: Any, dossier: Dossier, moves: set[int]) -> bool:
    if action.available is not None:
        return action.available(user, dossier)
    return action.to in moves


@require_role(OFFICER_ROLES)
@require_GET
def dossier_detail(request: HttpRequest, agency: Agency, code: str) -> HttpResponse:
    return _detail(request, agency, _dossier(request, agency, code))


@require_role(OFFICER_ROLES)
@require_GET
def attachment(request: HttpRequest, agency: Agency, code: str, attachment_id: int) -> HttpResponse:
    """One file of the dossier, for the officers who may open the dossier (as its page):
    a file of another dossier, or one whose stored copy is gone or of another size,
    is 404. Streamed as stored, never shown inline; each opening is audited."""
    dossier = _dossier(request, agency, code)
    found = selectors.attachments(dossier).filter(pk=attachment_id).first()
    if found is None:
        raise Http404
    try:
        handle = dossier_files.open_blob(found.path)
    except OSError as exc:
        raise Http404 from exc
    try:
        if os.fstat(handle.fileno()).st_size != found.size:
            raise Http404
        # Reading changes nothing, but who opened a citizen's papers is on record.
        with transaction.atomic():
            audit.record(
                actor=request.user,
                action="attachment_opened",
                obj=dossier,
                changes={
                    "attachment": found.pk,
                    "sha256": found.sha256,
                    "name": found.original_name,
                    "agency": agency.identifier,
                },
                source="backoffice",
            )
    except BaseException:
        handle.close()
        raise
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=found.original_name,  # quoted and encoded by Django, never raw
        content_type=found.media_type or "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_role(OFFICER_ROLES)
@require_POST
def act(request: HttpRequest, agency: Agency, code: str, action: str) -> HttpResponse:
    dossier = _dossier(request, agency, code)
    chosen = ACTIONS.get(action)
    if chosen is None:
        raise Http404
    form = chosen.form(request.POST, request.FILES, prefix=chosen.slug)
    if not form.is_valid():
        return _detail(request, agency, dossier, status=400, bound=(chosen.slug, form))
    if chosen.slug == "approve":
        why_not = _why_not_personal(request.user, form.cleaned_data["signature"])
        if why_not:
            form.add_error("signature", why_not)
            return _detail(request, agency, dossier, status=400, bound=(chosen.slug, form))
        if form.cleaned_data["signature"] == ApproveForm.PHONE:
            return _ask_phone(request, agency, dossier, form)
        if form.cleaned_data["signature"] == ApproveForm.SERVICE:
            return _ask_phone(request, agency, dossier, form, at_service=True)
        form.cleaned_data["address"] = client_address(request)
    try:
        chosen.perform(request.user, dossier, form.cleaned_data)
    except DossierConflict as exc:
        # Stale version, a move the state machine refuses, or one the officer's
        # roles do not allow: nothing was written; show the dossier as it is now.
        dossier.refresh_from_db()
        return _detail(request, agency, dossier, status=409, error=exc.message)
    except AttachmentRefused as exc:
        form.add_error(chosen.file_field if chosen.file_field in form.fields else None, exc.message)
        return _detail(request, agency, dossier, status=400, bound=(chosen.slug, form))
    except ResultRefused as exc:
        # The node cannot sign (no agency key, the time-stamping authority
        # unreachable), or the leader's own signature was refused (a wrong
        # code): nothing was written; the leader is told why.
        dossier.refresh_from_db()
        return _detail(request, agency, dossier, status=_status(exc), error=_refusal(exc))
    messages.success(request, chosen.done)
    return redirect("backoffice:detail", agency=agency.identifier, code=dossier.code)


def _english() -> bool:
    return (translation.get_language() or "vi").startswith("en")


# --- Approving with the leader's own signature ------------------------------------------


def _signer(data: dict) -> results.ResultSigner | None:
    """The signer the approve form chose: None (the agency's seal) or the leader's own
    signature with the one-time code typed (the phone path goes through ``_ask_phone``)."""
    if data.get("signature") != ApproveForm.CODE:
        return None
    return results.PersonalSignature(
        otp=data["otp"].strip(),
        otp_method=data.get("otp_method") or None,
        address=data.get("address"),
    )


def _personal(user: Any) -> dict:
    """What the approve form tells the leader about their own signature: their key,
    their paired phone, and — with an external signing service — whether their
    account there is linked, how the service authorises the key (at the service
    by OAuth, or with a code) and whether it sends the code itself."""
    external = providers.is_external()
    credential = results.personal_credential(user)
    at_service = external and oauth2code.uses_oauth2code(credential)
    if not external:
        choices = [ApproveForm.SEAL, ApproveForm.PHONE, ApproveForm.CODE]
    elif credential is None:
        choices = [ApproveForm.SEAL]
    else:
        choices = [ApproveForm.SEAL, ApproveForm.SERVICE if at_service else ApproveForm.CODE]
    return {
        "credential": credential,
        "paired": not external and approvals.devices_of(user).exists(),
        "external": external,
        "service": signing_links.service_url() if external else "",
        "linked": not external or signing_links.live_link(user) is not None,
        "at_service": at_service,
        # The SMS button: this node's own (local), or the service's credentials/sendOTP.
        "sms": credential is not None
        and not at_service
        and (not external or getattr(credential, "otp_sent_by_service", False)),
        "choices": choices,
    }


def _why_not_personal(user: Any, choice: str) -> str:
    if choice == ApproveForm.SEAL:
        return ""
    personal = _personal(user)
    if not personal["linked"]:
        return gettext(
            "Link your account at the signing service %(service)s first: see Account → "
            "Digital signature."
        ) % {"service": personal["service"]}
    if personal["credential"] is None:
        return gettext(
            "You have no personal signing key with a valid certificate: see Account → Signing keys."
        )
    if choice not in personal["choices"]:
        if personal["at_service"]:
            return gettext(
                "Your key at the signing service is authorised there: choose “My signature, "
                "approved at the signing service”."
            )
        if personal["external"]:
            return gettext(
                "Your key at the signing service is authorised with a one-time code: choose "
                "“My signature, with a one-time code”."
            )
        return gettext("This way of signing is not available.")
    if choice == ApproveForm.PHONE and not personal["paired"]:
        return gettext(
            "No phone is paired with your account: pair one, or sign with a one-time code."
        )
    return ""


def _status(exc: ResultRefused) -> int:
    """400 when the leader's own signature was refused for what they did, else 503."""
    return 400 if exc.details.get("reason") in results.LEADER_REFUSALS else 503


def _refusal(exc: ResultRefused) -> str:
    detail = exc.details.get("detail_en" if _english() else "detail_vi", "")
    return f"{exc.message} {detail}".strip()


def _ask_phone(
    request: HttpRequest,
    agency: Agency,
    dossier: Dossier,
    form: ApproveForm,
    *,
    at_service: bool = False,
) -> HttpResponse:
    """First half of the phone path: the signature is prepared and the phone asked;
    the leader waits on the signature page. ``at_service``: the leader's key is at
    the external service, which authorises it by OAuth (CSC ``oauth2code``): the
    leader is sent there with the pending signature's hashes, and comes back to
    the signature page (lienthong.signing.oauth2code)."""
    data = form.cleaned_data
    upload = data["result"]
    try:
        pdf = None
        if upload is not None:
            if upload.size > settings.DOSSIERS_MAX_ATTACHMENT_BYTES:
                raise AttachmentRefused("too_large", limit=settings.DOSSIERS_MAX_ATTACHMENT_BYTES)
            pdf = b"".join(upload.chunks())
        pending = results.request_personal_signature(
            actor=request.user,
            dossier=dossier,
            expected_version=data["version"],
            pdf=pdf,
            name=getattr(upload, "name", "") or "ket-qua.pdf",
            note=data["note"],
            request_meta=request,
            at_service=at_service,
        )
    except DossierConflict as exc:
        dossier.refresh_from_db()
        return _detail(request, agency, dossier, status=409, error=exc.message)
    except AttachmentRefused as exc:
        form.add_error("result", exc.message)
        return _detail(request, agency, dossier, status=400, bound=("approve", form))
    except ResultRefused as exc:
        dossier.refresh_from_db()
        return _detail(request, agency, dossier, status=_status(exc), error=_refusal(exc))
    wait = reverse(
        "backoffice:signature", kwargs={"agency": agency.identifier, "code": dossier.code,
                                        "reference": pending.reference}
    )  # fmt: skip
    if not at_service:
        return redirect(wait)
    try:
        url, kept = oauth2code.start(
            user=request.user,
            pending=pending,
            redirect_uri=request.build_absolute_uri(reverse("signing:authorize-callback")),
            wait_url=wait,
            back_url=reverse(
                "backoffice:detail", kwargs={"agency": agency.identifier, "code": dossier.code}
            ),
            description=f"Kết quả hồ sơ {dossier.code} · sha256:{pending.document_sha256}",
            source="backoffice",
        )
    except SigningRefused as exc:
        pending.delete()
        return _detail(request, agency, dossier, status=exc.status, error=_message(exc))
    oauth2code.remember(request.session, kept)
    return redirect(url)


def _message(exc: SigningRefused) -> str:
    return exc.message_en if _english() else exc.message_vi


def _pending(request: HttpRequest, dossier: Dossier, reference: str):
    """The signed-in leader's pending signature of this dossier's result, else 404."""
    pending = signing.pending_for(request.user, reference, results.personal_purpose(dossier))
    if pending is None:
        raise Http404
    return pending


def _phone_answer(request: HttpRequest, pending):
    """The phone's request and whether it answered; for a signature authorised at the
    external service (CSC oauth2code), no request, answered once authorised."""
    if pending.context.get("approval_id") is None:
        return None, signing_pdf.authorized_at_service(pending)
    return approvals.signature_answer(request.user, pending.context.get("approval_id"))


@require_role(Role.LEADER)
@require_GET
def signature_wait(request: HttpRequest, agency: Agency, code: str, reference: str) -> HttpResponse:
    """The leader waits here while the phone answers: htmx asks again every few
    seconds and, once it answered, finishes by itself; without JavaScript the
    leader presses "I have approved: continue"."""
    dossier = _dossier(request, agency, code)
    pending = _pending(request, dossier, reference)
    if pending.consumed_at is not None:
        # Finished already (in this tab or another): the dossier says how it went.
        target = reverse("backoffice:detail", kwargs={"agency": agency.identifier, "code": code})
        return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
    approval, answered = _phone_answer(request, pending)
    return render(
        request,
        "backoffice/signature_wait.html",
        {
            "agency": agency,
            "dossier": dossier,
            "pending": pending,
            "approval": approval,
            "answered": answered,
            "at_service": pending.context.get("approval_id") is None,
            "poll": settings.APPROVALS_POLL_SECONDS,
        },
    )


@require_role(Role.LEADER)
@require_POST
def signature_finish(
    request: HttpRequest, agency: Agency, code: str, reference: str
) -> HttpResponse:
    """Second half: once the phone approved, the signature is finished and the dossier
    approved as with the seal; a denial, an expiry or a conflict leaves it unchanged."""
    dossier = _dossier(request, agency, code)
    pending = _pending(request, dossier, reference)
    wait = reverse(
        "backoffice:signature", kwargs={"agency": agency.identifier, "code": code,
                                        "reference": reference}
    )  # fmt: skip
    if pending.consumed_at is None and not _phone_answer(request, pending)[1]:
        messages.info(request, not_answered_yet(pending))
        return HttpResponseClientRedirect(wait) if request.htmx else redirect(wait)
    status, error = 200, ""
    try:
        results.finish_personal_signature(actor=request.user, dossier=dossier, pending=pending)
    except DossierConflict as exc:
        status, error = 409, exc.message
    except AttachmentRefused as exc:
        status, error = 400, exc.message
    except ResultRefused as exc:
        status, error = _status(exc), _refusal(exc)
    target = reverse("backoffice:detail", kwargs={"agency": agency.identifier, "code": code})
    if error:
        if request.htmx:
            messages.error(request, error)
            return HttpResponseClientRedirect(target)
        dossier.refresh_from_db()
        return _detail(request, agency, dossier, status=status, error=error)
    messages.success(request, ACTIONS["approve"].done)
    return HttpResponseClientRedirect(target) if request.htmx else redirect(target)


# --- Counter intake (channel 1) ------------------------------------------------------------


@require_role(Role.ONE_STOP_OFFICER)
@require_GET
def intake(request: HttpRequest, agency: Agency) -> HttpResponse:
    """The procedures the agency handles, to choose the one the applicant came for."""
    query = request.GET.get("q", "").strip()[:100]
    found = catalog.procedures(query=query, agency=agency)
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request, "backoffice/intake.html", {"agency": agency, "page": page, "query": query}
    )


@require_role(Role.ONE_STOP_OFFICER)
@require_http_methods(["GET", "POST"])
def intake_form(request: HttpRequest, agency: Agency, procedure_code: str) -> HttpResponse:
    """The paper dossier typed in at the counter: the applicant, the procedure's
    declaration (the same form as online), the scanned documents."""
    procedure = catalog.procedures(agency=agency).filter(code=procedure_code).first()
    if procedure is None:
        raise Http404
    posted = request.method == "POST"
    counter = CounterForm(request.POST if posted else None, prefix="counter")
    data = None
    if posted:
        data = request.POST.copy()
        if counter.is_valid():
            # The applicant block of the declaration, when left empty, is what
            # the officer recorded above: the same details are not typed twice.
            for key, value in counter.declaration_defaults().items():
                if not data.get(key):
                    data[key] = value
    form = DossierForm(data, request.FILES if posted else None, procedure=procedure)
    if posted and counter.is_valid() and form.is_valid():
        options = counter.cleaned_data
        try:
            dossier = services.counter_intake(
                actor=request.user,
                procedure=procedure,
                agency=agency,
                form_data=form.cleaned_data["declaration"],
                documents=form.documents_by_id(),
                applicant=counter.applicant(),
                create_account=options["create_account"],
                accept_now=options["accept_now"],
                result_delivery=options["delivery"],
                delivery_address=counter.address(),
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict") and "id_number" in exc.error_dict:
                counter.add_error("id_number", exc.error_dict.pop("id_number"))
            if not hasattr(exc, "error_dict") or exc.error_dict:
                form.add_declaration_errors(exc)
        except (DossierConflict, AttachmentRefused) as exc:
            form.add_service_error(exc)
        else:
            messages.success(
                request,
                gettext("The dossier was received. Its code is %(code)s.") % {"code": dossier.code},
            )
            return redirect("backoffice:detail", agency=agency.identifier, code=dossier.code)
    return render(
        request,
        "backoffice/intake_form.html",
        {"agency": agency, "procedure": procedure, "counter": counter, "form": form},
        status=400 if posted else 200,
    )


# --- Payments to refund ---------------------------------------------------------------------


@require_role(Role.ONE_STOP_OFFICER)
@require_GET
def refunds(request: HttpRequest, agency: Agency) -> HttpResponse:
    """The agency's payments taken twice, to refund (with the gateway's last error),
    and its refunds of the last months."""
    return _refunds(request, agency)


def _refunds(
    request: HttpRequest,
    agency: Agency,
    *,
    status: int = 200,
    error: str = "",
    bound: tuple[int, RefundedOtherwiseForm] | None = None,
) -> HttpResponse:
    gateway = payments.backend().name
    rows = []
    for attempt in selectors.payments_to_refund(agency):
        if bound and bound[0] == attempt.pk:
            form = bound[1]
        else:
            form = RefundedOtherwiseForm(prefix=f"otherwise-{attempt.pk}")
        last_error = DOSSIER_MESSAGES.get(attempt.refund_error, "") if attempt.refund_error else ""
        rows.append(
            {
                "attempt": attempt,
                "dossier": attempt.payment.dossier,
                "through_gateway": attempt.backend == gateway,
                "last_error": last_error or attempt.refund_error,
                "form": form,
            }
        )
    context = {
        "agency": agency,
        "rows": rows,
        "refunded": selectors.payments_refunded(agency)[: PAGE_SIZE * 5],
        "refunded_days": selectors.REFUNDED_SINCE.days,
        "refunded_otherwise": payments.REFUNDED_OTHERWISE,
        "error": error,
    }
    # htmx swaps what it is answered only on success: refusals are shown in the page.
    return render(
        request, "backoffice/refunds.html", context, status=200 if request.htmx else status
    )


def _refund_attempt(agency: Agency, attempt_id: int) -> PaymentAttempt:
    attempt = selectors.payment_to_refund(agency, attempt_id)
    if attempt is None:
        raise Http404
    return attempt


@require_role(Role.ONE_STOP_OFFICER)
@require_POST
def refund(request: HttpRequest, agency: Agency, attempt_id: int) -> HttpResponse:
    """Refund a payment taken twice through the gateway it was paid at."""
    attempt = _refund_attempt(agency, attempt_id)
    try:
        refunded = payments.refund_surplus(attempt, actor=request.user)
    except payments.PaymentRefused as exc:
        # The gateway failed or refused: recorded as the last error, to try again.
        status = 503 if exc.code == "payment_unavailable" else 502
        return _refunds(request, agency, status=status, error=exc.message)
    except DossierConflict as exc:
        return _refunds(request, agency, status=409, error=exc.message)
    messages.success(
        request,
        gettext("The payment was refunded through the gateway, reference %(reference)s.")
        % {"reference": refunded.refund_reference},
    )
    return redirect("backoffice:refunds", agency=agency.identifier)


@require_role(Role.ONE_STOP_OFFICER)
@require_POST
def refund_otherwise(request: HttpRequest, agency: Agency, attempt_id: int) -> HttpResponse:
    """Record a payment taken twice as refunded otherwise (transfer, cash), with the
    refund's reference."""
    attempt = _refund_attempt(agency, attempt_id)
    form = RefundedOtherwiseForm(request.POST, prefix=f"otherwise-{attempt.pk}")
    if not form.is_valid():
        return _refunds(request, agency, status=400, bound=(attempt.pk, form))
    try:
        payments.mark_refunded(
            attempt,
            actor=request.user,
            reference=form.cleaned_data["reference"],
            note=form.cleaned_data["note"],
        )
    except DossierConflict as exc:
        if exc.code == "refund_reference_required":
            form.add_error("reference", exc.message)
            return _refunds(request, agency, status=400, bound=(attempt.pk, form))
        return _refunds(request, agency, status=409, error=exc.message)
    messages.success(request, gettext("The refund was recorded."))
    return redirect("backoffice:refunds", agency=agency.identifier)


def receipt_available() -> bool:
    """Whether this installation has the receipt printer (``dossiers/receipts.py``)."""
    try:
        from lienthong.dossiers import receipts
    except ImportError:
        return False
    return hasattr(receipts, "receipt_pdf")


@require_role(OFFICER_ROLES)
@require_GET
def receipt(request: HttpRequest, agency: Agency, code: str) -> HttpResponse:
    """The receipt (giấy tiếp nhận hồ sơ và hẹn trả kết quả) to print for the applicant."""
    dossier = _dossier(request, agency, code)
    if not receipt_available():
        raise Http404
    from lienthong.dossiers.receipts import receipt_pdf

    response = HttpResponse(receipt_pdf(dossier), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="bien-nhan-{dossier.code}.pdf"'
    return response


@require_role(Role.LEADER)
@require_POST
def signature_sms(request: HttpRequest, agency: Agency, code: str) -> HttpResponse:
    """An SMS code for the leader's own signature (the approve form's SMS choice)."""
    dossier = _dossier(request, agency, code)
    personal = _personal(request.user)
    credential = personal["credential"]
    if credential is None or not personal["sms"]:
        messages.error(
            request,
            _why_not_personal(request.user, ApproveForm.CODE)
            or gettext("The signing service does not send codes for your key."),
        )
    else:
        try:
            if personal["external"]:
                # The service sends its own code (CSC credentials/sendOTP).
                oauth2code.send_otp(
                    user=request.user, credential_id=credential.credential_id, source="backoffice"
                )
            else:
                signing_services.send_otp(
                    user=request.user, credential_id=credential.credential_id, source="web"
                )
        except SigningRefused as exc:
            messages.error(request, _message(exc))
        else:
            messages.success(
                request,
                gettext("The signing service sent you a one-time code.")
                if personal["external"]
                else gettext("An SMS code was sent to your phone."),
            )
    return redirect("backoffice:detail", agency=agency.identifier, code=dossier.code)
