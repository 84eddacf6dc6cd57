"""Approvals on the phone: asking, answering, consuming; pairing and revoking phones.

The contract other apps use (the signing service, the sign-in page):

- ``request_approval(...)`` creates a pending request that the user's paired
  phones show;
- ``consume(...)`` hands an approved request over exactly once, or raises
  ``ApprovalRefused`` with a stable ``code``;
- ``has_paired_device(user)``.

A request's states: pending → approved | denied | expired. Only a pending
request changes: a denial or an expiry is final, and an approval is consumed
once. Every change is audited in its transaction. A refusal that must leave
a trace (an expiry found on the way, a second consume, other hashes) commits
that trace before the refusal is raised.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from webauthn import verify_authentication_response, verify_registration_response
from webauthn.helpers import parse_authentication_credential_json
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidJSONStructure,
    InvalidRegistrationResponse,
)

from lienthong.approvals.ceremonies import approval_challenge
from lienthong.approvals.models import (
    ApprovalRequest,
    Kind,
    PairedDevice,
    PairingCode,
    State,
)
from lienthong.audit import services as audit
from lienthong.audit.middleware import client_address
from lienthong.errors import ApiError
from lienthong.identity import throttle
from lienthong.identity.services import record_about_account

SIGNATURE_SUMMARY_KEYS = ("dossier_code", "document_name", "sha256", "agency")
SIGN_IN_SUMMARY_KEYS = ("ip", "browser", "time")
STEP_UP_SUMMARY_KEYS = ("action", "ip", "browser", "time")
MIN_TTL, MAX_TTL = 10, 600
# The typed pairing code: no 0/O, 1/I/L, easy to read aloud.
SHORT_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
SHORT_CODE_LENGTH = 8


class ApprovalRefused(ApiError):
    """Why an approval cannot be used (or made); ``code`` is stable."""


_MESSAGES = {
    "approval_pending": (
        409,
        "Yêu cầu đang chờ bạn trả lời trên điện thoại.",
        "The request is waiting for your answer on your phone.",
    ),
    "approval_denied": (403, "Yêu cầu đã bị từ chối.", "The request was denied."),
    "approval_expired": (
        410,
        "Yêu cầu đã hết hạn. Vui lòng bắt đầu lại.",
        "The request has expired. Please start again.",
    ),
    "approval_consumed": (409, "Phê duyệt này đã được sử dụng.", "This approval was already used."),
    "approval_other_hashes": (
        409,
        "Phê duyệt này dành cho tài liệu khác.",
        "This approval is for other documents.",
    ),
    "approval_not_found": (404, "Không tìm thấy yêu cầu phê duyệt.", "No such approval request."),
    "approval_answered": (
        409,
        "Yêu cầu này đã được trả lời.",
        "This request has already been answered.",
    ),
    "approval_not_verified": (
        400,
        "Không xác minh được khóa truy cập của điện thoại. Vui lòng thử lại.",
        "The phone's passkey could not be verified. Please try again.",
    ),
    "approval_no_device": (
        409,
        "Tài khoản chưa ghép nối điện thoại nào.",
        "The account has no paired phone.",
    ),
    "approval_invalid": (
        422,
        "Yêu cầu phê duyệt không hợp lệ.",
        "The approval request is not valid.",
    ),
    "approval_rate_limited": (
        429,
        "Quá nhiều yêu cầu phê duyệt. Vui lòng chờ rồi thử lại.",
        "Too many approval requests. Please wait and try again.",
    ),
    "approval_locked": (
        429,
        "Quá nhiều lần thử không thành công. Vui lòng chờ rồi thử lại.",
        "Too many failed attempts. Please wait and try again.",
    ),
    "pairing_invalid": (
        400,
        "Mã ghép nối không đúng, đã hết hạn hoặc đã được dùng.",
        "The pairing code is wrong, has expired or was already used.",
    ),
    "pairing_name_required": (
        400,
        "Vui lòng đặt tên cho điện thoại.",
        "Please give the phone a name.",
    ),
    "pairing_not_verified": (
        400,
        "Không đăng ký được khóa truy cập của điện thoại. Vui lòng thử lại.",
        "The phone's passkey could not be registered. Please try again.",
    ),
}


def refused(code: str, details: list[dict[str, Any]] | None = None) -> ApprovalRefused:
    status, vi, en = _MESSAGES[code]
    return ApprovalRefused(
        status=status, code=code, message_vi=vi, message_en=en, details=details or []
    )


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _id(request_id: Any) -> uuid.UUID | None:
    try:
        return request_id if isinstance(request_id, uuid.UUID) else uuid.UUID(str(request_id))
    except ValueError:
        return None


def _hit_limit(subject: str, limit: int, window: int) -> bool:
    """Count one more event in a fixed window; True when it is over ``limit``.
    The counter is lienthong.identity.throttle's (atomic, shared by every process)."""
    counted = throttle.Limit("approvals-asked", limit + 1, limit + 1, window)
    throttle.record_failure(subject=subject, address=None, limit=counted)
    return throttle.is_locked(subject=subject, address=None, limit=counted)


