"""Paying the fee of a dossier online, through a pluggable payment backend.

A specialist asks for a fee (``services.request_payment``: status 6, "payment
requested", with a ``Payment`` row of the amount and what it is for). The
applicant pays it on the portal, in the four steps a national payment gateway
takes:

1. **create**: she presses "Pay"; ``start`` asks the backend to create a payment
   of the amount (``PaymentBackend.create`` answers a ``Checkout``: the backend's
   reference and the page to send her to) and records the attempt on the
   ``Payment`` (backend, reference, time), audited;
2. **redirect**: her browser goes to ``checkout.url``, the gateway's page, where she pays;
3. **return**: the gateway sends her back to ``portal:payment-return``;
4. **confirm**: the gateway's server calls ``portal:payment-callback``. For the
   return and the callback alike, ``confirm`` has the backend verify what it was
   sent (``PaymentBackend.verify``: its signature, its amount) and records the
   payment once (``services.record_payment``: amount, reference, receipt, time,
   backend; the dossier back to 4 processing, acting as ``payment:<backend>``; the
   event and the audit record, in one transaction). Whichever of the return and
   the callback comes second finds the payment recorded and changes nothing.

``DOSSIERS_PAYMENT_BACKEND`` names the backend: ``console`` (a demonstration
without a gateway: the payment is created paid, and the applicant is sent straight
back with a signed confirmation), or the dotted path of a ``PaymentBackend``
subclass — a national payment gateway's adapter implements ``create`` and
``verify`` (and sets ``name``, used in the callback's address).

A payment taken at the counter is recorded by a one-stop officer
(``services.confirm_payment``) and needs no backend.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import structlog
from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from lienthong.audit import services as audit
from lienthong.dossiers import services, workflow
from lienthong.dossiers.errors import DossierConflict, DossierError
from lienthong.dossiers.models import Dossier, Payment, Status

log = structlog.get_logger(__name__)

SOURCE = "dossiers"


class PaymentRefused(DossierError):
    """The payment backend did not confirm a payment (``payment_unverified``: 400) or
    cannot be reached (``payment_unavailable``: 503). Nothing was recorded."""


@dataclass(frozen=True)
class Checkout:
    """A payment created at the backend: its reference there, and the page the
    applicant's browser is sent to, to pay."""

    reference: str
    url: str


@dataclass(frozen=True)
class Confirmation:
    """What the backend vouches for, once it verified what it was sent: the payment
    ``reference`` (as ``Checkout`` gave it), the ``amount`` paid (VND), the
    backend's own ``receipt`` (transaction) number, and whether it was paid."""

    reference: str
    amount: int
    receipt: str
    paid: bool = True


class PaymentBackend:
    """A payment gateway's adapter. ``name`` (letters, digits, ``-``, ``_``) is
    recorded with each payment and names the callback's address."""

    name = ""

    def create(
        self, *, payment: Payment, dossier: Dossier, return_url: str, callback_url: str
    ) -> Checkout:
        """Create a payment of ``payment.amount`` at the gateway (the dossier's code as
        its description); raise ``PaymentRefused("payment_unavailable")`` when it
        cannot be reached."""
        raise NotImplementedError

    def verify(self, params: Mapping[str, str]) -> Confirmation:
        """Check what the gateway sent (to the return or the callback address): its
        signature, that it is fresh; raise ``PaymentRefused("payment_unverified")``
        unless it is authentic."""
        raise NotImplementedError


class ConsoleBackend(PaymentBackend):
    """The demonstration backend: no gateway, nothing is charged. The payment is
    created paid; the applicant is sent straight back to the return address with
    a confirmation signed with the node's secret key (valid one hour), which
    ``verify`` checks as a gateway's signature would be."""

    name = "console"
    SALT = "lienthong.dossiers.payments.console"
    MAX_AGE = 3600

    def create(
        self, *, payment: Payment, dossier: Dossier, return_url: str, callback_url: str
    ) -> Checkout:
        reference = "console-" + secrets.token_hex(10)
        receipt = "DEMO-" + secrets.token_hex(4).upper()
        token = signing.dumps(
            {"reference": reference, "amount": payment.amount, "receipt": receipt},
            salt=self.SALT,
        )
        log.info("demo payment", code=dossier.code, amount=payment.amount, reference=reference)
        separator = "&" if "?" in return_url else "?"
        return Checkout(reference, f"{return_url}{separator}{urlencode({'token': token})}")

    def verify(self, params: Mapping[str, str]) -> Confirmation:
        try:
            data = signing.loads(params.get("token") or "", salt=self.SALT, max_age=self.MAX_AGE)
            return Confirmation(
                reference=str(data["reference"]),
                amount=int(data["amount"]),
                receipt=str(data["receipt"]),
            )
        except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
            raise PaymentRefused("payment_unverified") from exc


