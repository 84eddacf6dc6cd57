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

Attempts (``PaymentAttempt``): each ``start`` is one attempt; a new one cancels the
open one (audited ``payment_cancelled``). A gateway's confirmation is judged by
``settle``, which never loses money taken and never pays a dossier twice:

- paid, and the fee still due: recorded as the payment, **whichever attempt it is**
  (a cancelled attempt that the citizen completed in another tab took the money:
  it pays the fee, and the open attempt is cancelled in turn);
- paid, and the fee already paid (through another attempt, or at the counter): the
  attempt is recorded once as ``surplus`` (audited ``payment_surplus``: to refund),
  the dossier unchanged;
- not paid: an open attempt is closed ``failed`` (``payment_failed``); a cancelled
  one is refused ``payment_attempt_cancelled``;
- the same confirmation again (the return and the callback, a gateway's retry):
  ``already``, nothing changes.

A routed dossier's fee, asked by the agency holding it on another node (reported with
the ``dossier.status`` of status 6), is paid here the same way; once paid, the
payment travels to that agency as a ``dossier.payment`` envelope
(``interconnection.relay_payment``), which records it through its state machine.

A payment taken at the counter is recorded by a one-stop officer
(``services.confirm_payment``) and needs no backend.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlencode

import structlog
from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from lienthong.audit import services as audit
from lienthong.dossiers import interconnection, services, workflow
from lienthong.dossiers.errors import DossierConflict, DossierError
from lienthong.dossiers.models import AttemptState, Dossier, Payment, PaymentAttempt, Status

log = structlog.get_logger(__name__)

SOURCE = "dossiers"

# What ``settle`` did with a confirmation.
RECORDED = "recorded"  # the fee is paid by this attempt; the dossier goes on
ALREADY = "already"  # this attempt's confirmation was recorded before: nothing changed
SURPLUS = "surplus"  # paid after the fee was paid otherwise: kept on record, to refund


class PaymentRefused(DossierError):
    """The payment backend did not confirm a payment (``payment_unverified``: 400),
    says it was not made (``payment_failed``: 400) or cannot be reached
    (``payment_unavailable``: 503). Nothing was paid."""


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


@dataclass(frozen=True)
class Settled:
    """What ``settle`` did: ``outcome`` is ``recorded``, ``already`` or ``surplus``;
    ``relayed``: the fee was asked on another node, where the payment was sent."""

    dossier: Dossier
    outcome: str
    relayed: bool = False