def has_paired_device(user: Any) -> bool:
    """True when the user has a phone that can answer approval requests."""
    if user is None or not getattr(user, "pk", None):
        return False
    return PairedDevice.objects.filter(user=user, revoked_at__isnull=True).exists()


# --- Asking -------------------------------------------------------------------


def _meta(request_meta: Any) -> tuple[str | None, str]:
    """(client address, user agent) from an HttpRequest or a dict of them."""
    if request_meta is None:
        return None, ""
    if hasattr(request_meta, "META"):
        return client_address(request_meta), request_meta.META.get("HTTP_USER_AGENT", "")[:300]
    ip = request_meta.get("ip") or request_meta.get("ip_address") or None
    return ip, str(request_meta.get("user_agent") or "")[:300]


def _clean_summary(kind: str, summary: Any) -> dict[str, str]:
    keys = {
        Kind.SIGNATURE: SIGNATURE_SUMMARY_KEYS,
        Kind.STEP_UP: STEP_UP_SUMMARY_KEYS,
    }.get(kind, SIGN_IN_SUMMARY_KEYS)
    if not isinstance(summary, dict) or set(summary) != set(keys):
        raise refused("approval_invalid", [{"field": "summary", "expected": list(keys)}])
    clean = {}
    for key in keys:
        value = summary[key]
        if not isinstance(value, str) or not value.strip() or len(value) > 300:
            raise refused("approval_invalid", [{"field": f"summary.{key}"}])
        clean[key] = value.strip()
    return clean


def _clean_hashes(hashes: Iterable[str]) -> list[str]:
    hashes = list(hashes or ())
    if len(hashes) > 100 or any(
        not isinstance(h, str) or not h or len(h) > 200 or h != h.strip() for h in hashes
    ):
        raise refused("approval_invalid", [{"field": "hashes"}])
    return hashes


def _same_hashes(a: Iterable[str], b: Iterable[str]) -> bool:
    # Order does not matter (a batch of documents), repetitions do.
    return sorted(a) == sorted(b)


@transaction.atomic
def request_approval(
    *,
    user: Any,
    kind: str,
    summary: dict,
    hashes: list[str] = (),
    ttl_seconds: int = 120,
    source: str = "web",
    request_meta: Any = None,
) -> ApprovalRequest:
    """Ask the user to approve something on their phone; the pending request.

    ``summary`` is exactly what the phone shows: for a signature the keys
    dossier_code, document_name, sha256 and agency; for a sign-in ip,
    browser and time; for a step-up the action, ip, browser and time. ``hashes`` are the document hashes the approval is
    for (as the caller writes them, compared exactly at ``consume``).
    ``request_meta`` is the asking HttpRequest, or a dict with ``ip`` and
    ``user_agent``. Refused with approval_no_device, approval_invalid or
    approval_rate_limited.
    """
    if kind not in Kind.values:
        raise refused("approval_invalid", [{"field": "kind"}])
    clean = _clean_summary(kind, summary)
    hash_list = _clean_hashes(hashes)
    if not isinstance(ttl_seconds, int) or not MIN_TTL <= ttl_seconds <= MAX_TTL:
        raise refused("approval_invalid", [{"field": "ttl_seconds"}])
    if not has_paired_device(user):
        raise refused("approval_no_device")
    now = timezone.now()
    pending = ApprovalRequest.objects.filter(
        user=user, state=State.PENDING, expires_at__gt=now
    ).count()
    # Both limits stop a stream of prompts meant to tire the user into
    # approving one ("push fatigue").
    if pending >= settings.APPROVALS_MAX_PENDING or _hit_limit(
        f"user:{user.pk}",
        settings.APPROVALS_MAX_PER_WINDOW,
        settings.APPROVALS_RATE_WINDOW_SECONDS,
    ):
        raise refused("approval_rate_limited")
    ip, agent = _meta(request_meta)
    approval = ApprovalRequest.objects.create(
        user=user,
        kind=kind,
        summary=clean,
        hashes=hash_list,
        source=source[:20],
        requesting_ip=ip,
        requesting_user_agent=agent,
        created_at=now,
        expires_at=now + dt.timedelta(seconds=ttl_seconds),
    )
    audit.record(
        actor=user,
        action="approval_requested",
        obj=approval,
        changes={"kind": kind, "summary": clean, "hashes": hash_list, "ttl": ttl_seconds},
        source=source,
    )
    return approval


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
             ("Chrome/", "Chrome"), ("Safari/", "Safari"))  # fmt: skip
