"""Second factors by code: an authenticator app (TOTP), backup codes, SMS codes.

Checking a code is a write (a code is accepted once), so the checks live
here with the enrolments, each in one transaction with its audit record.
Failures are counted by lienthong.identity.signin, which decides lockout.

Backup and SMS codes are stored as an HMAC-SHA256 under a key derived from
the node's key-encryption key: a copy of the database alone does not let
anyone try codes offline, and checking stays a single lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import timedelta
from typing import Any

import pyotp
import segno
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from lienthong.audit.services import actor_label
from lienthong.identity import sealing, sms
from lienthong.identity.models import Account, BackupCode, SmsCode, TotpDevice
from lienthong.identity.services import record_about_account

BACKUP_CODE_COUNT = 10
_BACKUP_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
TOTP_STEP = 30


def _code_hash(user_id: int, purpose: str, code: str) -> str:
    key = hashlib.sha256(b"lienthong identity codes v1" + settings.KEY_ENCRYPTION_KEY.encode())
    normalised = code.strip().lower().replace(" ", "").replace("-", "")
    message = f"{purpose}:{user_id}:{normalised}".encode()
    return hmac.new(key.digest(), message, hashlib.sha256).hexdigest()


# --- Authenticator app (TOTP, RFC 6238) ---------------------------------------


def _bound(device_user_id: int) -> str:
    return f"totp:{device_user_id}"


def totp_secret(device: TotpDevice) -> str:
    return sealing.unseal(device.sealed_secret, bound_to=_bound(device.user_id)).decode()


@transaction.atomic
def start_totp_enrolment(*, user: Any) -> TotpDevice:
    """A new, unconfirmed seed for the user (replacing an unconfirmed one).

    A confirmed app is never replaced here: it is removed first, after a
    fresh verification (views require it).
    """
    secret = pyotp.random_base32()
    device, _created = TotpDevice.objects.select_for_update().get_or_create(
        user=user, defaults={"sealed_secret": b""}
    )
    if device.confirmed:
        return device
    device.sealed_secret = sealing.seal(secret.encode(), bound_to=_bound(user.pk))
    device.last_used_step = 0
    device.save()
    return device


def provisioning_uri(device: TotpDevice) -> str:
    account = Account.objects.filter(user_id=device.user_id).first()
    name = account.display_name if account else device.user.get_username()
    return pyotp.TOTP(totp_secret(device)).provisioning_uri(
        name=f"{device.user.get_username()} ({name})", issuer_name=settings.IDENTITY_RP_NAME
    )


def qr_data_uri(text: str) -> str:
    """An SVG QR code as a data: URI, for an <img> with a text alternative."""
    return segno.make(text, error="m").svg_data_uri(scale=5, border=2)


def _check_totp(device: TotpDevice, code: str) -> bool:
    """Accept the current code or its neighbours (clock drift), each step once."""
    code = code.strip().replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return False
    totp = pyotp.TOTP(totp_secret(device))
    now = time.time()
    current = int(now // TOTP_STEP)
    for step in (current - 1, current, current + 1):
        if step <= device.last_used_step:
            continue
        if hmac.compare_digest(totp.at(step * TOTP_STEP), code):
            device.last_used_step = step
            device.save(update_fields=["last_used_step"])
            return True
    return False


@transaction.atomic
def confirm_totp(*, user: Any, code: str, source: str) -> list[str] | None:
    """Confirm the app with a first code; returns fresh backup codes, or None if wrong."""
    device = TotpDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
    if device is None or not _check_totp(device, code):
        return None
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    record_about_account(
        actor=user,
        action="factor_added",
        user=user,
        changes={"factor": "totp"},
        source=source,
    )
    return _new_backup_codes(user=user, source=source)


@transaction.atomic
def issue_totp(*, actor: Any, user: Any, source: str) -> tuple[str, list[str]]:
    """An operator sets up an authenticator app for ``user`` (e.g. a node's first
    operator, from the command line): the seed and ten backup codes, to hand over
    in person. Replaces any app the user had."""
    TotpDevice.objects.filter(user=user).delete()
    secret = pyotp.random_base32()
    TotpDevice.objects.create(
        user=user,
        sealed_secret=sealing.seal(secret.encode(), bound_to=_bound(user.pk)),
        confirmed=True,
    )
    record_about_account(
        actor=actor,
        user=user,
        action="factor_added",
        changes={"factor": "totp", "issued_by": actor_label(actor)},
        source=source,
    )
    return secret, _new_backup_codes(user=user, source=source)


@transaction.atomic
def verify_totp(*, user: Any, code: str) -> bool:
    device = TotpDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
    return device is not None and _check_totp(device, code)


@transaction.atomic
def remove_totp(*, actor: Any, user: Any, source: str) -> None:
    deleted, _by_type = TotpDevice.objects.filter(user=user).delete()
    BackupCode.objects.filter(user=user).delete()
    if deleted:
        record_about_account(
            actor=actor,
            action="factor_removed",
            user=user,
            changes={"factor": "totp"},
            source=source,
        )


def has_totp(user: Any) -> bool:
    return TotpDevice.objects.filter(user=user, confirmed=True).exists()


# --- Backup codes ---------------------------------------------------------------


def _new_backup_codes(*, user: Any, source: str) -> list[str]:
    BackupCode.objects.filter(user=user).delete()
    codes = []
    for _i in range(BACKUP_CODE_COUNT):
        raw = "".join(secrets.choice(_BACKUP_ALPHABET) for _j in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    BackupCode.objects.bulk_create(
        BackupCode(user=user, code_hash=_code_hash(user.pk, "backup", code)) for code in codes
    )
    record_about_account(
        actor=user,
        action="factor_added",
        user=user,
        changes={"factor": "backup_codes"},
        source=source,
    )
    return codes


@transaction.atomic
def regenerate_backup_codes(*, user: Any, source: str) -> list[str]:
    """Ten new single-use codes; the old ones stop working. Shown once."""
    return _new_backup_codes(user=user, source=source)


@transaction.atomic
def use_backup_code(*, user: Any, code: str, source: str) -> bool:
    backup = (
        BackupCode.objects.select_for_update()
        .filter(user=user, used_at__isnull=True, code_hash=_code_hash(user.pk, "backup", code))
        .first()
    )
    if backup is None:
        return False
    backup.used_at = timezone.now()
    backup.save(update_fields=["used_at"])
    record_about_account(
        actor=user,
        action="backup_code_used",
        user=user,
        changes={"left": remaining_backup_codes(user)},
        source=source,
    )
    return True


def remaining_backup_codes(user: Any) -> int:
    return BackupCode.objects.filter(user=user, used_at__isnull=True).count()


# --- SMS codes ------------------------------------------------------------------


class SmsTooSoon(Exception):
    """A code was sent less than IDENTITY_SMS_RESEND_SECONDS ago."""


@transaction.atomic
def send_sms_code(*, user: Any, phone: str) -> None:
    """Send a 6-digit code to ``phone``; the previous unused codes stop working."""
    now = timezone.now()
    recent = now - timedelta(seconds=settings.IDENTITY_SMS_RESEND_SECONDS)
    if SmsCode.objects.filter(user=user, created_at__gt=recent).exists():
        raise SmsTooSoon
    SmsCode.objects.filter(user=user, used_at__isnull=True).update(used_at=now)
    code = f"{secrets.randbelow(10**6):06d}"
    SmsCode.objects.create(
        user=user,
        phone=phone,
        code_hash=_code_hash(user.pk, "sms", code),
        created_at=now,
        expires_at=now + timedelta(seconds=settings.IDENTITY_SMS_CODE_SECONDS),
    )
    minutes = settings.IDENTITY_SMS_CODE_SECONDS // 60
    text = _(
        "Liên Thông: your code is %(code)s, valid for %(minutes)s minutes. Never share it."
    ) % {
        "code": code,
        "minutes": minutes,
    }
    # Sent only once the code is stored: a code that was never saved must not arrive.
    transaction.on_commit(lambda: sms.send(phone=phone, text=text))


@transaction.atomic
def verify_sms_code(*, user: Any, code: str) -> bool:
    sms_code = (
        SmsCode.objects.select_for_update()
        .filter(
            user=user,
            used_at__isnull=True,
            expires_at__gt=timezone.now(),
            code_hash=_code_hash(user.pk, "sms", code),
        )
        .first()
    )
    if sms_code is None:
        return False
    sms_code.used_at = timezone.now()
    sms_code.save(update_fields=["used_at"])
    return True


@transaction.atomic
def enable_sms(*, user: Any, code: str, source: str) -> bool:
    """Turn SMS codes on once a code sent to the account's phone came back."""
    account = Account.objects.select_for_update().get(user=user)
    if not account.phone or not verify_sms_code(user=user, code=code):
        return False
    account.sms_enabled = True
    account.save(update_fields=["sms_enabled"])
    record_about_account(
        actor=user, user=user, action="factor_added", changes={"factor": "sms"}, source=source
    )
    return True


@transaction.atomic
def disable_sms(*, actor: Any, user: Any, source: str) -> None:
    account = Account.objects.select_for_update().get(user=user)
    if account.sms_enabled:
        account.sms_enabled = False
        account.save(update_fields=["sms_enabled"])
        record_about_account(
            actor=actor,
            user=user,
            action="factor_removed",
            changes={"factor": "sms"},
            source=source,
        )