class PaymentBackend:
    """A payment gateway's adapter. ``name`` (letters, digits, ``-``, ``_``) is
    recorded with each payment and names the callback's address, which accepts
    ``callback_methods``."""

    name = ""
    callback_methods: tuple[str, ...] = ("POST",)

    def create(
        self,
        *,
        payment: Payment,
        dossier: Dossier,
        return_url: str,
        callback_url: str,
        client_ip: str = "",
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

    def acknowledge(self, outcome: str | None, code: str | None = None) -> tuple[int, dict]:
        """The callback's answer to the gateway's server, (HTTP status, JSON body):
        ``outcome`` once settled, else the refusal's ``code``."""
        if outcome is not None:
            body = {"status": "recorded"}
            if outcome == SURPLUS:
                body["outcome"] = SURPLUS
            return 200, body
        status = 400 if code in ("payment_unverified", "payment_failed") else 409
        return status, {"status": "refused", "code": code}


class ConsoleBackend(PaymentBackend):
    """The demonstration backend: no gateway, nothing is charged. The payment is
    created paid; the applicant is sent straight back to the return address with
    a confirmation signed with the node's secret key (valid one hour), which
    ``verify`` checks as a gateway's signature would be."""

    name = "console"
    SALT = "lienthong.dossiers.payments.console"
    MAX_AGE = 3600

    def create(
        self,
        *,
        payment: Payment,
        dossier: Dossier,
        return_url: str,
        callback_url: str,
        client_ip: str = "",
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


VIETNAM = zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh")


def vnpay_hash(params: Mapping[str, str], secret: str) -> str:
    """VNPAY's ``vnp_SecureHash`` (API 2.1.0): HMAC-SHA512 with the hash secret over
    the ``vnp_*`` parameters but the hash's own, sorted by name, as
    ``name=value`` pairs (values URL-encoded, spaces as ``+``) joined by ``&``;
    lower-case hex."""
    data = "&".join(
        f"{key}={quote_plus(str(value))}"
        for key, value in sorted(params.items())
        if key.startswith("vnp_") and key not in ("vnp_SecureHash", "vnp_SecureHashType")
    )
    return hmac.new(secret.encode(), data.encode(), hashlib.sha512).hexdigest()


class VnpayBackend(PaymentBackend):
    """The VNPAY payment gateway (API 2.1.0, ``vnp_Command=pay``).

    ``create`` builds the signed redirect to the gateway's page (``VNPAY_URL``) for
    the merchant's terminal (``VNPAY_TMN_CODE``): the amount times 100, the
    reference as ``vnp_TxnRef``, the return address, the client's address, the
    creation and expiry times in Vietnam time. The gateway sends the browser back
    to the return address and calls the IPN address (configured at VNPAY for the
    terminal: ``/dossiers/payments/vnpay/callback/``, by GET) with the result;
    ``verify`` checks ``vnp_SecureHash`` (HMAC-SHA512 with ``VNPAY_HASH_SECRET``,
    compared in constant time) and the terminal code. Paid means
    ``vnp_ResponseCode`` and ``vnp_TransactionStatus`` both ``00``. The IPN is
    answered ``{"RspCode", "Message"}`` as the gateway expects."""

    name = "vnpay"
    callback_methods = ("GET", "POST")
    VERSION = "2.1.0"

    def __init__(self) -> None:
        self.tmn_code = settings.VNPAY_TMN_CODE
        self.secret = settings.VNPAY_HASH_SECRET.strip()
        self.url = settings.VNPAY_URL
        self.expire = dt.timedelta(minutes=settings.VNPAY_EXPIRE_MINUTES)

    def _configured(self) -> bool:
        return bool(self.tmn_code and self.secret and self.url)

    def create(
        self,
        *,
        payment: Payment,
        dossier: Dossier,
        return_url: str,
        callback_url: str,
        client_ip: str = "",
    ) -> Checkout:
        if not self._configured():
            log.error(
                "vnpay not configured", missing="VNPAY_TMN_CODE, VNPAY_HASH_SECRET, VNPAY_URL"
            )
            raise PaymentRefused("payment_unavailable")
        reference = secrets.token_hex(10).upper()
        now = timezone.now().astimezone(VIETNAM)
        params = {
            "vnp_Version": self.VERSION,
            "vnp_Command": "pay",
            "vnp_TmnCode": self.tmn_code,
            "vnp_Amount": str(payment.amount * 100),
            "vnp_CurrCode": "VND",
            "vnp_TxnRef": reference,
            # Without diacritics, as the gateway asks.
            "vnp_OrderInfo": f"Thanh toan le phi ho so {dossier.code}",
            "vnp_OrderType": "other",
            "vnp_Locale": "vn",
            "vnp_ReturnUrl": return_url,
            "vnp_IpAddr": client_ip or "127.0.0.1",
            "vnp_CreateDate": now.strftime("%Y%m%d%H%M%S"),
            "vnp_ExpireDate": (now + self.expire).strftime("%Y%m%d%H%M%S"),
        }
        query = "&".join(f"{k}={quote_plus(v)}" for k, v in sorted(params.items()))
        signature = vnpay_hash(params, self.secret)
        separator = "&" if "?" in self.url else "?"
        return Checkout(reference, f"{self.url}{separator}{query}&vnp_SecureHash={signature}")

    def verify(self, params: Mapping[str, str]) -> Confirmation:
        if not self.secret:
            raise PaymentRefused("payment_unverified")
        given = str(params.get("vnp_SecureHash") or "").lower()
        fields = {key: str(params.get(key, "")) for key in params if key.startswith("vnp_")}
        if not hmac.compare_digest(given, vnpay_hash(fields, self.secret)):
            raise PaymentRefused("payment_unverified")
        if fields.get("vnp_TmnCode") != self.tmn_code:
            raise PaymentRefused("payment_unverified")
        try:
            amount, cents = divmod(int(fields["vnp_Amount"]), 100)
            reference = fields["vnp_TxnRef"]
        except (KeyError, ValueError) as exc:
            raise PaymentRefused("payment_unverified") from exc
        return Confirmation(
            reference=reference,
            amount=amount if not cents else -1,  # VND has no cents: never the amount asked
            receipt=fields.get("vnp_TransactionNo", ""),
            paid=fields.get("vnp_ResponseCode") == "00"
            and fields.get("vnp_TransactionStatus") == "00",
        )

    # The IPN answers VNPAY documents.
    ANSWERS = {
        RECORDED: ("00", "Confirm Success"),
        SURPLUS: ("00", "Confirm Success"),
        ALREADY: ("02", "Order already confirmed"),
        "payment_failed": ("00", "Confirm Success"),  # the failure is recorded
        "payment_attempt_cancelled": ("02", "Order already confirmed"),
        "payment_not_requested": ("01", "Order not found"),
        "payment_mismatch": ("04", "Invalid amount"),
        "payment_unverified": ("97", "Invalid signature"),
    }

    def acknowledge(self, outcome: str | None, code: str | None = None) -> tuple[int, dict]:
        rsp, message = self.ANSWERS.get(outcome or code or "", ("99", "Unknown error"))
        return 200, {"RspCode": rsp, "Message": message}


BACKENDS = {"console": ConsoleBackend, "vnpay": VnpayBackend}


def backend(name: str | None = None) -> PaymentBackend:
    """The configured backend (``DOSSIERS_PAYMENT_BACKEND``); with ``name``, that
    backend only if it is the configured one (a callback for another is refused)."""
    configured = settings.DOSSIERS_PAYMENT_BACKEND
    found = (BACKENDS.get(configured) or import_string(configured))()
    if name is not None and name != found.name:
        raise PaymentRefused("payment_unverified")
    return found


def asked_now(dossier: Dossier, payment: Payment) -> bool:
    """Whether the agency holding ``dossier`` still waits for this unpaid fee: here,
    while the dossier is in status 6; a routed dossier's, while its holder's last
    report is 6 (a holder that went on -- paid at its own desk, say -- no longer asks
    it, though the fee stays on record here)."""
    if payment.paid_at is not None:
        return False
    if workflow.held_elsewhere(dossier):
        return bool(payment.remote_request) and dossier.remote_status == Status.PAYMENT_REQUESTED
    return dossier.status == Status.PAYMENT_REQUESTED


def payable(actor: Any, dossier: Dossier) -> Payment | None:
    """The fee ``actor`` may pay now on ``dossier``, else None: its applicant's, while
    the agency holding it waits for the payment (here: status 6; a routed dossier:
    the holder reported 6 and its fee was reported with it)."""
    if workflow.held_elsewhere(dossier):
        if (
            getattr(actor, "is_authenticated", False)
            and dossier.applicant_id == actor.pk
            and dossier.remote_status == Status.PAYMENT_REQUESTED
        ):
            payment = dossier.payment_due
            return payment if payment is not None and asked_now(dossier, payment) else None
        return None
    if dossier.status != Status.PAYMENT_REQUESTED:
        return None
    if workflow.APPLICANT not in workflow.capacities(actor, dossier):
        return None
    return dossier.payment_due


def start(
    *, actor: Any, dossier: Dossier, return_url: str, callback_url: str, client_ip: str = ""
) -> Checkout:
    """The applicant starts paying the fee asked of ``dossier``: the backend creates
    the payment, and the attempt is recorded; an attempt still open is cancelled
    (audited ``payment_cancelled``).

    Refused: ``not_allowed`` (not the applicant), ``payment_not_requested`` (nothing
    to pay), ``payment_unavailable``."""
    payment = payable(actor, dossier)
    if payment is None:
        mine = getattr(actor, "pk", None) is not None and dossier.applicant_id == actor.pk
        code = "payment_not_requested" if mine else "not_allowed"
        raise DossierConflict(code, status_from=dossier.status)
    chosen = backend()
    # Outside any transaction: a gateway's answer must not hold the database's lock.
    checkout = chosen.create(
        payment=payment,
        dossier=dossier,
        return_url=return_url,
        callback_url=callback_url,
        client_ip=client_ip,
    )
    with transaction.atomic():
        now = timezone.now()
        locked = Payment.objects.select_for_update().filter(pk=payment.pk).first()
        if locked is None or locked.paid_at is not None:
            raise DossierConflict("payment_not_requested", status_from=dossier.status)
        _cancel_open(actor=actor, dossier=dossier, payment=locked, now=now, by=checkout.reference)
        PaymentAttempt.objects.create(
            payment=locked, backend=chosen.name, reference=checkout.reference, started_at=now
        )
        Payment.objects.filter(pk=payment.pk).update(
            backend=chosen.name, reference=checkout.reference, started_at=now
        )
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


def _cancel_open(*, actor: Any, dossier: Dossier, payment: Payment, now, by: str) -> None:
    """Cancel the payment's open attempt (the one ``by`` replaces), audited."""
    for attempt in PaymentAttempt.objects.filter(payment=payment, state=AttemptState.OPEN):
        PaymentAttempt.objects.filter(pk=attempt.pk).update(
            state=AttemptState.CANCELLED, closed_at=now
        )
        audit.record(
            actor=actor,
            action="payment_cancelled",
            obj=dossier,
            changes={
                "payment": payment.pk,
                "backend": attempt.backend,
                "reference": attempt.reference,
                "replaced_by": by,
            },
            source=SOURCE,
        )


def settle(
    params: Mapping[str, str], *, backend_name: str | None = None, dossier: Dossier | None = None
) -> Settled:
    """Judge the confirmation the backend verifies in ``params`` (the return's query,
    or the callback's) against the attempt it names, once (see the module's
    docstring). ``dossier``: the one the applicant returned to (a confirmation of
    another dossier's payment is refused).

    Refused: ``payment_unverified`` (not authentic, or for another backend),
    ``payment_failed`` (not paid: the open attempt is closed as failed),
    ``payment_attempt_cancelled`` (not paid, and a later attempt replaced it),
    ``payment_not_requested`` (no such attempt, or of another dossier),
    ``payment_mismatch`` (another amount), ``stale_dossier``."""
    chosen = backend(backend_name)
    confirmation = chosen.verify(params)
    attempt = (
        PaymentAttempt.objects.select_related("payment__dossier")
        .filter(backend=chosen.name, reference=confirmation.reference)
        .first()
    )
    if attempt is None or (dossier is not None and attempt.payment.dossier_id != dossier.pk):
        raise DossierConflict("payment_not_requested")
    payment = attempt.payment
    if confirmation.amount != payment.amount:
        raise DossierConflict("payment_mismatch")
    if attempt.state in (AttemptState.PAID, AttemptState.SURPLUS):
        return Settled(Dossier.objects.get(pk=payment.dossier_id), ALREADY)
    if not confirmation.paid:
        return _not_paid(chosen, attempt)
    try:
        return _paid(chosen, attempt, confirmation)
    except DossierConflict as exc:
        attempt.refresh_from_db()
        if attempt.state in (AttemptState.PAID, AttemptState.SURPLUS):
            return Settled(Dossier.objects.get(pk=payment.dossier_id), ALREADY)  # meanwhile
        raise exc


def _not_paid(chosen: PaymentBackend, attempt: PaymentAttempt) -> Settled:
    if attempt.state == AttemptState.CANCELLED:
        raise DossierConflict("payment_attempt_cancelled")
    with transaction.atomic():
        closed = PaymentAttempt.objects.filter(pk=attempt.pk, state=AttemptState.OPEN).update(
            state=AttemptState.FAILED, closed_at=timezone.now()
        )
        if closed:
            audit.record(
                actor=workflow.paid_through(chosen.name),
                action="payment_failed",
                obj=attempt.payment.dossier,
                changes={"payment": attempt.payment_id, "reference": attempt.reference},
                source=SOURCE,
            )
    raise PaymentRefused("payment_failed")


def _paid(chosen: PaymentBackend, attempt: PaymentAttempt, confirmation: Confirmation) -> Settled:
    actor = workflow.paid_through(chosen.name)
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=attempt.payment_id)
        attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt.pk)
        dossier = Dossier.objects.get(pk=payment.dossier_id)
        now = timezone.now()
        if attempt.state in (AttemptState.PAID, AttemptState.SURPLUS):
            return Settled(dossier, ALREADY)
        if payment.paid_at is not None:
            # Money taken for a fee paid otherwise: kept on record once, to refund;
            # the dossier is not paid twice.
            PaymentAttempt.objects.filter(pk=attempt.pk).update(
                state=AttemptState.SURPLUS, closed_at=now, receipt=confirmation.receipt
            )
            audit.record(
                actor=actor,
                action="payment_surplus",
                obj=dossier,
                changes={
                    "payment": payment.pk,
                    "amount": confirmation.amount,
                    "reference": attempt.reference,
                    "receipt": confirmation.receipt,
                    "paid_by": [
                        payment.backend,
                        payment.receipt
                        if payment.backend == services.COUNTER
                        else payment.reference,
                    ],
                },
                source=SOURCE,
            )
            log.warning(
                "payment received twice: to refund",
                code=dossier.code,
                reference=attempt.reference,
                amount=confirmation.amount,
            )
            return Settled(dossier, SURPLUS)
        # The fee is still due: this attempt pays it, even one a later attempt
        # cancelled (the money was taken); the open one is cancelled in its turn.
        _cancel_open(actor=actor, dossier=dossier, payment=payment, now=now, by=attempt.reference)
        PaymentAttempt.objects.filter(pk=attempt.pk).update(
            state=AttemptState.PAID, closed_at=now, receipt=confirmation.receipt
        )
        Payment.objects.filter(pk=payment.pk).update(
            backend=attempt.backend, reference=attempt.reference
        )
        if payment.remote_request:
            dossier = interconnection.relay_payment(
                actor=actor,
                dossier=dossier,
                payment=payment,
                backend=attempt.backend,
                reference=attempt.reference,
                receipt=confirmation.receipt,
            )
        else:
            dossier = services.record_payment(
                actor=actor,
                dossier=dossier,
                backend=attempt.backend,
                reference=attempt.reference,
                amount=confirmation.amount,
                receipt=confirmation.receipt,
            )
        return Settled(dossier, RECORDED, relayed=bool(payment.remote_request))


def confirm(
    params: Mapping[str, str], *, backend_name: str | None = None, dossier: Dossier | None = None
) -> Dossier:
    """``settle``, answering the dossier only."""
    return settle(params, backend_name=backend_name, dossier=dossier).dossier
