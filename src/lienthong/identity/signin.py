"""Signing in: the password step, the second-factor step, lockout and their audit trail.

No answer tells an unknown identifier from a wrong password: both get the
same refusal, take the same time (the password hasher runs for unknown
identifiers too, as Django's ModelBackend does) and count toward the same
lockout. Every success and every failure is audited in its own transaction,
whatever the caller does next.
"""

from __future__ import annotations

import enum
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from lienthong.audit import services as audit
from lienthong.identity import factors, services, throttle
from lienthong.identity.models import Account, Passkey
from lienthong.identity.numbers import identifier_kind


class Outcome(enum.Enum):
    OK = "ok"
    INVALID = "invalid"
    LOCKED = "locked"


class Method(enum.StrEnum):
    PASSWORD = "password"  # noqa: S105  (a method name, not a password)
    TOTP = "totp"
    SMS = "sms"
    BACKUP_CODE = "backup_code"
    PASSKEY = "passkey"
    PHONE = "phone"  # approved on a paired phone (lienthong.approvals)


def resolve(identifier: str) -> Any | None:
    """The active user an identifier names: personal ID number, tax code or username."""
    identifier = identifier.strip()
    kind = identifier_kind(identifier)
    if kind in ("personal_id", "tax_code"):
        account = Account.objects.select_related("user").filter(**{kind: identifier}).first()
        user = account.user if account else None
    else:
        user = get_user_model().objects.filter(username__iexact=identifier).first()
    return user if user is not None and user.is_active else None


def _audit(*, user: Any, action: str, changes: dict, source: str) -> None:
    with transaction.atomic():
        if user is not None:
            # A failure is not the account holder's doing until proven otherwise.
            actor = user if action in ("sign_in", "sign_out") else "anonymous"
            services.record_about_account(
                actor=actor, user=user, action=action, changes=changes, source=source
            )
        else:
            # An unknown identifier: what was typed is not kept, it may be a
            # mistyped password.
            audit.record(
                actor="anonymous",
                action=action,
                object_type="identity.account",
                changes=changes,
                source=source,
            )


def check_password(
    *, identifier: str, password: str, address: str | None, source: str
) -> tuple[Outcome, Any | None]:
    """The first step: (OK, user) or (INVALID | LOCKED, None)."""
    subject = f"id:{identifier.strip().lower()}"
    if throttle.is_locked(subject=subject, address=address):
        # The hasher still runs: a locked answer is not faster than a wrong one.
        get_user_model()().set_password(password)
        _audit(
            user=resolve(identifier),
            action="sign_in_locked",
            changes={"method": Method.PASSWORD},
            source=source,
        )
        return Outcome.LOCKED, None
    user = resolve(identifier)
    if user is None:
        get_user_model()().set_password(password)
        ok = False
    else:
        ok = user.check_password(password)
    if not ok:
        throttle.record_failure(subject=subject, address=address)
        _audit(
            user=user, action="sign_in_failed", changes={"method": Method.PASSWORD}, source=source
        )
        return Outcome.INVALID, None
    throttle.clear(subject=subject)
    return Outcome.OK, user


def must_use_second_factor(user: Any) -> bool:
    """Officers act for the State, and staff run the node: a password alone never
    signs them in."""
    if user.is_staff:
        return True
    account = Account.objects.filter(user=user).first()
    return account is not None and account.must_use_second_factor


def available_factors(user: Any) -> list[Method]:
    """The second factors the user has set up, strongest first."""
    methods = []
    if Passkey.objects.filter(user=user).exists():
        methods.append(Method.PASSKEY)
    if factors.has_totp(user):
        methods += [Method.TOTP, Method.BACKUP_CODE]
    account = Account.objects.filter(user=user).first()
    if account is not None and account.sms_enabled and account.phone:
        methods.append(Method.SMS)
    return methods


def check_code(
    *, user: Any, method: Method, code: str, address: str | None, source: str
) -> Outcome:
    """A second-factor code (TOTP, SMS or backup code), with the same lockout as passwords."""
    subject = f"user:{user.pk}"
    if throttle.is_locked(subject=subject, address=address):
        _audit(user=user, action="sign_in_locked", changes={"method": method}, source=source)
        return Outcome.LOCKED
    if method not in available_factors(user):
        ok = False
    elif method == Method.TOTP:
        ok = factors.verify_totp(user=user, code=code)
    elif method == Method.SMS:
        ok = factors.verify_sms_code(user=user, code=code)
    elif method == Method.BACKUP_CODE:
        ok = factors.use_backup_code(user=user, code=code, source=source)
    else:
        ok = False
    if not ok:
        throttle.record_failure(subject=subject, address=address)
        _audit(user=user, action="factor_failed", changes={"method": method}, source=source)
        return Outcome.INVALID
    throttle.clear(subject=subject)
    return Outcome.OK


def passkey_failed(*, user: Any, address: str | None, source: str) -> None:
    """Count and audit a refused passkey answer (for a known user, or none)."""
    subject = f"user:{user.pk}" if user is not None else None
    throttle.record_failure(subject=subject, address=address)
    _audit(user=user, action="factor_failed", changes={"method": Method.PASSKEY}, source=source)


def passkey_locked(*, user: Any, address: str | None) -> bool:
    subject = f"user:{user.pk}" if user is not None else None
    return throttle.is_locked(subject=subject, address=address)


def signed_in(*, user: Any, methods: list[str], source: str) -> None:
    _audit(user=user, action="sign_in", changes={"methods": list(methods)}, source=source)


def signed_out(*, user: Any, reason: str, source: str) -> None:
    _audit(user=user, action="sign_out", changes={"reason": reason}, source=source)