_SYSTEMS = (("Windows", "Windows"), ("Android", "Android"), ("iPhone", "iOS"),
            ("iPad", "iPadOS"), ("Mac OS X", "macOS"), ("Linux", "Linux"))  # fmt: skip


def describe_browser(user_agent: str) -> str:
    """A short, honest description of a user agent ("Chrome on Windows"), or the
    raw string cut short when it names nothing known."""
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), "")
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), "")
    if browser and system:
        return f"{browser} / {system}"
    return (browser or system or user_agent.strip()[:80]) or "?"


def request_sign_in(*, user: Any, request: Any, source: str = "web") -> ApprovalRequest:
    """A sign-in approval for the computer making ``request``: the phone shows
    its address, its browser and the time (Hà Nội time, dd/mm/yyyy)."""
    ip, agent = _meta(request)
    summary = {
        "ip": ip or "?",
        "browser": describe_browser(agent),
        "time": timezone.localtime().strftime("%d/%m/%Y %H:%M:%S"),
    }
    return request_approval(
        user=user,
        kind=Kind.SIGN_IN,
        summary=summary,
        ttl_seconds=settings.APPROVALS_SIGN_IN_SECONDS,
        source=source,
        request_meta=request,
    )


def request_step_up(
    *, user: Any, request: Any, action: str, source: str = "web"
) -> ApprovalRequest:
    """A step-up approval (confirming it is the user before a sensitive action):
    the phone shows the action, and the computer's address, browser and time."""
    ip, agent = _meta(request)
    summary = {
        "action": (action or "?")[:300],
        "ip": ip or "?",
        "browser": describe_browser(agent),
        "time": timezone.localtime().strftime("%d/%m/%Y %H:%M:%S"),
    }
    return request_approval(
        user=user,
        kind=Kind.STEP_UP,
        summary=summary,
        ttl_seconds=settings.APPROVALS_SIGN_IN_SECONDS,
        source=source,
        request_meta=request,
    )


def _expire(approval: ApprovalRequest, *, source: str) -> None:
    """Mark an overdue pending request expired (the caller holds its row lock)."""
    approval.state = State.EXPIRED
    approval.answered_at = approval.expires_at
    approval.save(update_fields=["state", "answered_at"])
    audit.record(
        actor="system",
        action="approval_expired",
        obj=approval,
        changes={"kind": approval.kind},
        source=source,
    )


def expire_overdue(*, source: str = "system") -> int:
    """Expire every overdue pending request; how many. (The other paths also
    expire a request when they find it overdue; this sweep keeps the states
    true for requests nobody looks at again.)"""
    count = 0
    ids = ApprovalRequest.objects.filter(
        state=State.PENDING, expires_at__lte=timezone.now()
    ).values_list("pk", flat=True)
    for pk in list(ids):
        with transaction.atomic():
            approval = ApprovalRequest.objects.select_for_update().filter(pk=pk).first()
            if approval is not None and approval.overdue():
                _expire(approval, source=source)
                count += 1
    PairingCode.objects.filter(expires_at__lt=timezone.now() - dt.timedelta(days=1)).delete()
    return count


# --- Consuming ------------------------------------------------------------------


_STATE_REFUSAL = {
    State.PENDING: "approval_pending",
    State.DENIED: "approval_denied",
    State.EXPIRED: "approval_expired",
}


