"""A dossier's signed result, for whoever may see the dossier: its applicant
(from the portal) and the officers of the agencies that received or hold it
(from the back office). Anyone else gets the 404 an absent dossier gets."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from lienthong.dossiers import results
from lienthong.dossiers import selectors as dossiers
from lienthong.dossiers.errors import DossierConflict
from lienthong.dossiers.models import Dossier


def _with_result(request: HttpRequest, code: str) -> Dossier:
    dossier = dossiers.dossier_for(request.user, code)
    if dossier is None or dossier.result_id is None:
        raise Http404
    return dossier


@login_required
@require_GET
def result(request: HttpRequest, code: str) -> HttpResponse:
    """The signed result PDF (the copy the leader's approval signed)."""
    dossier = _with_result(request, code)
    try:
        content = results.result_bytes(dossier)
    except DossierConflict as exc:
        raise Http404 from exc
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{dossier.result.original_name}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_POST
def verify(request: HttpRequest, code: str) -> HttpResponse:
    """Validate the signed result with the node's trust validation service and
    show the report (kept under an unguessable id, as any validation's)."""
    dossier = _with_result(request, code)
    try:
        record = results.verify_result(dossier)
    except DossierConflict as exc:
        raise Http404 from exc
    return redirect("trust:report", record_id=record.pk)
