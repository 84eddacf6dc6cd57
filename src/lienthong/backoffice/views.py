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
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from lienthong.backoffice import selectors
from lienthong.backoffice.forms import ActionForm, ApproveForm, ReasonForm
from lienthong.directory.models import Agency
from lienthong.dossiers import selectors as dossiers
from lienthong.dossiers import services
from lienthong.dossiers.errors import AttachmentRefused, DossierConflict
from lienthong.dossiers.models import Dossier, Status
from lienthong.identity.permissions import require_role

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
            ActionForm,
            _("Start processing"),
            _("Process"),
            _("Processing started."),
            lambda actor, dossier, data: services.process(
                actor=actor, dossier=dossier, expected_version=data["version"], note=data["note"]
            ),
        ),
        Action(
            "approve",
            Status.DONE,
            ApproveForm,
            _("Approve the result"),
            _("Approve"),
            _("The dossier was approved."),
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
            ActionForm,
            _("Return the result to the applicant"),
            _("Return the result"),
            _("The result was returned to the applicant."),
            lambda actor, dossier, data: services.return_result(
                actor=actor, dossier=dossier, expected_version=data["version"], note=data["note"]
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
        {"agency": agency, "queues": QUEUES, "queue": chosen, "page": page},
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
        if action.to not in moves:
            continue
        if bound and bound[0] == action.slug:
            form = bound[1]
        else:
            form = action.form(initial={"version": dossier.version}, prefix=action.slug)
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
    }
    return render(request, "backoffice/detail.html", context, status=status)


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
        form.add_error("result", exc.message)
        return _detail(request, agency, dossier, status=400, bound=(chosen.slug, form))
    messages.success(request, chosen.done)
    return redirect("backoffice:detail", agency=agency.identifier, code=dossier.code)
