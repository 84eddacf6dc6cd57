"""Sending and receiving envelopes: the outbox, the receiver's checks, signed receipts.

Sending (``send``) signs the envelope with the sender agency's key and queues
it in the caller's transaction — the business change and its message commit
together or not at all (transactional outbox); ``delivery.py`` carries it.

Receiving (``receive``) checks one signed envelope, in this order, and refuses
it with the first reason that applies:

==========================  ==================================================
``malformed``               not a compact JWS of an envelope (envelope.py)
``signature_invalid``       the signature or canonical JSON does not verify
``untrusted_chain``         no path to an enabled root of either hierarchy
``certificate_revoked``     the signer's (or a CA's) certificate is revoked
``revocation_unknown``      the revocation status could not be obtained
``signature_indeterminate`` any other reason the signature is not TOTAL-PASSED
``unknown_sender``          the sender agency is not in the directory (active)
``sender_mismatch``         the certificate is not the sender agency's
``unknown_recipient``       the recipient agency is not hosted by this node
``clock_skew``              created more than the allowed skew in the future
``expired``                 created longer ago than the replay window
``forbidden``               no access right lets the sender send that type
==========================  ==================================================

An accepted envelope is stored once (the id is unique) with a positive
receipt; the same envelope again gets the same receipt back, so a sender that
retries after a lost answer changes nothing (exactly-once in effect). A
refusal is a negative receipt with the reason code; nothing is stored but the
log record. Every envelope and receipt goes into the message log (log.py).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from lienthong.directory.models import Agency
from lienthong.exchange import envelope as envelopes
from lienthong.exchange import log
from lienthong.exchange.models import AccessRight, InboundMessage, LogRecord, OutboundMessage
from lienthong.node import this_node
from lienthong.trust import signing
from lienthong.trust.models import SigningKey
from lienthong.trust.validation.jws import verify_jws
from lienthong.trust.validation.report import Indication

RECEIPT_TYPE = "exchange.receipt"
API_PATH = "/api/v1/exchange/envelopes"

REFUSALS = {
    "malformed": (
        "Phong bì không đúng định dạng",
        "The envelope is not well-formed",
    ),
    "signature_invalid": ("Chữ ký số không hợp lệ", "The signature is not valid"),
    "untrusted_chain": (
        "Chứng thư số không dẫn tới gốc tin cậy nào",
        "The certificate does not lead to a trusted root",
    ),
    "certificate_revoked": ("Chứng thư số đã bị thu hồi", "The certificate is revoked"),
    "revocation_unknown": (
        "Chưa xác định được tình trạng thu hồi của chứng thư số",
        "The revocation status of the certificate is unknown",
    ),
    "signature_indeterminate": (
        "Không xác định được tính hợp lệ của chữ ký số",
        "The validity of the signature could not be established",
    ),
    "unknown_sender": (
        "Cơ quan gửi không có trong danh bạ",
        "The sending agency is not in the directory",
    ),
    "sender_mismatch": (
        "Chứng thư số không phải của cơ quan gửi",
        "The certificate does not belong to the sending agency",
    ),
    "unknown_recipient": (
        "Cơ quan nhận không thuộc nút này",
        "The receiving agency is not hosted by this node",
    ),
    "clock_skew": (
        "Thời điểm tạo phong bì lệch quá xa so với đồng hồ của nút nhận",
        "The envelope's creation time is too far ahead of the receiver's clock",
    ),
    "expired": (
        "Phong bì đã quá hạn tiếp nhận",
        "The envelope is older than the receiver accepts",
    ),
    "forbidden": (
        "Cơ quan gửi không có quyền gửi loại thông điệp này",
        "The sending agency may not send this type of message",
    ),
}
_SUB_INDICATION_REFUSALS = {
    "HASH_FAILURE": "signature_invalid",
    "SIG_CRYPTO_FAILURE": "signature_invalid",
    "FORMAT_FAILURE": "signature_invalid",
    "NO_CERTIFICATE_CHAIN_FOUND": "untrusted_chain",
    "CERTIFICATE_CHAIN_GENERAL_FAILURE": "untrusted_chain",
    "REVOKED": "certificate_revoked",
    "REVOKED_NO_POE": "certificate_revoked",
    "REVOKED_CA_NO_POE": "certificate_revoked",
    "TRY_LATER": "revocation_unknown",
}


class ExchangeRefused(Exception):
    """The sender's own side cannot send (no key, unknown recipient, …)."""

    def __init__(self, code: str, message_vi: str, message_en: str):
        self.code, self.message_vi, self.message_en = code, message_vi, message_en
        super().__init__(message_en)


# --- Sending -----------------------------------------------------------------------------


