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
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status
from ninja.security import HttpBearer

from lienthong.audit import services as audit
from lienthong.audit.models import AuditRecord
from lienthong.errors import ApiError, ErrorOut, not_found
from lienthong.exchange import envelope as envelopes
from lienthong.exchange import services
from lienthong.exchange.models import InboundMessage, OutboundMessage, SystemClient

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
            SystemClient.objects.filter(pk=system.pk).update(last_used_at=timezone.now())
        return system


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
