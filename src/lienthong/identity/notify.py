"""Telling an account holder that something happened to their account.

A password changed or reset, a reset link asked for, the sign-in methods
reset by an operator: the holder hears of it by email (Django's
``EMAIL_BACKEND``) and by SMS (the gateway of ``IDENTITY_SMS_BACKEND``) at
the addresses the account has, so that a change they did not make does not
go unnoticed.

Messages leave after the transaction commits (nothing is said of a change
that rolled back), in a background thread: the time a mail server or an SMS
provider takes must not show in the answer's timing, which would tell
whether an account exists (the reset request). A failing channel is logged,
never allowed to fail the request.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import structlog
from django.core.mail import send_mail
from django.db import transaction

from lienthong.identity import sms
from lienthong.identity.models import Account

log = structlog.get_logger(__name__)

_threads: list[threading.Thread] = []
_threads_lock = threading.Lock()


@dataclass(frozen=True)
class Message:
    email: str
    phone: str
    subject: str
    text: str
    # The SMS version: shorter, and without a greeting.
    short_text: str


def addresses(user: Any) -> tuple[str, str]:
    """The email address and phone number the account holder is reached at."""
    account = Account.objects.filter(user=user).first()
    email = (account.email if account else "") or user.email or ""
    phone = account.phone if account else ""
    return email, phone


def can_reach(user: Any) -> bool:
    return any(addresses(user))


def message_for(user: Any, *, subject: str, text: str, short_text: str) -> Message:
    email, phone = addresses(user)
    return Message(email=email, phone=phone, subject=subject, text=text, short_text=short_text)


def _deliver(message: Message) -> None:
    if message.email:
        try:
            send_mail(message.subject, message.text, None, [message.email])
        except Exception:  # any transport error: logged, not raised
            log.exception("identity notice not emailed", subject=message.subject)
    if message.phone:
        try:
            sms.send(phone=message.phone, text=message.short_text)
        except Exception:
            log.exception("identity notice not sent by SMS", subject=message.subject)


def send_on_commit(message: Message) -> None:
    """Deliver ``message`` once the caller's transaction commits, off the request."""

    def start() -> None:
        thread = threading.Thread(
            target=_deliver, args=(message,), name="identity-notice", daemon=True
        )
        with _threads_lock:
            _threads[:] = [t for t in _threads if t.is_alive()]
            _threads.append(thread)
        thread.start()

    transaction.on_commit(start)


def wait(timeout: float = 30.0) -> None:
    """Wait for the messages still leaving (a command about to exit; tests)."""
    with _threads_lock:
        pending = list(_threads)
    for thread in pending:
        thread.join(timeout)