def consume(
    *, request_id: Any, user: Any, kind: str, hashes: list[str] = (), source: str = "web"
) -> ApprovalRequest:
    """Take an approved request, once. The request must be the user's, of this
    kind, approved, not consumed yet, for exactly these hashes, and taken within
    APPROVALS_CONSUME_SECONDS of its approval; otherwise ``ApprovalRefused``
    with approval_pending, approval_denied, approval_expired, approval_consumed,
    approval_other_hashes or approval_not_found (also for another user's request:
    the same answer as for none)."""
    code = None
    with transaction.atomic():
        pk = _id(request_id)
        approval = (
            ApprovalRequest.objects.select_for_update().filter(pk=pk, user=user, kind=kind).first()
            if pk is not None and user is not None and getattr(user, "pk", None)
            else None
        )
        now = timezone.now()
        if approval is None:
            code = "approval_not_found"
        elif approval.overdue(now):
            _expire(approval, source=source)
            code = "approval_expired"
        elif approval.state != State.APPROVED:
            code = _STATE_REFUSAL[approval.state]
        elif approval.consumed_at is not None:
            code = "approval_consumed"
        elif not _same_hashes(approval.hashes, list(hashes or ())):
            code = "approval_other_hashes"
        elif now > approval.answered_at + dt.timedelta(seconds=settings.APPROVALS_CONSUME_SECONDS):
            code = "approval_expired"
        if code in ("approval_consumed", "approval_other_hashes"):
            # Someone tries to use an approval twice or for other documents: keep a trace.
            audit.record(
                actor=user,
                action="approval_refused",
                obj=approval,
                changes={"code": code, "hashes": list(hashes or ())},
                source=source,
            )
        if code is None:
            approval.consumed_at = now
            approval.save(update_fields=["consumed_at"])
            audit.record(
                actor=user,
                action="approval_consumed",
                obj=approval,
                changes={"kind": approval.kind},
                source=source,
            )
    if code is not None:
        raise refused(code)
    return approval


# --- Answering on the phone -----------------------------------------------------------


def _locked_row(*, request_id: Any, device: PairedDevice) -> ApprovalRequest | None:
    pk = _id(request_id)
    if pk is None:
        return None
    # Scoped to the device's user: a phone never reaches another account's requests.
    return ApprovalRequest.objects.select_for_update().filter(pk=pk, user_id=device.user_id).first()


def _answerable(approval: ApprovalRequest | None, *, source: str) -> str | None:
    """Why the request cannot be answered now (expiring it if overdue), or None."""
    if approval is None:
        return "approval_not_found"
    if approval.overdue():
        _expire(approval, source=source)
        return "approval_expired"
    if approval.state != State.PENDING:
        return "approval_answered"
    return None


def _parse_credential(credential: Any):
    if isinstance(credential, str):
        try:
            credential = json.loads(credential)
        except ValueError:
            return None
    if not isinstance(credential, dict):
        return None
    try:
        return parse_authentication_credential_json(credential)
    except (InvalidJSONStructure, ValueError, KeyError, TypeError):
        return None


def approve(
    *,
    request_id: Any,
    device: PairedDevice,
    credential: Any,
    nonce: bytes,
    origins: list[str],
    source: str = "web",
) -> ApprovalRequest:
    """Approve a pending request with the device's passkey (user verification
    required). The assertion must be by this device's credential, over the
    challenge derived from ``nonce`` and the request's content, with a sign
    counter that grew (a clone's replayed counter is refused)."""
    subject = f"approvals-device:{device.pk}"
    if throttle.is_locked(subject=subject, address=None):
        raise refused("approval_locked")
    code = None
    with transaction.atomic():
        device = PairedDevice.objects.select_for_update().filter(pk=device.pk).first()
        if device is None or not device.active:
            raise refused("approval_not_found")
        approval = _locked_row(request_id=request_id, device=device)
        code = _answerable(approval, source=source)
        if code is None:
            code = _verify_assertion(approval=approval, device=device, credential=credential,
                                     nonce=nonce, origins=origins)  # fmt: skip
            if code is None:
                now = timezone.now()
                approval.state = State.APPROVED
                approval.answered_at = now
                approval.device = device
                approval.save(update_fields=["state", "answered_at", "device"])
                audit.record(
                    actor=device.user,
                    action="approval_approved",
                    obj=approval,
                    changes={"kind": approval.kind, "device": device.name, "device_id": device.pk},
                    source=source,
                )
            else:
                audit.record(
                    actor="anonymous",
                    action="approval_failed",
                    obj=approval,
                    changes={"device": device.name, "device_id": device.pk},
                    source=source,
                )
    if code == "approval_not_verified":
        throttle.record_failure(subject=subject, address=None)
    if code is not None:
        raise refused(code)
    return approval


