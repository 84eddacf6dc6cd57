"""Operator-assisted recovery: removing the second factors of someone who lost them all.

The holder who lost every device and every backup code comes to the agency
with their identity card; an operator checks it and resets the account's
sign-in methods (the admin's action, or ``lienthong identity reset-factors``).
The holder then signs in with their password — reset by link first if
needed — and enrols a factor again (officers are held on the enrolment pages
until they do).

Because this hands an account to whoever holds its password, the operator
must prove their own second factor at that moment (a fresh step-up in the
admin, a code from their authenticator app on the command line), may not
reset their own account (a second operator does it), and must say why. The
reset is audited with the operator's name and reason, and the holder is told
by email and SMS.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from lienthong.audit.services import actor_label
from lienthong.identity import factors, notify, sessions, signin
from lienthong.identity.models import Account, BackupCode, Passkey, SmsCode, TotpDevice
from lienthong.identity.services import record_about_account


class RecoveryRefused(Exception):
    """The operator may not reset these factors (their own, no reason, no step-up)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def operator_with_code(*, username: str, code: str, source: str) -> Any:
    """The staff user named, once they proved a current code of their authenticator app.

    A wrong code counts toward their lockout like any other.
    """
    from django.contrib.auth import get_user_model

    operator = get_user_model().objects.filter(username=username, is_active=True).first()
    if operator is None or not operator.is_staff or not factors.has_totp(operator):
        raise RecoveryRefused(
            "operator_unknown",
            _("An operator is a staff member with an authenticator app."),
        )
    outcome = signin.check_code(
        user=operator, method=signin.Method.TOTP, code=code, address=None, source=source
    )
    if outcome is signin.Outcome.LOCKED:
        raise RecoveryRefused("locked", _("Too many failed attempts. Please wait."))
    if outcome is not signin.Outcome.OK:
        raise RecoveryRefused("wrong_code", _("The code is wrong or has expired."))
    return operator


def factors_of(user: Any) -> list[str]:
    """The sign-in methods a reset would remove, by name."""
    names = []
    if Passkey.objects.filter(user=user).exists():
        names.append("passkey")
    if TotpDevice.objects.filter(user=user).exists():
        names.append("totp")
    if BackupCode.objects.filter(user=user, used_at__isnull=True).exists():
        names.append("backup_codes")
    if Account.objects.filter(user=user, sms_enabled=True).exists():
        names.append("sms")
    if _paired_phones(user).exists():
        names.append("phone")
    return names


def _paired_phones(user: Any):
    """The user's phones paired for approvals (lienthong.approvals), still active."""
    if not apps.is_installed("lienthong.approvals"):
        return Passkey.objects.none()
    device = apps.get_model("approvals", "PairedDevice")
    return device.objects.filter(user=user, revoked_at__isnull=True)


@transaction.atomic
def reset_factors(*, actor: Any, user: Any, reason: str, source: str) -> list[str]:
    """Remove every second factor of ``user``: passkeys, authenticator app, backup
    codes, SMS codes, phones paired for approvals. Returns what was removed. The password is left as it is."""
    reason = reason.strip()
    if not reason:
        raise RecoveryRefused("reason_required", _("Say how the holder's identity was checked."))
    if not isinstance(actor, str) and actor.pk == user.pk:
        raise RecoveryRefused(
            "own_account", _("Another operator must reset your own sign-in methods.")
        )
    removed = factors_of(user)
    Passkey.objects.filter(user=user).delete()
    TotpDevice.objects.filter(user=user).delete()
    BackupCode.objects.filter(user=user).delete()
    Account.objects.filter(user=user).update(sms_enabled=False)
    SmsCode.objects.filter(user=user, used_at__isnull=True).update(used_at=timezone.now())
    _paired_phones(user).update(revoked_at=timezone.now())
    # A lost phone may still hold a signed-in session: it ends with the factors.
    ended = sessions.end_sessions(user)
    record_about_account(
        actor=actor,
        user=user,
        action="factors_reset",
        changes={
            "factors": removed,
            "reason": reason,
            "by": actor_label(actor),
            "sessions_ended": ended,
        },
        source=source,
    )
    notify.send_on_commit(
        notify.message_for(
            user,
            subject=_("Liên Thông: your sign-in methods were reset"),
            text=_(
                "An operator removed the second factors (passkeys, authenticator app, "
                "backup codes, SMS codes) of your Liên Thông account %(login)s, as you asked "
                "at the agency. Sign in with your password and set up a second factor again.\n\n"
                "If you did not ask for this, tell the agency at once."
            )
            % {"login": user.get_username()},
            short_text=_(
                "Liên Thông: the second factors of %(login)s were reset by an operator. "
                "Not you? Tell the agency at once."
            )
            % {"login": user.get_username()},
        )
    )
    return removed
