"""Reads for the identity pages."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from lienthong.audit.models import AuditRecord
from lienthong.identity.models import Account

RECENT_ACTIVITY = 50

EVENTS = {
    "create": _("Account created"),
    "sign_in": _("Signed in"),
    "sign_in_failed": _("Failed sign-in (wrong password)"),
    "sign_in_locked": _("Sign-in refused: too many failed attempts"),
    "factor_failed": _("Failed second-factor check"),
    "sign_out": _("Signed out"),
    "factor_added": _("Sign-in method added"),
    "factor_removed": _("Sign-in method removed"),
    "factor_renamed": _("Passkey renamed"),
    "backup_code_used": _("Backup code used"),
    "password_changed": _("Password changed"),
    "password_not_changed": _("Password not changed: wrong current password"),
    "reset_requested": _("Password reset link asked for"),
    "reset_limited": _("Password reset refused: too many requests"),
    "password_reset": _("Password reset with a link"),
    "factors_reset": _("Second factors removed by an operator"),
    "phone_reconnected": _("Paired phone connected again"),
    "session_ended": _("Another session signed out from the sessions page"),
    "sessions_ended": _("All other sessions signed out"),
}
# Where a reset link was sent.
CHANNELS = {"email": _("by email"), "sms": _("by SMS")}
METHODS = {
    "password": _("password"),
    "totp": _("authenticator app"),
    "sms": _("SMS code"),
    "backup_code": _("backup code"),
    "backup_codes": _("backup codes"),
    "passkey": _("passkey"),
    "phone": _("approval on a paired phone"),
    "user": _("by you"),
    "idle_timeout": _("no activity"),
    "absolute_timeout": _("session too old"),
    "locked": _("too many failed attempts"),
}


@dataclass(frozen=True)
class Activity:
    at: dt.datetime
    event: str
    detail: str
    ip_address: str | None


def _detail(changes: dict) -> str:
    words = []
    for key in ("methods", "method", "factor", "factors", "reason", "sent_to"):
        value = changes.get(key)
        names = CHANNELS if key == "sent_to" else METHODS
        for item in value if isinstance(value, list) else [value] if value else []:
            words.append(str(names.get(item, item)))
    if isinstance(changes.get("name"), str):
        words.append(f"“{changes['name']}”")
    return ", ".join(words)


def recent_activity(user: Any, limit: int = RECENT_ACTIVITY) -> list[Activity]:
    """Sign-ins, failures and factor changes of this user's account, newest first.

    Includes failed attempts on the account by anyone, which is the point:
    the user sees someone trying their password.
    """
    account = Account.objects.filter(user=user).first()
    # Staff without an account: lienthong.identity.services.record_about_account.
    object_id = str(account.pk) if account else f"user:{user.pk}"
    about = Q(object_type="identity.account", object_id=object_id)
    records = AuditRecord.objects.filter(about).order_by("-at", "-id")[:limit]
    return [
        Activity(
            at=r.at,
            event=str(EVENTS.get(r.action, r.action)),
            detail=_detail(r.changes),
            ip_address=r.ip_address,
        )
        for r in records
    ]