def _verify_assertion(
    *,
    approval: ApprovalRequest,
    device: PairedDevice,
    credential: Any,
    nonce: bytes,
    origins: list[str],
) -> str | None:
    """None when the assertion proves this device approved this request; else the code.

    Updates the device's counter on success (the caller holds its row lock).
    """
    parsed = _parse_credential(credential)
    if parsed is None or bytes(parsed.raw_id) != bytes(device.credential_id):
        return "approval_not_verified"
    handle = parsed.response.user_handle
    if handle is not None and bytes(handle) != bytes(device.user_handle):
        return "approval_not_verified"
    try:
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=approval_challenge(approval, nonce),
            expected_rp_id=settings.IDENTITY_RP_ID,
            expected_origin=origins,
            credential_public_key=bytes(device.public_key),
            credential_current_sign_count=device.sign_count,
            require_user_verification=True,
        )
    except InvalidAuthenticationResponse:
        return "approval_not_verified"
    device.sign_count = verified.new_sign_count
    device.last_used_at = timezone.now()
    device.save(update_fields=["sign_count", "last_used_at"])
    return None


def deny(*, request_id: Any, device: PairedDevice, source: str = "web") -> ApprovalRequest:
    """Deny a pending request from the phone: final."""
    with transaction.atomic():
        device = PairedDevice.objects.filter(pk=device.pk, revoked_at__isnull=True).first()
        if device is None:
            raise refused("approval_not_found")
        approval = _locked_row(request_id=request_id, device=device)
        # An overdue request is expired (and that recorded) rather than denied.
        code = _answerable(approval, source=source)
        if code is None:
            approval.state = State.DENIED
            approval.answered_at = timezone.now()
            approval.device = device
            approval.save(update_fields=["state", "answered_at", "device"])
            audit.record(
                actor=device.user,
                action="approval_denied",
                obj=approval,
                changes={"kind": approval.kind, "device": device.name, "device_id": device.pk},
                source=source,
            )
    if code is not None:
        raise refused(code)
    return approval


# --- Pairing a phone ---------------------------------------------------------------


def normalise_short_code(code: str) -> str:
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())


@transaction.atomic
def start_pairing(*, user: Any, source: str = "web") -> tuple[PairingCode, str, str]:
    """A new pairing invitation: (the row, the URL token, the short code).

    Earlier unused invitations of the user end here: one at a time.
    """
    now = timezone.now()
    PairingCode.objects.filter(user=user, used_at__isnull=True, expires_at__gt=now).update(
        expires_at=now
    )
    token = secrets.token_urlsafe(32)
    while True:
        short = "".join(secrets.choice(SHORT_CODE_ALPHABET) for _ in range(SHORT_CODE_LENGTH))
        if not PairingCode.objects.filter(short_code_hash=_hash(short)).exists():
            break
    pairing = PairingCode.objects.create(
        user=user,
        token_hash=_hash(token),
        short_code_hash=_hash(short),
        created_at=now,
        expires_at=now + dt.timedelta(seconds=settings.APPROVALS_PAIRING_SECONDS),
    )
    audit.record(
        actor=user,
        action="pairing_started",
        obj=pairing,
        changes={"expires_at": pairing.expires_at.isoformat()},
        source=source,
    )
    return pairing, token, f"{short[:4]}-{short[4:]}"


def redeem_pairing(*, token: str = "", short_code: str = "", address: str | None) -> PairingCode:
    """The usable invitation a URL token or a typed short code names.

    Wrong codes count per client address (the short code is short), and a
    locked address is refused even with a right code.
    """
    subject = f"approvals-pairing:{address or 'unknown'}"
    if throttle.is_locked(subject=subject, address=None):
        raise refused("approval_locked")
    if token:
        pairing = PairingCode.objects.filter(token_hash=_hash(token)).first()
    else:
        normal = normalise_short_code(short_code)
        pairing = (
            PairingCode.objects.filter(short_code_hash=_hash(normal)).first()
            if len(normal) == SHORT_CODE_LENGTH
            else None
        )
    if pairing is None or not pairing.usable():
        throttle.record_failure(subject=subject, address=None)
        raise refused("pairing_invalid")
    return pairing


def new_user_handle() -> bytes:
    return secrets.token_bytes(32)