BACKENDS = {"console": ConsoleBackend}


def backend(name: str | None = None) -> PaymentBackend:
    """The configured backend (``DOSSIERS_PAYMENT_BACKEND``); with ``name``, that
    backend only if it is the configured one (a callback for another is refused)."""
    configured = settings.DOSSIERS_PAYMENT_BACKEND
    found = (BACKENDS.get(configured) or import_string(configured))()
    if name is not None and name != found.name:
        raise PaymentRefused("payment_unverified")
    return found


def start(*, actor: Any, dossier: Dossier, return_url: str, callback_url: str) -> Checkout:
    """The applicant starts paying the fee asked of ``dossier``: the backend creates
    the payment, and the attempt is recorded (a new attempt replaces the last).

    Refused: ``not_allowed`` (not the applicant, or the dossier is held elsewhere),
    ``payment_not_requested`` (nothing to pay), ``payment_unavailable``."""
    if workflow.APPLICANT not in workflow.capacities(actor, dossier):
        raise DossierConflict("not_allowed", status_from=dossier.status)
    payment = dossier.payment_due
    if dossier.status != Status.PAYMENT_REQUESTED or payment is None:
        raise DossierConflict("payment_not_requested", status_from=dossier.status)
    chosen = backend()
    # Outside any transaction: a gateway's answer must not hold the database's lock.
    checkout = chosen.create(
        payment=payment, dossier=dossier, return_url=return_url, callback_url=callback_url
    )
    with transaction.atomic():
        now = timezone.now()
        updated = Payment.objects.filter(pk=payment.pk, paid_at__isnull=True).update(
            backend=chosen.name, reference=checkout.reference, started_at=now
        )
        if not updated:
            raise DossierConflict("payment_not_requested", status_from=dossier.status)
        audit.record(
            actor=actor,
            action="payment_started",
            obj=dossier,
            changes={
                "payment": payment.pk,
                "amount": payment.amount,
                "backend": chosen.name,
                "reference": checkout.reference,
            },
            source=SOURCE,
        )
    return checkout


def confirm(
    params: Mapping[str, str], *, backend_name: str | None = None, dossier: Dossier | None = None
) -> Dossier:
    """Record the payment the backend confirms in ``params`` (the return's query, or
    the callback's body), once. ``dossier``: the one the applicant returned to (a
    confirmation of another dossier's payment is refused).

    Refused: ``payment_unverified`` (PaymentRefused: not authentic, not paid, or
    for another backend), ``payment_not_requested`` (no such payment under way, or
    of another dossier), ``payment_mismatch`` (another amount), ``stale_dossier``."""
    chosen = backend(backend_name)
    confirmation = chosen.verify(params)
    if not confirmation.paid:
        raise PaymentRefused("payment_unverified")
    payment = (
        Payment.objects.select_related("dossier")
        .filter(backend=chosen.name, reference=confirmation.reference)
        .first()
    )
    if payment is None or (dossier is not None and payment.dossier_id != dossier.pk):
        raise DossierConflict("payment_not_requested")
    if payment.paid_at is not None:
        return payment.dossier  # the return and the callback both came: recorded once
    try:
        return services.record_payment(
            actor=workflow.paid_through(chosen.name),
            dossier=payment.dossier,
            backend=chosen.name,
            reference=confirmation.reference,
            amount=confirmation.amount,
            receipt=confirmation.receipt,
        )
    except DossierConflict as exc:
        payment.refresh_from_db()
        if payment.paid_at is not None and exc.code in ("payment_not_requested", "stale_dossier"):
            return Dossier.objects.get(pk=payment.dossier_id)  # recorded meanwhile
        raise
