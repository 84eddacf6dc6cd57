"""Telling the applicant that their dossier changed status, through pluggable backends.

``DOSSIERS_NOTIFY_BACKENDS`` lists the backends every notice goes through, by
short name or dotted path to a ``Backend`` subclass:

- ``console``: writes the notice to the log (the demo default);
- ``file``: appends one JSON line per message to ``<data dir>/dossiers/notifications.jsonl``;
- ``email``: sends an email through Django's ``EMAIL_BACKEND``;
- ``sms``: sends a text through the identity app's SMS gateway (``IDENTITY_SMS_BACKEND``);
- ``memory``: keeps notices in ``MemoryBackend.outbox`` (tests).

The notice of a payment requested (status 6) says the amount, what it is for and
how to pay (``payment_text``). Money taken twice for one fee and given back is told
of once refunded (``notify_refund_on_commit``): the amount, when, and the refund's
reference.

Services call ``notify_on_commit``: nothing is sent for a change that rolls
back, and a failing backend is logged, never allowed to undo the change.

An interconnected dossier is told of once, under the code the applicant knows:
the originating dossier's agency tells her what a later step's agency (or, for a
dossier routed from the portal, the agency holding it) reports
(``notify_reported_on_commit``, only the statuses in ``REPORTED``) and that it
refused her request (``notify_refused_on_commit``); the step's own dossier on
the other agency's side (``origin_code`` set) tells her nothing itself.

To add a provider: subclass ``Backend``, implement ``send(notice)`` and name
the class by its dotted path in ``LIENTHONG_DOSSIERS_NOTIFY_BACKENDS``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass

import structlog
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone, translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from lienthong.catalog.statuses import status_text
from lienthong.dossiers.money import format_vnd

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Notice:
    """One status change, as the applicant is told of it (Vietnamese first)."""

    code: str
    status: int
    email: str
    phone: str
    subject: str
    text: str


class Backend:
    def send(self, notice: Notice) -> None:
        raise NotImplementedError


class ConsoleBackend(Backend):
    def send(self, notice: Notice) -> None:
        log.info("dossier notice", code=notice.code, status=notice.status, text=notice.text)


class FileBackend(Backend):
    _lock = threading.Lock()

    def send(self, notice: Notice) -> None:
        folder = settings.DATA_DIR / "dossiers"
        folder.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"at": timezone.now().isoformat(), **asdict(notice)}, ensure_ascii=False)
        with self._lock, (folder / "notifications.jsonl").open("a", encoding="utf-8") as out:
            out.write(line + "\n")


class EmailBackend(Backend):
    def send(self, notice: Notice) -> None:
        if notice.email:
            send_mail(notice.subject, notice.text, None, [notice.email])


class SmsBackend(Backend):
    def send(self, notice: Notice) -> None:
        from lienthong.identity import sms

        if notice.phone:
            sms.send(phone=notice.phone, text=notice.text)


class MemoryBackend(Backend):
    outbox: list[Notice] = []

    def send(self, notice: Notice) -> None:
        MemoryBackend.outbox.append(notice)


BACKENDS = {
    "console": ConsoleBackend,
    "file": FileBackend,
    "email": EmailBackend,
    "sms": SmsBackend,
    "memory": MemoryBackend,
}


def backends() -> list[Backend]:
    return [
        (BACKENDS.get(name) or import_string(name))() for name in settings.DOSSIERS_NOTIFY_BACKENDS
    ]


# What a later step's agency reports that the applicant is told of: a decision,
# something she must do (supplement, fee), the result, her withdrawal. That the step
# received the dossier (new), works on it (processing) or handed the result over is
# on her dossier's page only.
REPORTED = frozenset({2, 3, 5, 6, 7, 8, 9})


def notice_for(dossier, status: int | None = None, *, step=None) -> Notice:
    """The notice of the dossier's present status (or of ``status``, one a later
    step's agency reported: ``step``, an ``InterconnectedStep``, worded as that step's
    procedure words it), in Vietnamese, the applicant's language."""
    number = status if status is not None else dossier.status
    procedure = step.procedure if step is not None else dossier.procedure
    with translation.override("vi"):
        text = status_text(number, procedure.status_texts)
        subject = _("Dossier %(code)s") % {"code": dossier.code}
        where = subject
        if step is not None:
            where = _("Dossier %(code)s, step %(position)s (%(procedure)s)") % {
                "code": dossier.code,
                "position": step.position,
                "procedure": procedure.name,
            }
        text = f"{where}: {text}"
        if number == PAYMENT_REQUESTED and step is None:
            text = f"{text} {payment_text(dossier)}".rstrip()
        return Notice(
            code=dossier.code,
            status=number,
            email=dossier.applicant_email,
            phone=dossier.applicant_phone,
            subject=subject,
            text=text,
        )