def agency_key(agency_identifier: str) -> SigningKey:
    """The enabled key the node holds for an agency (the newest), to sign its envelopes."""
    key = (
        SigningKey.objects.filter(agency__identifier=agency_identifier, is_enabled=True)
        .order_by("-not_after", "-pk")
        .first()
    )
    if key is None:
        raise ExchangeRefused(
            "no_signing_key",
            f"Nút không giữ khóa ký nào đang dùng được của cơ quan {agency_identifier}.",
            f"The node holds no enabled signing key of agency {agency_identifier}.",
        )
    return key


def endpoint_for(recipient: envelopes.Member) -> str:
    """Where the recipient agency's node receives envelopes (from the directory)."""
    agency = (
        Agency.objects.select_related("node")
        .filter(identifier=recipient.agency, is_active=True)
        .first()
    )
    if agency is None or agency.node is None or not agency.node.base_url:
        raise ExchangeRefused(
            "unknown_recipient",
            f"Danh bạ không có nút nhận của cơ quan {recipient.agency}.",
            f"The directory lists no receiving node for agency {recipient.agency}.",
        )
    return agency.node.base_url.rstrip("/") + API_PATH


def send(
    *,
    actor: Any,
    type: str,
    sender: str,
    recipient: str,
    correlation_id: str,
    payload: dict[str, Any],
    attachments: list[dict[str, Any]] | None = None,
) -> OutboundMessage:
    """Sign an envelope and queue it, in the caller's transaction (the outbox)."""
    built = envelopes.new(
        type=type,
        sender=sender,
        recipient=recipient,
        correlation_id=correlation_id,
        payload=payload,
        attachments=attachments,
    )
    endpoint = endpoint_for(built.recipient)
    key = agency_key(built.sender.agency)
    token = signing.sign_jws(
        actor=actor, key=key, payload=built.as_dict(), source="exchange", audit=False
    )
    with transaction.atomic():
        message = OutboundMessage.objects.create(
            envelope_id=built.id,
            type=built.type,
            sender=str(built.sender),
            recipient=str(built.recipient),
            correlation_id=built.correlation_id,
            created_at=built.created_at,
            token=token,
            token_sha256=_sha256(token),
            endpoint=endpoint,
            next_attempt_at=timezone.now(),
        )
        log.append(
            kind=LogRecord.Kind.ENVELOPE_SENT,
            envelope_id=built.id,
            correlation_id=built.correlation_id,
            content=token,
        )
    return message


# --- Receiving ---------------------------------------------------------------------------


@dataclass
class Outcome:
    envelope_id: str | None
    accepted: bool
    receipt: str
    code: str | None = None
    duplicate: bool = False


class _Refusal(Exception):
    def __init__(self, code: str, detail: str = ""):
        self.code, self.detail = code, detail


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _payload(token: str) -> Any:
    parts = token.split(".")
    if len(parts) != 3:
        raise _Refusal("malformed", "not a compact JWS")
    segment = parts[1]
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        return json.loads(raw)
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise _Refusal("malformed", "the payload is not JSON") from exc


def _allowed(sender: Agency, recipient: Agency, message_type: str) -> bool:
    family = message_type.split(".")[0] + ".*"
    return AccessRight.objects.filter(
        Q(consumer=sender) | Q(consumer__isnull=True),
        provider=recipient,
        message_type__in=[message_type, family],
        is_enabled=True,
    ).exists()


def _check(token: str, now: dt.datetime) -> tuple[envelopes.Envelope, Agency]:
    """The receiver's checks, in the documented order; the recipient agency if all pass."""
    if not isinstance(token, str) or len(token) > settings.EXCHANGE_MAX_ENVELOPE_BYTES:
        raise _Refusal("malformed", "too large or not text")
    try:
        parsed = envelopes.parse(_payload(token))
    except envelopes.EnvelopeError as exc:
        raise _Refusal("malformed", str(exc)) from exc
    result = verify_jws(token)
    if result.indication != Indication.TOTAL_PASSED:
        code = _SUB_INDICATION_REFUSALS.get(result.sub_indication or "", "signature_indeterminate")
        raise _Refusal(code, f"{result.indication}/{result.sub_indication}")
    sender = Agency.objects.filter(identifier=parsed.sender.agency, is_active=True).first()
    if sender is None:
        raise _Refusal("unknown_sender", parsed.sender.agency)
    if result.signer is None or parsed.sender.agency not in result.signer.identifiers:
        raise _Refusal("sender_mismatch", result.signer.subject if result.signer else "")
    hosted = {a.identifier: a for a in this_node().hosted_agencies()}
    recipient = hosted.get(parsed.recipient.agency)
    if recipient is None:
        raise _Refusal("unknown_recipient", parsed.recipient.agency)
    skew = dt.timedelta(seconds=settings.EXCHANGE_MAX_CLOCK_SKEW)
    if parsed.created_at > now + skew:
        raise _Refusal("clock_skew", envelopes.format_time(parsed.created_at))
    if parsed.created_at < now - dt.timedelta(seconds=settings.EXCHANGE_REPLAY_WINDOW):
        raise _Refusal("expired", envelopes.format_time(parsed.created_at))
    if not _allowed(sender, recipient, parsed.type):
        raise _Refusal("forbidden", f"{parsed.sender.agency} → {parsed.type}")
    return parsed, recipient