def register_device(
    *,
    pairing_id: int,
    credential: Any,
    challenge: bytes,
    user_handle: bytes,
    origins: list[str],
    name: str,
    source: str = "web",
) -> tuple[PairedDevice, str]:
    """Check the phone's navigator.credentials.create() answer and pair the phone:
    (the device, the secret for its app's cookie). Uses the invitation up."""
    name = (name or "").strip()[:100]
    if not name:
        raise refused("pairing_name_required")
    if isinstance(credential, str):
        try:
            credential = json.loads(credential)
        except ValueError:
            credential = None
    with transaction.atomic():
        pairing = PairingCode.objects.select_for_update().filter(pk=pairing_id).first()
        if pairing is None or not pairing.usable():
            raise refused("pairing_invalid")
        try:
            if not isinstance(credential, dict):
                raise InvalidJSONStructure("not an object")
            verified = verify_registration_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=settings.IDENTITY_RP_ID,
                expected_origin=origins,
                require_user_verification=True,
            )
        except (InvalidRegistrationResponse, InvalidJSONStructure, ValueError, KeyError) as exc:
            raise refused("pairing_not_verified") from exc
        if PairedDevice.objects.filter(credential_id=verified.credential_id).exists():
            raise refused("pairing_not_verified")
        secret = secrets.token_urlsafe(32)
        device = PairedDevice.objects.create(
            user=pairing.user,
            name=name,
            credential_id=verified.credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            aaguid=str(verified.aaguid),
            user_handle=user_handle,
            token_hash=_hash(secret),
        )
        pairing.used_at = timezone.now()
        pairing.save(update_fields=["used_at"])
        record_about_account(
            actor=pairing.user,
            action="factor_added",
            user=pairing.user,
            changes={
                "factor": "phone",
                "name": name,
                "device_id": device.pk,
                "device_type": str(verified.credential_device_type),
            },
            source=source,
        )
    return device, secret


def device_for_secret(secret: str) -> PairedDevice | None:
    """The active paired phone holding this app secret (its cookie), if any."""
    if not secret:
        return None
    return (
        PairedDevice.objects.select_related("user")
        .filter(token_hash=_hash(secret), revoked_at__isnull=True)
        .first()
    )


@transaction.atomic
def revoke_device(*, user: Any, device: PairedDevice, source: str = "web") -> None:
    """Unpair a phone: its passkey and its app's cookie stop working at once."""
    device = PairedDevice.objects.select_for_update().get(pk=device.pk, user=user)
    if not device.active:
        return
    device.revoked_at = timezone.now()
    device.save(update_fields=["revoked_at"])
    record_about_account(
        actor=user,
        action="factor_removed",
        user=user,
        changes={"factor": "phone", "name": device.name, "device_id": device.pk},
        source=source,
    )


def reconnect_device(
    *,
    credential: Any,
    challenge: bytes,
    origins: list[str],
    address: str | None,
    source: str = "web",
) -> tuple[PairedDevice, str]:
    """A paired phone whose app lost its cookie (an installed app on some phones
    keeps its own storage) proves its passkey again and gets a new app secret;
    the old one stops working."""
    if throttle.is_locked(subject=None, address=address):
        raise refused("approval_locked")
    parsed = _parse_credential(credential)
    code = None
    with transaction.atomic():
        device = (
            PairedDevice.objects.select_for_update()
            .filter(credential_id=bytes(parsed.raw_id), revoked_at__isnull=True)
            .first()
            if parsed is not None
            else None
        )
        if device is None:
            code = "approval_not_verified"
        else:
            handle = parsed.response.user_handle
            try:
                if handle is not None and bytes(handle) != bytes(device.user_handle):
                    raise InvalidAuthenticationResponse("user handle")
                verified = verify_authentication_response(
                    credential=parsed,
                    expected_challenge=challenge,
                    expected_rp_id=settings.IDENTITY_RP_ID,
                    expected_origin=origins,
                    credential_public_key=bytes(device.public_key),
                    credential_current_sign_count=device.sign_count,
                    require_user_verification=True,
                )
            except InvalidAuthenticationResponse:
                code = "approval_not_verified"
            else:
                secret = secrets.token_urlsafe(32)
                device.sign_count = verified.new_sign_count
                device.last_used_at = timezone.now()
                device.token_hash = _hash(secret)
                device.save(update_fields=["sign_count", "last_used_at", "token_hash"])
                record_about_account(
                    actor=device.user,
                    action="phone_reconnected",
                    user=device.user,
                    changes={"factor": "phone", "name": device.name, "device_id": device.pk},
                    source=source,
                )
    if code is not None:
        throttle.record_failure(subject=None, address=address)
        raise refused(code)
    return device, secret
