"""Passkeys (WebAuthn) through py_webauthn: registering, signing in, renaming, revoking.

The ceremonies are two requests each: the server hands out options with a
fresh random challenge (kept in the session by the view), the browser asks
the authenticator, and the server checks the answer here against that
challenge, the relying-party id and the accepted origins. The view pops the
challenge before checking, so a challenge answers exactly one ceremony and a
replayed response finds none.

Sign-in uses discoverable credentials: no user name is asked, the
authenticator offers the passkeys it holds for this site and returns the
user handle, a random value (``WebAuthnUser``) rather than a database id.
User verification (biometric or PIN) is required, so a passkey alone is a
multi-factor sign-in.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import parse_authentication_credential_json
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidJSONStructure,
    InvalidRegistrationResponse,
)
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from lienthong.errors import ApiError
from lienthong.identity.models import Account, Passkey, WebAuthnUser
from lienthong.identity.services import record_about_account

TIMEOUT_MS = 120_000


class PasskeyRefused(ApiError):
    pass


def _refused(code: str, vi: str, en: str) -> PasskeyRefused:
    return PasskeyRefused(status=400, code=code, message_vi=vi, message_en=en)


def not_verified() -> PasskeyRefused:
    # One answer for every failed check: which check failed is for the log, not the caller.
    return _refused(
        "passkey_not_verified",
        "Không xác minh được khóa truy cập. Vui lòng thử lại.",
        "The passkey could not be verified. Please try again.",
    )


def no_challenge() -> PasskeyRefused:
    return _refused(
        "passkey_no_challenge",
        "Phiên xác thực đã hết hạn hoặc đã được dùng. Vui lòng bắt đầu lại.",
        "The verification has expired or was already used. Please start again.",
    )


def _handle(user: Any) -> bytes:
    row, _created = WebAuthnUser.objects.get_or_create(
        user=user, defaults={"handle": secrets.token_bytes(32)}
    )
    return bytes(row.handle)


def registration_options(*, user: Any) -> tuple[str, bytes]:
    """Options for navigator.credentials.create(), as JSON, and their challenge."""
    account = Account.objects.filter(user=user).first()
    options = generate_registration_options(
        rp_id=settings.IDENTITY_RP_ID,
        rp_name=settings.IDENTITY_RP_NAME,
        user_name=user.get_username(),
        user_id=_handle(user),
        user_display_name=account.display_name if account else user.get_username(),
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        # The same authenticator is not registered twice for one user.
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=bytes(p.credential_id))
            for p in Passkey.objects.filter(user=user)
        ],
    )
    return options_to_json(options), options.challenge


def authentication_options(*, user: Any = None) -> tuple[str, bytes]:
    """Options for navigator.credentials.get(). Without ``user``, any discoverable
    passkey of this site may answer (sign-in); with one, only theirs (step-up)."""
    allow = (
        [PublicKeyCredentialDescriptor(id=bytes(p.credential_id)) for p in user.passkeys.all()]
        if user is not None
        else []
    )
    options = generate_authentication_options(
        rp_id=settings.IDENTITY_RP_ID,
        timeout=TIMEOUT_MS,
        allow_credentials=allow,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json(options), options.challenge


def _parse(credential: str | dict) -> dict:
    if isinstance(credential, str):
        try:
            credential = json.loads(credential)
        except ValueError as exc:
            raise not_verified() from exc
    if not isinstance(credential, dict):
        raise not_verified()
    return credential


@transaction.atomic
def register(
    *,
    user: Any,
    credential: str | dict,
    challenge: bytes,
    origins: list[str],
    name: str,
    source: str,
) -> Passkey:
    """Check a navigator.credentials.create() answer and store the passkey."""
    name = (name or "").strip()[:100]
    if not name:
        raise _refused(
            "passkey_name_required",
            "Vui lòng đặt tên cho khóa truy cập.",
            "Please give the passkey a name.",
        )
    try:
        verified = verify_registration_response(
            credential=_parse(credential),
            expected_challenge=challenge,
            expected_rp_id=settings.IDENTITY_RP_ID,
            expected_origin=origins,
            require_user_verification=True,
        )
    except (InvalidRegistrationResponse, InvalidJSONStructure, ValueError, KeyError) as exc:
        raise not_verified() from exc
    if Passkey.objects.filter(credential_id=verified.credential_id).exists():
        raise _refused(
            "passkey_already_registered",
            "Khóa truy cập này đã được đăng ký.",
            "This passkey is already registered.",
        )
    passkey = Passkey.objects.create(
        user=user,
        name=name,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        aaguid=str(verified.aaguid),
    )
    record_about_account(
        actor=user,
        action="factor_added",
        user=user,
        changes={"factor": "passkey", "name": name},
        source=source,
    )
    return passkey


@transaction.atomic
def authenticate(
    *, credential: str | dict, challenge: bytes, origins: list[str], user: Any = None
) -> Passkey:
    """Check a navigator.credentials.get() answer; the passkey it proves, or PasskeyRefused.

    With ``user``, the passkey must be theirs. A sign counter that does not
    grow (when the authenticator keeps one) means a cloned authenticator or
    a replayed answer, and is refused.
    """
    data = _parse(credential)
    try:
        parsed = parse_authentication_credential_json(data)
    except (InvalidJSONStructure, ValueError, KeyError, TypeError) as exc:
        raise not_verified() from exc
    # The user's handle comes in the same query (a sign-in is one look-up, one update).
    passkey = (
        Passkey.objects.select_for_update(of=("self",))
        .select_related("user__webauthn_handle")
        .filter(credential_id=parsed.raw_id)
        .first()
    )
    if passkey is None or (user is not None and passkey.user_id != user.pk):
        raise not_verified()
    handle = parsed.response.user_handle
    stored = getattr(passkey.user, "webauthn_handle", None)
    if handle is not None and (stored is None or bytes(handle) != bytes(stored.handle)):
        raise not_verified()
    try:
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=settings.IDENTITY_RP_ID,
            expected_origin=origins,
            credential_public_key=bytes(passkey.public_key),
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=True,
        )
    except InvalidAuthenticationResponse as exc:
        raise not_verified() from exc
    passkey.sign_count = verified.new_sign_count
    passkey.last_used_at = timezone.now()
    passkey.save(update_fields=["sign_count", "last_used_at"])
    return passkey


@transaction.atomic
def rename(*, user: Any, passkey: Passkey, name: str, source: str) -> Passkey:
    name = (name or "").strip()[:100]
    if not name:
        raise _refused(
            "passkey_name_required",
            "Vui lòng đặt tên cho khóa truy cập.",
            "Please give the passkey a name.",
        )
    record_about_account(
        actor=user,
        action="factor_renamed",
        user=user,
        changes={"factor": "passkey", "name": [passkey.name, name]},
        source=source,
    )
    passkey.name = name
    passkey.save(update_fields=["name"])
    return passkey


@transaction.atomic
def revoke(*, user: Any, passkey: Passkey, source: str) -> None:
    record_about_account(
        actor=user,
        action="factor_removed",
        user=user,
        changes={"factor": "passkey", "name": passkey.name},
        source=source,
    )
    passkey.delete()