PAYMENT_REQUESTED = 6


def payment_text(dossier) -> str:
    """What the applicant is asked to pay, and how (in the active language): the
    amount and what it is for, online on her dossier's page or at the counter."""
    payment = dossier.payment_due
    if payment is None:
        return ""
    amount = format_vnd(payment.amount)
    return _(
        "Amount to pay: %(amount)s VND (%(reason)s). Pay it online on your dossier's page, "
        "or at the agency's one-stop desk."
    ) % {"amount": amount, "reason": payment.reason}


def send(notice: Notice) -> None:
    for backend in backends():
        try:
            backend.send(notice)
        except Exception:
            # The status change is committed; a notice that cannot go out is
            # logged for the operator, not turned into an error for the officer.
            log.exception(
                "dossier notice not sent", backend=type(backend).__name__, code=notice.code
            )


def notify_on_commit(dossier, status: int | None = None) -> None:
    """Send the notice of the dossier's new status once the change commits; nothing
    for a later step's dossier received from another agency (``origin_code``): its
    status goes back to the originating dossier, whose agency tells the applicant
    (``notify_reported_on_commit``)."""
    if dossier.origin_code:
        return
    notice = notice_for(dossier, status)
    transaction.on_commit(lambda: send(notice))


def notify_reported_on_commit(dossier, status: int, *, previous: int | None, step=None) -> None:
    """Once the report commits, tell the applicant of the originating ``dossier`` the
    ``status`` a later step's agency (or the agency holding a routed dossier) reported,
    when it is one she acts on or waits for (``REPORTED``) and not the one last
    reported for that step (``previous``: a report repeated tells her nothing new)."""
    if int(status) not in REPORTED or (previous is not None and int(previous) == int(status)):
        return
    notice = notice_for(dossier, status, step=step)
    transaction.on_commit(lambda: send(notice))


def notify_refused_on_commit(dossier, *, reason: str, status: int) -> None:
    """Once recorded, tell the applicant that the agency holding her dossier refused
    her request to withdraw it, and why (``reason``, in Vietnamese, as it sent it)."""
    with translation.override("vi"):
        subject = _("Dossier %(code)s") % {"code": dossier.code}
        refused = _("The agency holding your dossier refused your request to withdraw it.")
        text = f"{subject}: {refused}"
        if reason:
            text = f"{text} {_('Reason:')} {reason}"
    notice = Notice(
        code=dossier.code,
        status=int(status),
        email=dossier.applicant_email,
        phone=dossier.applicant_phone,
        subject=subject,
        text=text,
    )
    transaction.on_commit(lambda: send(notice))


def notify_refund_on_commit(dossier, attempt) -> None:
    """Once recorded, tell the applicant that the second payment of her dossier's fee
    (``attempt``, a ``PaymentAttempt`` now refunded) was given back: the amount, the
    day, and the refund's reference, to find it on her statement."""
    with translation.override("vi"):
        subject = _("Dossier %(code)s") % {"code": dossier.code}
        amount = format_vnd(attempt.payment.amount)
        refunded = _(
            "The second payment of %(amount)s VND for your dossier's fee, made after the fee "
            "had been paid, was refunded to you on %(date)s (reference %(reference)s)."
        ) % {
            "amount": amount,
            "date": timezone.localtime(attempt.refunded_at).strftime("%d/%m/%Y"),
            "reference": attempt.refund_reference,
        }
    notice = Notice(
        code=dossier.code,
        status=int(dossier.status),
        email=dossier.applicant_email,
        phone=dossier.applicant_phone,
        subject=subject,
        text=f"{subject}: {refunded}",
    )
    transaction.on_commit(lambda: send(notice))