def _receipt(
    *,
    envelope_id: str | None,
    token: str,
    accepted: bool,
    code: str | None,
    signer_agency: str | None,
    now: dt.datetime,
) -> str:
    """A receipt, signed by the recipient agency (or, when that is unknown, by the
    first agency this node hosts that has a key)."""
    body = {
        "type": RECEIPT_TYPE,
        "receipt_for": envelope_id,
        "envelope_sha256": _sha256(token) if isinstance(token, str) else None,
        "status": "accepted" if accepted else "refused",
        "reason": code,
        "receiver": this_node().identifier,
        "received_at": envelopes.format_time(now),
    }
    if code:
        body["message_vi"], body["message_en"] = REFUSALS[code]
    candidates = [signer_agency] if signer_agency else []
    candidates += [a.identifier for a in this_node().hosted_agencies()]
    for identifier in candidates:
        try:
            key = agency_key(identifier)
        except ExchangeRefused:
            continue
        return signing.sign_jws(
            actor="exchange", key=key, payload=body, source="exchange", audit=False
        )
    raise ExchangeRefused(
        "no_signing_key",
        "Nút không giữ khóa ký nào để ký biên nhận.",
        "The node holds no signing key to sign receipts with.",
    )


def receive(token: str) -> Outcome:
    """Check one signed envelope; store it if accepted; answer with a signed receipt."""
    now = timezone.now()
    envelope_id = None
    try:
        envelope_id = _payload(token).get("id") if isinstance(token, str) else None
    except (_Refusal, AttributeError):
        envelope_id = None
    if not isinstance(envelope_id, str) or len(envelope_id) != 36:
        envelope_id = None
    if envelope_id:
        stored = InboundMessage.objects.filter(envelope_id=envelope_id).first()
        if stored is not None and stored.token_sha256 == _sha256(token):
            return Outcome(envelope_id, True, stored.receipt, duplicate=True)
    try:
        parsed, recipient = _check(token, now)
    except _Refusal as refusal:
        return _refuse(token, envelope_id, refusal.code, now)
    receipt = _receipt(
        envelope_id=parsed.id,
        token=token,
        accepted=True,
        code=None,
        signer_agency=recipient.identifier,
        now=now,
    )
    try:
        with transaction.atomic():
            InboundMessage.objects.create(
                envelope_id=parsed.id,
                type=parsed.type,
                sender=str(parsed.sender),
                recipient=str(parsed.recipient),
                correlation_id=parsed.correlation_id,
                created_at=parsed.created_at,
                received_at=now,
                token=token,
                token_sha256=_sha256(token),
                payload=parsed.payload,
                receipt=receipt,
            )
            log.append(
                kind=LogRecord.Kind.ENVELOPE_RECEIVED,
                envelope_id=parsed.id,
                correlation_id=parsed.correlation_id,
                content=token,
            )
            log.append(
                kind=LogRecord.Kind.RECEIPT_SENT,
                envelope_id=parsed.id,
                correlation_id=parsed.correlation_id,
                content=receipt,
            )
    except IntegrityError:
        # The same id arrived meanwhile (a retry racing the first attempt), or
        # another envelope reuses an id: the stored receipt answers, if it is the same.
        stored = InboundMessage.objects.filter(envelope_id=parsed.id).first()
        if stored is not None and stored.token_sha256 == _sha256(token):
            return Outcome(parsed.id, True, stored.receipt, duplicate=True)
        return _refuse(token, parsed.id, "replayed", now)
    return Outcome(parsed.id, True, receipt)


REFUSALS["replayed"] = (
    "Mã phong bì đã được dùng cho một phong bì khác",
    "The envelope id was already used for another envelope",
)


def _refuse(token: Any, envelope_id: str | None, code: str, now: dt.datetime) -> Outcome:
    text = token if isinstance(token, str) else ""
    receipt = _receipt(
        envelope_id=envelope_id,
        token=text,
        accepted=False,
        code=code,
        signer_agency=None,
        now=now,
    )
    with transaction.atomic():
        log.append(
            kind=LogRecord.Kind.RECEIPT_SENT,
            envelope_id=envelope_id or "",
            correlation_id="",
            content=receipt,
        )
    return Outcome(envelope_id, False, receipt, code=code)


def receive_batch(tokens: list[Any]) -> list[Outcome]:
    return [receive(token) for token in tokens]
