"""The adapter API: how a system not built on Liên Thông uses the exchange.

A connected system (``SystemClient``: one subsystem of one agency hosted by
this node) authenticates with a bearer token (``lienthong exchange
add-system``; only its SHA-256 is stored) and may:

- ``POST /api/v1/exchange/outbox`` — send an envelope as
  ``VN:GOV:{its agency}:{its subsystem}``: the node signs it with the agency's
  key and delivers it (outbox, worker, receipts, log) like any other;
- ``GET /api/v1/exchange/outbox/{envelope_id}`` — follow it: state, attempts,
  last error, the refusal code, when it was delivered;
- ``GET /api/v1/exchange/inbox`` — pull the envelopes addressed to it that it
  has not acknowledged yet, oldest first;
- ``POST /api/v1/exchange/inbox/ack`` — acknowledge those it has taken in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Annotated, Any

from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils import timezone
from ninja import Field, Path, Query, Router, Schema, Status
from ninja.security import HttpBearer

from lienthong.audit import services as audit
from lienthong.audit.models import AuditRecord
from lienthong.errors import ApiError, ErrorOut, not_found
from lienthong.exchange import attachments, queries, services, webhooks
from lienthong.exchange import envelope as envelopes
from lienthong.exchange.models import InboundMessage, OutboundMessage, SystemClient

LAST_USED_PRECISION = dt.timedelta(minutes=1)
TOKEN_PREFIX = "lt_"  # noqa: S105  (a prefix that makes tokens recognisable, not a secret)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_system(*, actor: Any, agency, subsystem: str, name: str) -> tuple[SystemClient, str]:
    """Register a system; returns it and its token (shown once, never stored)."""
    envelopes.Member.parse(f"VN:GOV:{agency.identifier}:{subsystem}", "subsystem")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        system = SystemClient.objects.create(
            agency=agency, subsystem=subsystem, name=name, token_sha256=_digest(token)
        )
        audit.record(
            actor=actor,
            action=AuditRecord.Action.CREATE,
            obj=system,
            changes={"agency": agency.identifier, "subsystem": subsystem, "name": name},
            source="exchange",
        )
    return system, token


class SystemToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> SystemClient | None:
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        system = (
            SystemClient.objects.select_related("agency")
            .filter(token_sha256=_digest(token), is_enabled=True)
            .first()
        )
        if system is not None:
            now = timezone.now()
            # A write per call would cost a commit per query: a minute's precision is enough.
            if system.last_used_at is None or now - system.last_used_at > LAST_USED_PRECISION:
                SystemClient.objects.filter(pk=system.pk).update(last_used_at=now)
        return system


# A file is named by its SHA-256 (attachments.py).
Digest = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]

router = Router(tags=["exchange adapter"], auth=SystemToken())


class AttachmentIn(Schema):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    media_type: str = Field(max_length=128)
    name: str = Field("", max_length=255)


class SendIn(Schema):
    type: str = Field(max_length=80, examples=["dossier.status"])
    recipient: str = Field(max_length=120, examples=["VN:GOV:000.00.00.G22:dossiers"])
    correlation_id: str = Field(max_length=100, examples=["000.00.00.G12-261128-0001"])
    payload: dict[str, Any]
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=100)


class MessageOut(Schema):
    envelope_id: str
    type: str
    recipient: str
    correlation_id: str
    state: str
    attempts: int
    last_error: str
    refusal_code: str
    created_at: dt.datetime
    delivered_at: dt.datetime | None


class InboxItem(Schema):
    envelope_id: str
    type: str
    sender: str
    correlation_id: str
    created_at: dt.datetime
    received_at: dt.datetime
    payload: dict[str, Any]
    token: str = Field(description="The signed envelope (JWS), for the system's own records")


class InboxQuery(Schema):
    limit: int = Field(50, ge=1, le=500)


class AckIn(Schema):
    envelope_ids: list[str] = Field(min_length=1, max_length=500)


class AckOut(Schema):
    acknowledged: int


def _refused(code: str, vi: str, en: str, status: int = 422) -> ApiError:
    return ApiError(status, code, vi, en)


@router.post(
    "/exchange/outbox",
    response={201: MessageOut, 401: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    summary="Send an envelope as this system (signed and delivered by the node)",
)
def send(request: HttpRequest, body: SendIn):
    system: SystemClient = request.auth
    try:
        message = services.send(
            actor=f"system:{system.member}",
            type=body.type,
            sender=system.member,
            recipient=body.recipient,
            correlation_id=body.correlation_id,
            payload=body.payload,
            attachments=[a.model_dump() for a in body.attachments],
        )
    except envelopes.EnvelopeError as exc:
        raise _refused(
            exc.code, f"Phong bì không hợp lệ: {exc.detail}", f"Invalid envelope: {exc.detail}"
        ) from exc
    except services.ExchangeRefused as exc:
        raise ApiError(409, exc.code, exc.message_vi, exc.message_en) from exc
    return Status(201, message)


@router.get(
    "/exchange/outbox/{envelope_id}",
    response={200: MessageOut, 401: ErrorOut, 404: ErrorOut},
    summary="The delivery state of an envelope this system sent",
)
def follow(request: HttpRequest, envelope_id: str):
    system: SystemClient = request.auth
    message = OutboundMessage.objects.filter(envelope_id=envelope_id, sender=system.member).first()
    if message is None:
        raise not_found("phong bì", "envelope", "envelope_not_found")
    return message


@router.get(
    "/exchange/inbox",
    response={200: list[InboxItem], 401: ErrorOut, 422: ErrorOut},
    summary="Envelopes addressed to this system, not yet acknowledged, oldest first",
)
def inbox(request: HttpRequest, query: Query[InboxQuery]):
    system: SystemClient = request.auth
    return list(
        InboundMessage.objects.filter(
            recipient=system.member, acknowledged_at__isnull=True
        ).order_by("pk")[: query.limit]
    )


@router.post(
    "/exchange/inbox/ack",
    response={200: AckOut, 401: ErrorOut, 422: ErrorOut},
    summary="Acknowledge envelopes taken in (they leave the inbox)",
)
def acknowledge(request: HttpRequest, body: AckIn):
    system: SystemClient = request.auth
    count = InboundMessage.objects.filter(
        recipient=system.member, envelope_id__in=body.envelope_ids, acknowledged_at__isnull=True
    ).update(acknowledged_at=timezone.now())
    return {"acknowledged": count}


# --- Signed webhooks (webhooks.py) ------------------------------------------------------------


class WebhookIn(Schema):
    url: str = Field(max_length=300, examples=["https://motcua.example.gov.vn/lienthong/hook"])


class WebhookOut(Schema):
    url: str
    secret: str = Field(
        description="HMAC-SHA256 key (hex) of the X-Lienthong-Signature header; shown once."
    )


@router.put(
    "/exchange/webhook",
    response={200: WebhookOut, 401: ErrorOut, 422: ErrorOut},
    summary="Receive this system's envelopes as signed posts (a new secret each time)",
)
def set_webhook(request: HttpRequest, body: WebhookIn):
    """Every envelope accepted for this system is then posted to `url` with
    `X-Lienthong-Signature: t={unix time},v1={hex HMAC-SHA256(secret, "{t}.{body}")}`;
    a 2xx answer acknowledges it. Retried with backoff; the pull inbox keeps what
    could not be posted."""
    system: SystemClient = request.auth
    try:
        secret = webhooks.set_webhook(actor=f"system:{system.member}", system=system, url=body.url)
    except ValueError as exc:
        raise _refused(
            "invalid_webhook_url",
            "Địa chỉ webhook phải là một URL http(s).",
            "The webhook address must be an http(s) URL.",
        ) from exc
    return {"url": body.url, "secret": secret}


@router.delete(
    "/exchange/webhook",
    response={204: None, 401: ErrorOut},
    summary="Stop the posts (envelopes stay in the pull inbox)",
)
def remove_webhook(request: HttpRequest):
    system: SystemClient = request.auth
    webhooks.remove_webhook(actor=f"system:{system.member}", system=system)
    return Status(204, None)


# --- Synchronous queries (queries.py) --------------------------------------------------------

QUERY_DESCRIPTION = """\
Call a service of another agency's system through this node, X-Road REST style:
`{method} /api/v1/exchange/query/VN:GOV:{agency}:{subsystem}/{service}/{path}?{query}`.
This node signs the request as the calling system's agency and sends it to the
provider's node, which checks it (signature, chain, directory, access right
`query.{service}`, clock, replay), forwards it to the provider system and
answers with a signed response carrying the SHA-256 of the signed request.
Both nodes log both. The provider system's status, content type and body come
back as they are, with `X-Lienthong-Query-Id`, `X-Lienthong-Request-Sha256` and
`X-Lienthong-Response-Sha256`. A refusal is a JSON error with a stable `code`.
Optional request header: `X-Lienthong-Correlation-Id` (the dossier code).
"""


def query_service(request: HttpRequest, provider: str, service: str):
    return _query(request, provider, service, "")


def query_path(request: HttpRequest, provider: str, service: str, rest: str):
    return _query(request, provider, service, rest)


def _query(request: HttpRequest, provider: str, service: str, rest: str):
    system: SystemClient = request.auth
    try:
        body = request.body
    except RequestDataTooBig:
        body = None
    try:
        if body is None:
            raise queries.QueryFailed("body_too_large")
        answer = queries.call(
            system=system,
            provider=provider,
            service=service,
            method=request.method or "GET",
            path=f"/{rest}" if rest else "",
            query=request.META.get("QUERY_STRING", ""),
            body=body,
            content_type=request.headers.get("Content-Type", ""),
            correlation_id=request.headers.get("X-Lienthong-Correlation-Id", ""),
        )
    except queries.QueryFailed as failed:
        raise ApiError(failed.status, failed.code, failed.message_vi, failed.message_en) from failed
    if answer.error:
        status, vi, en = queries.ERRORS[answer.error]
        error = ApiError(status, answer.error, vi, en)
        response = JsonResponse(error.body(), status=status)
    else:
        response = HttpResponse(
            answer.body,
            status=answer.status,
            content_type=answer.content_type or "application/octet-stream",
        )
    response["X-Lienthong-Query-Id"] = answer.query_id
    response["X-Lienthong-Request-Sha256"] = answer.request_sha256
    response["X-Lienthong-Response-Sha256"] = answer.response_sha256
    return response


_QUERY_RESPONSES = {
    200: None,
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    413: ErrorOut,
    502: ErrorOut,
    503: ErrorOut,
    504: ErrorOut,
}
for _method in queries.METHODS:
    for _suffix, _view in (("", query_service), ("/{path:rest}", query_path)):
        router.add_api_operation(
            "/exchange/query/{provider}/{service}" + _suffix,
            [_method],
            _view,
            response=_QUERY_RESPONSES,
            operation_id=f"{_view.__name__}_{_method.lower()}",
            summary=f"Synchronous query ({_method}) to another agency's service",
            description=QUERY_DESCRIPTION,
        )


# --- Attachment files (attachments.py) ---------------------------------------------------------


class AttachmentOut(Schema):
    sha256: str
    size: int


def _attachment_refused(exc: attachments.AttachmentRefused) -> ApiError:
    status, vi, en = attachments.REFUSALS[exc.code]
    return ApiError(status, exc.code, vi, en)


@router.put(
    "/exchange/attachments/{sha256}",
    response={201: AttachmentOut, 401: ErrorOut, 413: ErrorOut, 422: ErrorOut},
    summary="Upload a file this system will attach to an envelope (before sending it)",
    openapi_extra=attachments.UPLOAD_BODY,
)
def upload_attachment(request: HttpRequest, sha256: Digest):
    """Streamed, up to LIENTHONG_EXCHANGE_MAX_ATTACHMENT_BYTES; kept under its SHA-256
    only when the bytes match it. The envelope then names it in `attachments`."""
    try:
        stored, size = attachments.store_upload(request, sha256)
    except attachments.AttachmentRefused as exc:
        raise _attachment_refused(exc) from exc
    return Status(201, {"sha256": stored, "size": size})


@router.get(
    "/exchange/attachments/{sha256}",
    response={200: None, 401: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Download a file attached to an envelope this system received or sent",
)
def download_attachment(request: HttpRequest, sha256: Digest):
    system: SystemClient = request.auth
    try:
        size = attachments.size_of(sha256)
    except attachments.AttachmentRefused as exc:
        raise _attachment_refused(exc) from exc
    # Only a file of one of its own envelopes: the same answer for absent and not its own.
    mine = (
        InboundMessage.objects.filter(
            recipient=system.member, attachment_digests__contains=sha256
        ).exists()
        or OutboundMessage.objects.filter(
            sender=system.member, attachment_digests__contains=sha256
        ).exists()
    )
    if size is None or not mine:
        raise not_found("tệp đính kèm", "attachment", "attachment_not_found")
    response = StreamingHttpResponse(
        attachments.read(sha256), content_type="application/octet-stream"
    )
    response["Content-Length"] = str(size)
    response["Content-Disposition"] = f'attachment; filename="{sha256}"'
    return response
