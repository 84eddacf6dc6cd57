"""The citizen's pages: start a dossier (or an interconnected one), follow one's
dossiers, withdraw, answer a supplement request, download the receipt and the
signed result and verify it, choose how the result is delivered, rate the
handling, and look a dossier up without signing in. Officers who may read them
find the ratings of their agencies here too.

Each view parses input, calls one dossiers service or selector, and renders.
A dossier that is not the signed-in citizen's is answered with 404, as one
that does not exist.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from lienthong.approvals.services import has_paired_device
from lienthong.audit.middleware import client_address, client_key
from lienthong.dossiers import attachments, interconnection, payments, receipts, results, services
from lienthong.dossiers import selectors as dossiers
from lienthong.dossiers.errors import AttachmentRefused, DossierConflict
from lienthong.dossiers.models import Attachment, Dossier, Status
from lienthong.exchange.services import ExchangeRefused
from lienthong.identity import throttle
from lienthong.identity.permissions import require_role
from lienthong.portal import declarations, ratings, selectors
from lienthong.portal import services as portal_services
from lienthong.portal.declarations import declaration_pdf
from lienthong.portal.forms import (
    DeclarationSignForm,
    DeliveryForm,
    LookupForm,
    RatingForm,
    SubmissionForm,
    SupplementForm,
    WithdrawForm,
)
from lienthong.signing.selectors import not_answered_yet

PAGE_SIZE = 20


# --- Starting a dossier --------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def new_dossier(request: HttpRequest, procedure_code: str) -> HttpResponse:
    procedure = selectors.procedure(procedure_code)
    if procedure is None:
        raise Http404
    return _start(request, procedure)


@login_required
@require_http_methods(["GET", "POST"])
def new_interconnected(request: HttpRequest, group_code: str) -> HttpResponse:
    """One dossier for an interconnected procedure (Decree 63/2024/NĐ-CP): it is
    submitted for the first step's procedure to that step's agency, which hands it
    on to the next steps' agencies as each is done."""
    group = selectors.interconnected_group(group_code)
    step = selectors.first_step(group) if group is not None else None
    if step is None:
        raise Http404
    return _start(request, step.procedure, group=group)


def _start(request: HttpRequest, procedure, *, group=None) -> HttpResponse:
    handling = selectors.handling_agencies(procedure)
    chosen = request.POST.get("agency") or request.GET.get("agency") or ""
    agency = handling.filter(identifier=chosen).first() if chosen else None
    if agency is None and handling.count() == 1:
        agency = handling.first()
    if agency is None:
        return _choose_agency(request, procedure, handling, group=group)

    if request.session.session_key is None:
        request.session.save()
    # The files chosen are kept (staged) for this form while the page comes back.
    form_key = f"{procedure.code}|{agency.identifier}|{group.code if group else ''}"
    form = SubmissionForm(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
        procedure=procedure,
        user=request.user,
        initial={"agency": agency.identifier},
        session=request.session,
        form_key=form_key,
    )
    if request.method == "POST" and form.is_valid():
        documents = form.documents_to_submit()
        try:
            dossier = portal_services.submit(
                actor=request.user,
                procedure=procedure,
                agency=agency,
                form_data=form.cleaned_data["declaration"],
                documents=documents,
                interconnected=group,
            )
        except ValidationError as exc:
            form.add_declaration_errors(exc)
        except DossierConflict as exc:
            missing = exc.details.get("documents") or []
            for document_id in missing:
                form.add_error(form.document_field(document_id), exc.message)
            if not missing:
                form.add_error(None, exc.message)
        except AttachmentRefused as exc:
            form.add_error(None, exc.message)
        except ExchangeRefused as exc:
            # The first step's node cannot be reached from here now (no key, the
            # directory expired…): nothing was submitted.
            form.add_error(
                None,
                _("The dossier could not be sent to the agency: %(reason)s")
                % {"reason": exc.message_vi if get_language() == "vi" else exc.message_en},
            )
        else:
            form.forget_kept()
            messages.success(
                request,
                _("Your dossier was submitted. Its code is %(code)s.") % {"code": dossier.code},
            )
            return redirect("portal:detail", code=dossier.code)
        finally:
            form.close_kept_files()
    if request.method == "POST":
        form.keep_uploads()  # the page comes back: the files chosen stay chosen
    status = 400 if request.method == "POST" else 200
    context = {"procedure": procedure, "agency": agency, "form": form, "group": group}
    if group is not None:
        context["steps"] = list(group.steps.select_related("procedure").order_by("position"))
    return render(request, "portal/new.html", context, status=status)


