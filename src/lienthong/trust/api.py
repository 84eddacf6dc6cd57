"""Signature validation in the public API (/api/v1/signatures/...)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from ninja import File, Router, Schema
from ninja.files import UploadedFile

from lienthong.errors import ApiError, ErrorOut, not_found
from lienthong.trust import services
from lienthong.trust.models import ValidationRecord
from lienthong.trust.views import rate_limited

router = Router(tags=["signatures"])


class ReasonOut(Schema):
    code: str
    detail: str


class CertificateOut(Schema):
    subject: str
    common_name: str
    organisation: str
    identifiers: list[str]
    issuer: str
    serial_number: str
    not_before: str
    not_after: str
    fingerprint_sha256: str
    key: str


class SignatureOut(Schema):
    index: int
    format: str
    indication: str
    sub_indication: str | None
    reasons: list[ReasonOut]
    signer: CertificateOut | None
    chain: list[CertificateOut]
    hierarchy: str | None
    claimed_signing_time: str | None
    best_signature_time: str | None
    timestamp: dict | None
    revocation: dict
    coverage: str | None
    modified_after_signing: bool | None
    digest_algorithm: str | None
    signature_algorithm: str | None
    field_name: str | None


class ReportOut(Schema):
    document_name: str
    document_sha256: str
    document_format: str
    validated_at: str
    policy: dict
    signatures: list[SignatureOut]
    indication: str
    sub_indication: str | None
    reasons: list[ReasonOut]


class ValidationOut(Schema):
    id: uuid.UUID
    report_url: str
    pdf_url: str
    json_url: str
    expires_at: str
    report: ReportOut


def _out(request: HttpRequest, record: ValidationRecord) -> dict:
    def url(name: str) -> str:
        return request.build_absolute_uri(reverse(name, args=[record.pk]))

    return {
        "id": record.pk,
        "report_url": url("trust:report"),
        "pdf_url": url("trust:report-pdf"),
        "json_url": url("trust:report-json"),
        "expires_at": record.expires_at.isoformat(),
        "report": record.report_data,
    }


def _check_size(upload: UploadedFile | None) -> None:
    if upload is not None and upload.size > settings.TRUST_MAX_DOCUMENT_BYTES:
        raise ApiError(
            status=413,
            code="document_too_large",
            message_vi="Tệp vượt quá dung lượng cho phép.",
            message_en="The file is larger than allowed.",
            details=[{"limit_bytes": settings.TRUST_MAX_DOCUMENT_BYTES}],
        )


@router.post(
    "/signatures/validate",
    response={200: ValidationOut, 413: ErrorOut, 422: ErrorOut, 429: ErrorOut},
    summary="Validate the signatures of a PDF, XML, CMS/CAdES or JWS file",
    description=(
        "Upload `document` (signed PDF, signed XML, .p7s, or a JWS envelope — compact "
        "or flattened JSON serialisation, `x5c` chain, RFC 8785 canonical JSON payload) "
        "and, for a detached .p7s, `signed_data`. Every signature is checked against the "
        "node's trust list (public and government roots, cross-certificates), with "
        "revocation, and reported with ETSI EN 319 102-1 indications. A damaged or "
        "unsupported file still answers 200 with a report that says why."
    ),
)
def validate(
    request: HttpRequest,
    document: File[UploadedFile],
    signed_data: UploadedFile = File(None),  # noqa: B008  (django-ninja's way to declare an optional file)
):
    if rate_limited(request):
        raise ApiError(
            status=429,
            code="rate_limited",
            message_vi="Quá nhiều yêu cầu kiểm tra; hãy thử lại sau ít phút.",
            message_en="Too many validation requests; try again in a few minutes.",
        )
    _check_size(document)
    _check_size(signed_data)
    record = services.validate_upload(
        data=document.read(),
        filename=document.name or "document",
        detached=signed_data.read() if signed_data is not None else None,
    )
    return _out(request, record)


@router.get(
    "/signatures/reports/{record_id}",
    response={200: ValidationOut, 404: ErrorOut, 422: ErrorOut},
    summary="A validation report kept by this node",
)
def get_report(request: HttpRequest, record_id: uuid.UUID):
    record = ValidationRecord.objects.current().filter(pk=record_id).first()
    if record is None:
        raise not_found("báo cáo kiểm tra chữ ký", "validation report", "report_not_found")
    return _out(request, record)
