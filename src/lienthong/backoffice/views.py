"""The officers' pages: their agencies, an agency's queues, one dossier and the
moves the officer's roles allow on it.

Each view parses input, calls one dossiers service or selector, and renders.
An agency where the signed-in user holds no officer role, and a dossier that
agency neither received nor holds, are answered with 404, as absent ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms as django_forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lienthong.backoffice import selectors
from lienthong.backoffice.forms import (
    ActionForm,
    ApproveForm,
    CounterForm,
    DraftForm,
    ProcessForm,
    ReasonForm,
    ReturnForm,
)
from lienthong.catalog import selectors as catalog
from lienthong.directory.models import Agency
from lienthong.dossiers import results, services, workflow
from lienthong.dossiers import selectors as dossiers
from lienthong.dossiers.errors import AttachmentRefused, DossierConflict, ResultRefused
from lienthong.dossiers.forms import DossierForm
from lienthong.dossiers.models import Dossier, Status
from lienthong.identity.models import Role
from lienthong.identity.permissions import has_role, require_role

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
    page = Paginator(dossiers.officer_queue(request.user, agency, chosen), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "backoffice/queue.html",
        {
            "agency": agency,
            "queues": QUEUES,
            "queue": chosen,
            "page": page,
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
    context = {
        "agency": agency,
        "dossier": dossier,
        "declaration": selectors.declaration(dossier),
        "attachments": selectors.attachments(dossier),
        "supplement": selectors.open_supplement_request(dossier),
        "events": dossiers.timeline(dossier),
        "actions": actions,
        "error": error,
        "result": results.current(dossier),
        "receipt": receipt_available(),
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
@require_POST
def act(request: HttpRequest, agency: Agency, code: str, action: str) -> HttpResponse:
    dossier = _dossier(request, agency, code)
    chosen = ACTIONS.get(action)
    if chosen is None:
        raise Http404
    form = chosen.form(request.POST, request.FILES, prefix=chosen.slug)
    if not form.is_valid():
        return _detail(request, agency, dossier, status=400, bound=(chosen.slug, form))
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
        # unreachable): nothing was written; the leader is told why.
        dossier.refresh_from_db()
        detail = exc.details.get("detail_en" if _english() else "detail_vi", "")
        return _detail(
            request, agency, dossier, status=503, error=f"{exc.message} {detail}".strip()
        )
    messages.success(request, chosen.done)
    return redirect("backoffice:detail", agency=agency.identifier, code=dossier.code)


def _english() -> bool:
    return (translation.get_language() or "vi").startswith("en")


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