def _choose_agency(request: HttpRequest, procedure, handling, *, group=None) -> HttpResponse:
    """Without JavaScript, two plain GET forms: the province, then the agency in it."""
    count = handling.count()
    provinces = list(selectors.provinces_of(handling)) if count else []
    province = request.GET.get("province", "")
    if province not in {p.code for p in provinces}:
        province = ""
    agencies = selectors.agencies_in(handling, province) if province else []
    return render(
        request,
        "portal/choose_agency.html",
        {
            "procedure": procedure,
            "count": count,
            "provinces": provinces,
            "province": province,
            "agencies": agencies,
            "group": group,
        },
    )


# --- Following one's dossiers --------------------------------------------------------------


@login_required
@require_http_methods(["GET"])
def my_dossiers(request: HttpRequest) -> HttpResponse:
    page = Paginator(dossiers.my_dossiers(request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    # The page's rows read as values and printed ready (the count above stays
    # without their joins), with the status the citizen reads, each dossier's
    # address made from one reverse().
    rows = dossiers.list_rows(
        selectors.my_dossiers_listed(page.object_list),
        dossiers.url_of_code("portal:detail"),
        selectors.listed_shown_status,
    )
    groups = selectors.interconnected_groups()
    return render(request, "portal/mine.html", {"page": page, "rows": rows, "groups": groups})


def _own(request: HttpRequest, code: str) -> Dossier:
    dossier = selectors.own_dossier(request.user, code)
    if dossier is None:
        raise Http404
    return dossier


def _step_rows(dossier: Dossier) -> list[dict]:
    """The steps table's rows, each with the signed result its agency sent back."""
    received = interconnection.step_results(dossier)
    return [
        {"row": row, "result": received.get(row.position)}
        for row in selectors.interconnected_steps(dossier)
    ]


def _detail(request: HttpRequest, dossier: Dossier, *, status: int = 200, **forms) -> HttpResponse:
    holder = interconnection.holder(dossier)
    context = {
        "dossier": dossier,
        "holder": holder,
        "holder_node": holder.node if holder.node_id else None,
        "routed": portal_services.was_routed(dossier),
        "events": dossiers.timeline(dossier),
        "attachments": selectors.attachments(dossier),
        "supplement": selectors.open_supplement_request(dossier),
        "can_withdraw": portal_services.may_withdraw(dossier),
        "withdraw_form": forms.get("withdraw_form")
        or WithdrawForm(initial={"version": dossier.version}),
        "supplement_form": forms.get("supplement_form")
        or SupplementForm(initial={"version": dossier.version}),
        "error": forms.get("error"),
        "steps": _step_rows(dossier),
        "result": results.current(dossier) if dossier.result_id else None,
        "can_choose_delivery": portal_services.may_choose_delivery(dossier),
        "delivery_form": forms.get("delivery_form")
        or DeliveryForm(
            initial={
                "version": dossier.version,
                "delivery": dossier.result_delivery,
                "address": dossier.delivery_address,
            }
        ),
        "may_rate": portal_services.may_rate(request.user, dossier),
        "rating": selectors.rating_of(request.user, dossier),
        "declaration_signature": selectors.declaration_signature(dossier),
        "may_sign_declaration": portal_services.may_sign_declaration(request.user, dossier),
        "sign_form": forms.get("sign_form") or _sign_form(request),
        "declaration_phone": has_paired_device(request.user),
        # With an external signing service: where, and whether the account is linked.
        "declaration_service": declarations.signing_service(request.user),
    }
    return render(request, "portal/detail.html", context, status=status)


@login_required
@require_http_methods(["GET"])
def dossier_detail(request: HttpRequest, code: str) -> HttpResponse:
    return _detail(request, _own(request, code))


def _step_result(request: HttpRequest, code: str, position: int) -> tuple[Attachment, bytes]:
    """The signed result step ``position``'s agency sent back to the citizen's dossier;
    404 when there is none, or when its stored copy is no longer its digest."""
    attachment = interconnection.step_results(_own(request, code)).get(position)
    if attachment is None:
        raise Http404
    try:
        return attachment, interconnection.step_result_bytes(attachment)
    except DossierConflict as exc:
        raise Http404 from exc


@login_required
@require_http_methods(["GET"])
def step_result(request: HttpRequest, code: str, position: int) -> HttpResponse:
    """The signed result of a later step, as its agency's node sent it back."""
    attachment, content = _step_result(request, code, position)
    response = HttpResponse(content, content_type="application/pdf")
    # The name came from another node: quoted and encoded, never raw in the header.
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=attachment.original_name
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_POST
def verify_step_result(request: HttpRequest, code: str, position: int) -> HttpResponse:
    """Validate a step's signed result with this node's trust validation service and
    show the report, as for the dossier's own result."""
    from lienthong.trust import services as trust

    attachment, content = _step_result(request, code, position)
    record = trust.validate_upload(data=content, filename=attachment.original_name)
    return redirect("trust:report", record_id=record.pk)


@login_required
@require_POST
def withdraw(request: HttpRequest, code: str) -> HttpResponse:
    dossier = _own(request, code)
    form = WithdrawForm(request.POST)
    if not form.is_valid():
        return _detail(request, dossier, status=400, withdraw_form=form)
    try:
        dossier = portal_services.withdraw(
            actor=request.user,
            dossier=dossier,
            expected_version=form.cleaned_data["version"],
            reason=form.cleaned_data["reason"],
        )
    except DossierConflict as exc:
        dossier.refresh_from_db()
        return _detail(request, dossier, status=409, error=exc.message)
    if dossier.status == Status.WITHDRAWN:
        messages.success(request, _("Your dossier was withdrawn."))
    else:  # held by an agency on another node: asked of it
        messages.success(
            request,
            _(
                "Your request to withdraw the dossier was sent to %(agency)s. "
                "Its answer will appear in the history below."
            )
            % {"agency": dossier.current_agency.name},
        )
    return redirect("portal:detail", code=dossier.code)


@login_required
@require_POST
def answer_supplement(request: HttpRequest, code: str) -> HttpResponse:
    dossier = _own(request, code)
    form = SupplementForm(request.POST, request.FILES)
    if not form.is_valid():
        return _detail(request, dossier, status=400, supplement_form=form)
    try:
        services.answer_supplement(
            actor=request.user,
            dossier=dossier,
            files=form.cleaned_data["files"],
            expected_version=form.cleaned_data["version"],
            note=form.cleaned_data["note"],
        )
    except DossierConflict as exc:
        dossier.refresh_from_db()
        return _detail(request, dossier, status=409, error=exc.message)
    except AttachmentRefused as exc:
        return _detail(request, dossier, status=400, error=exc.message)
    messages.success(request, _("The missing documents were sent to the agency."))
    return redirect("portal:detail", code=dossier.code)


# --- The receipt, and how the result is delivered -------------------------------------------


@login_required
@require_http_methods(["GET"])
def receipt(request: HttpRequest, code: str) -> HttpResponse:
    """The receipt ("Giấy tiếp nhận hồ sơ và hẹn trả kết quả"), made when asked:
    the appointment it shows follows the dossier (provisional until accepted)."""
    dossier = _own(request, code)
    lookup_url = request.build_absolute_uri(receipts.lookup_path(dossier))
    response = HttpResponse(
        receipts.receipt_pdf(dossier, lookup_url=lookup_url), content_type="application/pdf"
    )
    response["Content-Disposition"] = f'attachment; filename="giay-tiep-nhan-{dossier.code}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_POST
def choose_delivery(request: HttpRequest, code: str) -> HttpResponse:
    dossier = _own(request, code)
    form = DeliveryForm(request.POST)
    if not form.is_valid():
        return _detail(request, dossier, status=400, delivery_form=form)
    try:
        portal_services.choose_result_delivery(
            actor=request.user,
            dossier=dossier,
            delivery=form.cleaned_data["delivery"],
            address=form.cleaned_data["address"],
            expected_version=form.cleaned_data["version"],
        )
    except DossierConflict as exc:
        dossier.refresh_from_db()
        return _detail(request, dossier, status=409, error=exc.message)
    messages.success(request, _("Your choice for the delivery of the result was recorded."))
    return redirect("portal:detail", code=dossier.code)


# --- The declaration, and signing it ----------------------------------------------------------


def _sign_form(request: HttpRequest, data=None, *, phone: bool = False) -> DeclarationSignForm:
    return DeclarationSignForm(
        data, credentials=selectors.signing_credentials(request.user), phone=phone
    )


@login_required
@require_http_methods(["GET"])
def declaration(request: HttpRequest, code: str) -> HttpResponse:
    """The declaration as PDF: the signed copy once the applicant signed it, else
    made from what was declared (what the applicant would sign)."""
    dossier = _own(request, code)
    signature = selectors.declaration_signature(dossier)
    if signature is not None:
        with attachments.open_blob(signature.attachment.path) as handle:
            content, name = handle.read(), signature.attachment.original_name
    else:
        content, name = declaration_pdf(dossier), f"to-khai-{dossier.code}.pdf"
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "private, no-store"
    return response


def _signing_message(exc) -> str:
    english = (get_language() or "vi").startswith("en")
    return exc.message_en if english else exc.message_vi


@login_required
@require_POST
def sign_declaration(request: HttpRequest, code: str) -> HttpResponse:
    """Sign with the one-time code typed, or ("phone" pressed) ask the paired phone
    and wait for its answer on the signature page."""
    from lienthong.signing.errors import SigningRefused

    dossier = _own(request, code)
    phone = "phone" in request.POST
    # "service": approved at the external signing service (CSC oauth2code).
    at_service = "service" in request.POST
    form = _sign_form(request, request.POST, phone=phone or at_service)
    if not form.is_valid():
        return _detail(request, dossier, status=400, sign_form=form)
    try:
        if at_service:
            return redirect(
                declarations.ask_service(
                    request=request, dossier=dossier, credential_id=form.cleaned_data["credential"]
                )
            )
        if phone:
            pending = declarations.request_phone_signature(
                actor=request.user,
                dossier=dossier,
                credential_id=form.cleaned_data["credential"],
                request_meta=request,
            )
            return redirect(
                "portal:sign-declaration-wait", code=dossier.code, reference=pending.reference
            )
        portal_services.sign_declaration(
            actor=request.user,
            dossier=dossier,
            credential_id=form.cleaned_data["credential"],
            otp=form.cleaned_data["otp"],
            address=client_address(request),
        )
    except DossierConflict as exc:
        form.add_error(None, exc.message)
        return _detail(request, dossier, status=409, sign_form=form)
    except SigningRefused as exc:
        form.add_error(None, _signing_message(exc))
        return _detail(request, dossier, status=exc.status, sign_form=form)
    messages.success(request, _("Your declaration was signed and added to the dossier."))
    return redirect("portal:detail", code=dossier.code)


def _pending_declaration(request: HttpRequest, dossier: Dossier, reference: str):
    """The signed-in applicant's pending signature of this declaration, else 404."""
    from lienthong.signing import selectors as signing

    pending = signing.pending_for(
        request.user, reference, declarations.declaration_purpose(dossier)
    )
    if pending is None:
        raise Http404
    return pending


def _phone_answered(request: HttpRequest, pending) -> tuple[Any, bool]:
    """The approval request of ``pending`` and whether the phone answered it (or it
    is gone or overdue: finishing then says why)."""
    from lienthong.approvals import selectors as approvals
    from lienthong.signing import pdf as signing_pdf

    if not (pending.context or {}).get("approval_id"):
        # Authorised at the external service (oauth2code), not on the phone.
        return None, signing_pdf.authorized_at_service(pending)
    return approvals.signature_answer(request.user, (pending.context or {}).get("approval_id"))


def _to(request: HttpRequest, target: str) -> HttpResponse:
    return HttpResponseClientRedirect(target) if request.htmx else redirect(target)


@login_required
@require_http_methods(["GET"])
def sign_declaration_wait(request: HttpRequest, code: str, reference: str) -> HttpResponse:
    """The applicant waits here while the phone answers: htmx asks again every few
    seconds and, once it answered, finishes by itself; without JavaScript the
    applicant presses "I have approved: continue"."""
    dossier = _own(request, code)
    pending = _pending_declaration(request, dossier, reference)
    if pending.consumed_at is not None:
        # Finished already (in this tab or another): the dossier says how it went.
        return _to(request, reverse("portal:detail", args=[dossier.code]))
    approval, answered = _phone_answered(request, pending)
    return render(
        request,
        "portal/declaration_wait.html",
        {
            "dossier": dossier,
            "pending": pending,
            "approval": approval,
            "answered": answered,
            "at_service": not (pending.context or {}).get("approval_id"),
            "poll": settings.APPROVALS_POLL_SECONDS,
        },
    )


_PHONE_REFUSALS = {
    "approval_denied": _lazy("You denied the signature on your phone. Nothing was signed."),
    "approval_expired": _lazy(
        "The request to your phone has expired. Nothing was signed; you may sign again."
    ),
}


@login_required
@require_POST
def sign_declaration_finish(request: HttpRequest, code: str, reference: str) -> HttpResponse:
    """Once the phone approved: sign and add the signed declaration to the dossier. A
    denial, an expiry or an approval for other hashes signs nothing (audited)."""
    from lienthong.signing.errors import SigningRefused

    dossier = _own(request, code)
    pending = _pending_declaration(request, dossier, reference)
    detail = reverse("portal:detail", args=[dossier.code])
    if pending.consumed_at is not None:
        return _to(request, detail)
    _approval, answered = _phone_answered(request, pending)
    if not answered:
        messages.info(request, not_answered_yet(pending))
        return _to(request, reverse("portal:sign-declaration-wait", args=[code, reference]))
    try:
        declarations.finish_phone_signature(actor=request.user, dossier=dossier, pending=pending)
    except DossierConflict as exc:
        messages.error(request, exc.message)
    except SigningRefused as exc:
        known = _PHONE_REFUSALS.get(exc.code)
        messages.error(
            request,
            str(known)
            if known
            else _("%(reason)s Nothing was signed.") % {"reason": _signing_message(exc)},
        )
    else:
        messages.success(request, _("Your declaration was signed and added to the dossier."))
    return _to(request, detail)


# --- Rating ---------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def rate(request: HttpRequest, code: str) -> HttpResponse:
    """The satisfaction questionnaire, open once the result is out (status 9 or 10)."""
    dossier = _own(request, code)
    rating = selectors.rating_of(request.user, dossier)
    open_ = portal_services.may_rate(request.user, dossier)
    editable = open_ and (rating is None or rating.is_editable())
    initial = {**rating.answers, "comment": rating.comment} if rating else None
    form = RatingForm(request.POST if request.method == "POST" else None, initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                portal_services.rate(
                    actor=request.user,
                    dossier=dossier,
                    answers=form.answers(),
                    comment=form.cleaned_data["comment"],
                )
            except DossierConflict as exc:
                form.add_error(None, exc.message)
                status = 409
            else:
                messages.success(request, _("Thank you: your rating was recorded."))
                return redirect("portal:detail", code=dossier.code)
    context = {
        "dossier": dossier,
        "form": form,
        "rating": rating,
        "open": open_,
        "editable": editable,
        "provisional": ratings.PROVISIONAL,
        "max_score": ratings.MAX_SCORE,
    }
    return render(request, "portal/rate.html", context, status=status)


@login_required
@require_http_methods(["GET"])
def rating_agencies(request: HttpRequest) -> HttpResponse:
    """The agencies whose ratings the signed-in officer may read; 404 for anyone else."""
    agencies = list(selectors.rating_agencies(request.user))
    if not agencies:
        raise Http404
    return render(request, "portal/rating_agencies.html", {"agencies": agencies})


@require_role(selectors.RATING_READERS)
@require_http_methods(["GET"])
def agency_ratings(request: HttpRequest, agency) -> HttpResponse:
    summary = selectors.agency_ratings(agency)
    return render(
        request,
        "portal/agency_ratings.html",
        {
            "agency": agency,
            "summary": summary,
            "provisional": ratings.PROVISIONAL,
            "max_score": ratings.MAX_SCORE,
        },
    )


# --- Looking a dossier up without signing in -----------------------------------------------


def _lookup_limited(request: HttpRequest) -> bool:
    """Every POST counts against PORTAL_LOOKUP_RATE per client address (guessing codes
    and phone numbers); one upsert in the shared counters (identity/throttle.py)."""
    return request.method == "POST" and throttle.rate_exceeded(
        "lookup", client_key(request), settings.PORTAL_LOOKUP_RATE
    )


@require_http_methods(["GET", "POST"])
def lookup(request: HttpRequest) -> HttpResponse:
    if _lookup_limited(request):
        return render(
            request, "portal/lookup.html", {"form": LookupForm(), "limited": True}, status=429
        )
    # The receipt's QR code opens this page with the code filled in (?code=).
    form = (
        LookupForm(request.POST)
        if request.method == "POST"
        else LookupForm(initial={"code": request.GET.get("code", "")[:60]})
    )
    found, not_found = None, False
    if request.method == "POST" and form.is_valid():
        found = dossiers.lookup(form.cleaned_data["code"], form.cleaned_data["factor"])
        not_found = found is None
    context = {
        "form": form,
        "dossier": found,
        "not_found": not_found,
        "events": dossiers.timeline_rows(found) if found else [],
    }
    return render(request, "portal/lookup.html", context)


# --- Paying a fee the agency asked for (dossiers/payments.py) ------------------------------


@login_required
@require_POST
def pay(request: HttpRequest, code: str) -> HttpResponse:
    """The applicant pays the fee asked: the payment backend creates the payment and
    her browser is sent to its page (the console backend sends her straight back)."""
    dossier = _own(request, code)
    return_url = request.build_absolute_uri(reverse("portal:payment-return", args=[dossier.code]))
    try:
        name = payments.backend().name
        callback_url = request.build_absolute_uri(reverse("portal:payment-callback", args=[name]))
        checkout = payments.start(
            actor=request.user,
            dossier=dossier,
            return_url=return_url,
            callback_url=callback_url,
            client_ip=request.META.get("REMOTE_ADDR", ""),
        )
    except payments.PaymentRefused as exc:
        return _detail(request, dossier, status=503, error=exc.message)
    except DossierConflict as exc:
        dossier.refresh_from_db()
        return _detail(request, dossier, status=409, error=exc.message)
    return redirect(checkout.url)


@login_required
@require_http_methods(["GET"])
def payment_return(request: HttpRequest, code: str) -> HttpResponse:
    """Back from the payment backend's page: what it sent is verified, and the
    payment recorded (once, whether the backend's callback came first or not)."""
    dossier = _own(request, code)
    try:
        settled = payments.settle(request.GET, dossier=dossier)
    except payments.PaymentRefused as exc:
        return _detail(request, dossier, status=400, error=exc.message)
    except DossierConflict as exc:
        dossier.refresh_from_db()
        return _detail(request, dossier, status=409, error=exc.message)
    if settled.outcome == payments.SURPLUS:
        messages.warning(
            request,
            _(
                "This payment arrived after the fee had already been paid. It was recorded "
                "and will be refunded to you; nothing more is charged."
            ),
        )
    elif settled.relayed:
        messages.success(
            request,
            _("Your payment was recorded and sent to the agency holding your dossier."),
        )
    else:
        messages.success(
            request, _("Your payment was recorded. The agency goes on with your dossier.")
        )
    return redirect("portal:detail", code=dossier.code)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def payment_callback(request: HttpRequest, backend: str) -> HttpResponse:
    """The payment backend's server tells how a payment went (no session: what it
    sends is verified by the backend, signature and all; a gateway such as VNPAY
    calls by GET). Answers in the backend's own terms (``acknowledge``), nothing of
    the dossier."""
    try:
        chosen = payments.backend(backend)
    except payments.PaymentRefused as exc:
        return JsonResponse({"status": "refused", "code": exc.code}, status=400)
    if request.method not in chosen.callback_methods:
        return HttpResponse(status=405, headers={"Allow": ", ".join(chosen.callback_methods)})
    params = request.GET if request.method == "GET" else request.POST
    try:
        settled = payments.settle(params, backend_name=backend)
        status, body = chosen.acknowledge(settled.outcome)
    except (payments.PaymentRefused, DossierConflict) as exc:
        status, body = chosen.acknowledge(None, exc.code)
    return JsonResponse(body, status=status)
