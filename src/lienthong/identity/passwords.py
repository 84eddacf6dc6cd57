"""Changing a password, and resetting a forgotten one by a link — never around a second factor.

Changing needs the current password and, for a user who has a second
factor, a fresh proof of it (the view's step-up). Django then keeps only the
session that made the change: every other session of the user carries the
old password's hash and ends at its next request.

A forgotten password is reset through a link sent to the account's email
address and phone. The link is Django's password-reset token: an HMAC
(under SECRET_KEY) of the user, the current password hash, the last sign-in
and a timestamp — nothing is stored, so there is nothing to steal from the
database, and the link dies when the password changes (used once), when the
user signs in, or after ``PASSWORD_RESET_TIMEOUT``. Setting the new password
does **not** sign the user in and leaves every second factor in place: the
next sign-in asks for the password and the second factor as before. A user
who lost the second factor uses a backup code, or asks an operator
(lienthong.identity.recovery).

Asking for a link gets the same answer, in about the same time, whether or
not the account exists: messages leave in the background
(lienthong.identity.notify), and requests are limited per identifier and per
client address whatever the identifier names.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.translation import gettext as _

from lienthong.audit import services as audit
from lienthong.identity import notify, sessions, throttle
from lienthong.identity.services import record_about_account
from lienthong.identity.signin import Outcome, resolve

# At most this many accounts share one email address for a reset request.
MAX_ACCOUNTS_PER_EMAIL = 3


# --- Changing the password -----------------------------------------------------------


def change_password(
    *, user: Any, current_password: str | None, new_password: str, address: str | None, source: str
) -> Outcome:
    """Set a new password for a signed-in user who proved the current one.

    Returns OK, INVALID (wrong current password, counted toward lockout like a
    wrong sign-in) or LOCKED. Raises ``ValidationError`` when the new password
    fails the validators (nothing is written). ``current_password`` may be None
    only for a user who has no usable password yet (passkey only).
    """
    subject = f"user:{user.pk}"
    if throttle.is_locked(subject=subject, address=address):
        _audit(
            user=user,
            action="sign_in_locked",
            changes={"method": "password"},
            source=source,
            actor=user,
        )
        return Outcome.LOCKED
    if user.has_usable_password() and not user.check_password(current_password or ""):
        throttle.record_failure(subject=subject, address=address)
        _audit(user=user, action="password_not_changed", changes={}, source=source, actor=user)
        return Outcome.INVALID
    validate_password(new_password, user)
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        record_about_account(
            actor=user, user=user, action="password_changed", changes={}, source=source
        )
        notify.send_on_commit(_changed_notice(user))
    throttle.clear(subject=subject)
    return Outcome.OK


def _changed_notice(user: Any) -> notify.Message:
    when = timezone.localtime().strftime("%H:%M %d/%m/%Y")
    return notify.message_for(
        user,
        subject=_("Liên Thông: your password was changed"),
        text=_(
            "The password of your Liên Thông account %(login)s was changed at %(when)s.\n\n"
            "If you did not change it, reset it at once from the sign-in page "
            "(“Forgot your password?”) and tell the agency that manages the portal."
        )
        % {"login": user.get_username(), "when": when},
        short_text=_(
            "Liên Thông: the password of account %(login)s was changed at %(when)s. "
            "If it was not you, reset it at once."
        )
        % {"login": user.get_username(), "when": when},
    )


def _audit(
    *, user: Any | None, action: str, changes: dict, source: str, actor: Any = "anonymous"
) -> None:
    """An audit record about ``user``'s account (or about no known account), in its
    own transaction: a refusal is recorded whatever the caller does next."""
    with transaction.atomic():
        if user is not None:
            record_about_account(
                actor=actor, user=user, action=action, changes=changes, source=source
            )
        else:
            # What was typed is not kept: it may be someone else's number.
            audit.record(
                actor="anonymous",
                action=action,
                object_type="identity.account",
                changes=changes,
                source=source,
            )


# --- Asking for a reset link ------------------------------------------------------------


class ResetRequest(enum.Enum):
    ACCEPTED = "accepted"  # the same for an unknown identifier: nothing says which
    LIMITED = "limited"  # too many requests for this identifier or from this address


def accounts_for(identifier: str) -> list[Any]:
    """The active users an identifier names: personal ID number, tax code,
    username, or an email address (which a few accounts may share)."""
    identifier = identifier.strip()
    if "@" not in identifier:
        user = resolve(identifier)
        return [user] if user is not None else []
    users = (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(account__email__iexact=identifier) | Q(email__iexact=identifier))
        .distinct()
        .order_by("pk")
    )
    return list(users[:MAX_ACCOUNTS_PER_EMAIL])


def request_reset(
    *, identifier: str, address: str | None, link_for: Callable[[str, str], str], source: str
) -> ResetRequest:
    """Send a reset link to each account the identifier names that can be reached.

    ``link_for(uidb64, token)`` makes the absolute link. The caller shows the
    same page for ACCEPTED whether or not a link left.
    """
    subject = f"reset:{identifier.strip().lower()}"
    users = accounts_for(identifier)
    limit = throttle.resets()
    if throttle.is_locked(subject=subject, address=address, limit=limit):
        for user in users or [None]:
            _audit(user=user, action="reset_limited", changes={}, source=source)
        return ResetRequest.LIMITED
    # Every request counts, found or not: a limit that only known accounts
    # reached would tell which accounts exist.
    throttle.record_failure(subject=subject, address=address, limit=limit)
    with transaction.atomic():
        if not users:
            audit.record(
                actor="anonymous",
                action="reset_requested",
                object_type="identity.account",
                changes={},
                source=source,
            )
        for user in users:
            email, phone = notify.addresses(user)
            sent_to = [name for name, where in (("email", email), ("sms", phone)) if where]
            record_about_account(
                actor="anonymous",
                user=user,
                action="reset_requested",
                changes={"sent_to": sent_to},
                source=source,
            )
            if sent_to:
                uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
                link = link_for(uidb64, default_token_generator.make_token(user))
                notify.send_on_commit(_link_notice(user, link))
    return ResetRequest.ACCEPTED


def _link_notice(user: Any, link: str) -> notify.Message:
    from django.conf import settings

    minutes = settings.PASSWORD_RESET_TIMEOUT // 60
    values = {"login": user.get_username(), "link": link, "minutes": minutes}
    return notify.message_for(
        user,
        subject=_("Liên Thông: reset your password"),
        text=_(
            "Someone asked to reset the password of your Liên Thông account %(login)s.\n\n"
            "To choose a new password, open this link within %(minutes)s minutes "
            "(it works once):\n%(link)s\n\n"
            "Your second factor (passkey, authenticator app or SMS code) stays as it is: "
            "you will still need it to sign in. If you did not ask, ignore this message; "
            "your password has not changed."
        )
        % values,
        short_text=_(
            "Liên Thông: to reset the password of %(login)s open %(link)s within "
            "%(minutes)s minutes. Not you? Ignore this."
        )
        % values,
    )


# --- Using the link --------------------------------------------------------------------


def user_for_link(uidb64: str, token: str) -> Any | None:
    """The active user a reset link is for, or None if the link is not (or no longer) valid."""
    try:
        pk = int(urlsafe_base64_decode(uidb64).decode())
    except (TypeError, ValueError, OverflowError, UnicodeDecodeError):
        return None
    user = get_user_model().objects.filter(pk=pk, is_active=True).first()
    if user is None or not default_token_generator.check_token(user, token):
        return None
    return user


def link_refused(*, address: str | None, source: str) -> None:
    """A link that is wrong, used or expired: counted per address, audited."""
    throttle.record_failure(subject=None, address=address)
    _audit(user=None, action="reset_link_refused", changes={}, source=source)


def reset_password(
    *, uidb64: str, token: str, new_password: str, address: str | None, source: str
) -> Any | None:
    """Set the password a reset link allows; the user, or None if the link is not valid.

    Raises ``ValidationError`` when the new password fails the validators.
    The user is not signed in, and their second factors are not touched.
    """
    user = user_for_link(uidb64, token)
    if user is None:
        link_refused(address=address, source=source)
        return None
    validate_password(new_password, user)
    with transaction.atomic():
        # Locked and checked again: of two requests racing with one link, the
        # second finds the password (and so the token) changed.
        user = get_user_model().objects.select_for_update().get(pk=user.pk)
        if not default_token_generator.check_token(user, token):
            return None
        user.set_password(new_password)
        user.save(update_fields=["password"])
        record_about_account(
            actor="anonymous", user=user, action="password_reset", changes={}, source=source
        )
        # The password hash in each session no longer matches; ending them
        # here also empties them at once.
        sessions.end_sessions(user)
        notify.send_on_commit(_changed_notice(user))
    return user
