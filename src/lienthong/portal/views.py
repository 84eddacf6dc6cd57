"""The citizen's pages: start a dossier, follow one's dossiers, withdraw, answer a
supplement request, and look a dossier up without signing in.

Each view parses input, calls one dossiers service or selector, and renders.
A dossier that is not the signed-in citizen's is answered with 404, as one
that does not exist.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django_ratelimit.decorators import ratelimit

from lienthong.audit.middleware import client_key
from lienthong.catalog.statuses import status_text
from lienthong.dossiers import selectors as dossiers
from lienthong.dossiers import services, workflow
from lienthong.dossiers.errors import AttachmentRefused, DossierConflict
from lienthong.dossiers.models import Dossier, Status
from lienthong.portal import selectors
from lienthong.portal.forms import DossierForm, LookupForm, SupplementForm, WithdrawForm

PAGE_SIZE = 20


# --- Starting a dossier --------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def new_dossier(request: HttpRequest, procedure_code: str) -> HttpResponse:
    procedure = selectors.procedure(procedure_code)
    if procedure is None:
        raise Http404
    handling = selectors.handling_agencies(procedure)
    chosen = request.POST.get("agency") or request.GET.get("agency") or ""
    agency = handling.filter(identifier=chosen).first() if chosen else None
    if agency is None and handling.count() == 1:
        agency = handling.first()
    if agency is None:
        return _choose_agency(request, procedure, handling)

    form = DossierForm(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
        procedure=procedure,
        user=request.user,
        initial={"agency": agency.identifier},
    )
    if request.method == "POST" and form.is_valid():
        try:
            dossier = services.submit(
                actor=request.user,
                procedure=procedure,
                agency=agency,
                form_data=form.cleaned_data["declaration"],
                documents=form.documents_by_id(),
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
        else:
            messages.success(
                request,
                _("Your dossier was submitted. Its code is %(code)s.") % {"code": dossier.code},
            )
            return redirect("portal:detail", code=dossier.code)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "portal/new.html",
        {"procedure": procedure, "agency": agency, "form": form},
        status=status,
    )


def _choose_agency(request: HttpRequest, procedure, handling) -> HttpResponse:
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
        },
    )


# --- Following one's dossiers --------------------------------------------------------------


@login_required
@require_http_methods(["GET"])
def my_dossiers(request: HttpRequest) -> HttpResponse:
    page = Paginator(dossiers.my_dossiers(request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "portal/mine.html", {"page": page})


def _own(request: HttpRequest, code: str) -> Dossier:
    dossier = selectors.own_dossier(request.user, code)
    if dossier is None:
        raise Http404
    return dossier


def _detail(request: HttpRequest, dossier: Dossier, *, status: int = 200, **forms) -> HttpResponse:
    context = {
        "dossier": dossier,
        "status_text": status_text(dossier.status, dossier.procedure.status_texts),
        "events": dossiers.timeline(dossier),
        "attachments": selectors.attachments(dossier),
        "supplement": selectors.open_supplement_request(dossier),
        "can_withdraw": Status.WITHDRAWN in workflow.next_statuses(dossier.status),
        "withdraw_form": forms.get("withdraw_form")
        or WithdrawForm(initial={"version": dossier.version}),
        "supplement_form": forms.get("supplement_form")
        or SupplementForm(initial={"version": dossier.version}),
        "error": forms.get("error"),
    }
    return render(request, "portal/detail.html", context, status=status)


@login_required
@require_http_methods(["GET"])
def dossier_detail(request: HttpRequest, code: str) -> HttpResponse:
    return _detail(request, _own(request, code))


@login_required
@require_POST
def withdraw(request: HttpRequest, code: str) -> HttpResponse:
    dossier = _own(request, code)
    form = WithdrawForm(request.POST)
    if not form.is_valid():
        return _detail(request, dossier, status=400, withdraw_form=form)
    try:
        services.withdraw(
            actor=request.user,
            dossier=dossier,
            expected_version=form.cleaned_data["version"],
            reason=form.cleaned_data["reason"],
        )
    except DossierConflict as exc:
        dossier.refresh_from_db()
        return _detail(request, dossier, status=409, error=exc.message)
    messages.success(request, _("Your dossier was withdrawn."))
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


# --- Looking a dossier up without signing in -----------------------------------------------


def _lookup_rate(group: str, request: HttpRequest) -> str:
    return settings.PORTAL_LOOKUP_RATE


@require_http_methods(["GET", "POST"])
@ratelimit(key=client_key, rate=_lookup_rate, method="POST", block=False)
def lookup(request: HttpRequest) -> HttpResponse:
    if getattr(request, "limited", False):
        return render(
            request, "portal/lookup.html", {"form": LookupForm(), "limited": True}, status=429
        )
    form = LookupForm(request.POST if request.method == "POST" else None)
    found, not_found = None, False
    if request.method == "POST" and form.is_valid():
        found = dossiers.lookup(form.cleaned_data["code"], form.cleaned_data["factor"])
        not_found = found is None
    context = {
        "form": form,
        "dossier": found,
        "not_found": not_found,
        "events": dossiers.timeline(found) if found else [],
        "status_text": status_text(found.status, found.procedure.status_texts) if found else "",
    }
    return render(request, "portal/lookup.html", context)
