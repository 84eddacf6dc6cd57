"""Public signature validation pages: upload, report, downloads (JSON, PDF).

Anyone may validate a document; nothing of the document is kept, only the
report, under an unguessable id, for LIENTHONG_REPORT_RETENTION_DAYS.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.views.decorators.http import require_GET, require_http_methods

from lienthong.audit.middleware import client_key
from lienthong.identity.throttle import rate_exceeded
from lienthong.trust import services as trust_services
from lienthong.trust.forms import ValidationForm
from lienthong.trust.models import ValidationRecord
from lienthong.trust.validation.render import presentation, report_pdf

# Uploads per client address, the page and the API counted together.
RATE_NAME = "trust-validate"


def rate_limited(request: HttpRequest) -> bool:
    """Counts one validation of this client address; whether it goes beyond
    TRUST_VALIDATION_RATE (one upsert in the node's shared counters)."""
    return rate_exceeded(RATE_NAME, client_key(request), settings.TRUST_VALIDATION_RATE)


@require_http_methods(["GET", "POST"])
def validate(request: HttpRequest) -> HttpResponse:
    if request.method == "POST" and rate_limited(request):
        response = render(
            request, "trust/validate.html", {"form": ValidationForm(), "limited": True}
        )
        response.status_code = 429
        return response
    form = (
        ValidationForm(request.POST, request.FILES)
        if request.method == "POST"
        else ValidationForm()
    )
    if request.method == "POST" and form.is_valid():
        record = trust_services.validate_upload(
            data=form.cleaned_data["document"].read(),
            filename=form.cleaned_data["document"].name,
            detached=form.cleaned_data["signed_data"].read()
            if form.cleaned_data["signed_data"]
            else None,
        )
        return redirect("trust:report", record_id=record.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "trust/validate.html", {"form": form}, status=status)


def _record(record_id) -> ValidationRecord:
    record = ValidationRecord.objects.current().filter(pk=record_id).first()
    if record is None:
        raise Http404
    return record


@require_GET
def report(request: HttpRequest, record_id) -> HttpResponse:
    record = _record(record_id)
    view = presentation(record.report(), get_language() or "vi")
    return render(request, "trust/report.html", {"record": record, "view": view})


@require_GET
def report_json(request: HttpRequest, record_id) -> HttpResponse:
    record = _record(record_id)
    response = JsonResponse(
        record.report_data, json_dumps_params={"ensure_ascii": False, "indent": 2}
    )
    response["Content-Disposition"] = f'attachment; filename="validation-{record.pk}.json"'
    return response


@require_GET
def report_pdf_download(request: HttpRequest, record_id) -> HttpResponse:
    record = _record(record_id)
    pdf = report_pdf(record.report(), get_language() or "vi")
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="validation-{record.pk}.pdf"'
    return response
