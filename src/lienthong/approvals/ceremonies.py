"""The WebAuthn side of approvals: the phone's own passkey, and challenges bound
to what is approved.

An approval's challenge is not a bare random value: it is
HMAC-SHA256(nonce, digest of the request's content) where the content is the
request id, its user, kind, summary, hashes and expiry. The nonce is fresh for
every attempt (kept by the phone's session and used once), so an assertion
is new each time; the digest makes an assertion made for one request
worthless for any other, or for the same request had its content changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import Any

from django.conf import settings
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
)
from webauthn.helpers.structs import (
    AuthenticatorAttachment,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from lienthong.approvals.models import ApprovalRequest, PairedDevice

TIMEOUT_MS = 120_000
_DOMAIN = b"lienthong.approval.v1\x00"


def content_digest(request: ApprovalRequest) -> bytes:
    """SHA-256 of the request's content in a canonical JSON form."""
    expires = request.expires_at.astimezone(dt.UTC).isoformat(timespec="microseconds")
    content = {
        "id": str(request.pk),
        "user": request.user_id,
        "kind": request.kind,
        "summary": request.summary,
        "hashes": list(request.hashes),
        "expires_at": expires,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).digest()


def approval_challenge(request: ApprovalRequest, nonce: bytes) -> bytes:
    """The challenge an assertion approving ``request`` must sign, for this attempt."""
    return hmac.new(nonce, _DOMAIN + content_digest(request), hashlib.sha256).digest()


def registration_options(*, user: Any, user_handle: bytes, display_name: str) -> tuple[str, bytes]:
    """Options for navigator.credentials.create() on the phone, as JSON, and their challenge.

    A platform authenticator (the phone's own, unlocked by its biometric or
    PIN), user verification required; a discoverable credential is preferred
    so the phone can find it again without a user name.
    """
    options = generate_registration_options(
        rp_id=settings.IDENTITY_RP_ID,
        rp_name=settings.IDENTITY_RP_NAME,
        user_name=user.get_username(),
        user_id=user_handle,
        user_display_name=display_name,
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            authenticator_attachment=AuthenticatorAttachment.PLATFORM,
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        # A phone already paired is not paired twice.
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=bytes(d.credential_id))
            for d in PairedDevice.objects.filter(user=user, revoked_at__isnull=True)
        ],
    )
    return options_to_json(options), options.challenge


def approval_options(*, request: ApprovalRequest, device: PairedDevice, nonce: bytes) -> str:
    """Options for navigator.credentials.get(): this device's credential only."""
    options = generate_authentication_options(
        rp_id=settings.IDENTITY_RP_ID,
        challenge=approval_challenge(request, nonce),
        timeout=TIMEOUT_MS,
        allow_credentials=[PublicKeyCredentialDescriptor(id=bytes(device.credential_id))],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json(options)
