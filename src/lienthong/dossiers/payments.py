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

**Reconciling** (``reconcile``): a gateway's callback can be lost, and the citizen
may never come back to the return address. Open attempts older than the backend's
``expiry`` (its payment page is closed by then) plus ``RECONCILE_MARGIN`` are asked
of the gateway (``PaymentBackend.query``): paid, the confirmation is judged as
``settle`` judges one (recorded, surplus, already: all its rules hold); not paid,
or unknown to the gateway, the attempt is closed ``failed`` (audited
``payment_failed``, ``reconciled``); while the gateway cannot be reached, refuses
the question or answers something unverifiable, it stays open, to be asked again
(``checked_at``: those never asked come first). A cancelled attempt is asked once
too (its page may have been paid in another tab): paid, ``settle``'s rules again;
not paid, it stays cancelled.
A late callback racing the reconciliation finds the attempt settled, or settles it
first: either way once.

**Refunding** money taken twice: a ``surplus`` attempt is refunded through the
gateway (``refund_surplus``: ``PaymentBackend.refund``), by an officer of the agency
from the back office or by the housekeeping command when
``DOSSIERS_PAYMENT_AUTO_REFUND`` is on (``refund_due``); or an officer records a
refund made otherwise, by bank transfer or in cash at the counter, with its
reference (``mark_refunded``). Once refunded the attempt is ``refunded`` (time,
reference, way, by whom), audited ``payment_refunded``, and the applicant is told
(``notifications.notify_refund_on_commit``). A refund is started once: the attempt
is claimed (``refund_started_at``, by a conditional update) before the gateway is
called outside any transaction, and a second request meanwhile is refused
``refund_under_way``, one after it ``refund_not_due``. When the gateway fails or
refuses, the attempt stays ``surplus`` with the error (``refund_error``, audited
``refund_failed``), to try again. A claim whose outcome never came back
(the process stopped during the call) may be taken again after ``REFUND_LEASE``;
a gateway does not refund one transaction beyond its amount, so a refund that
went through is refused when asked again, and the officer records it otherwise.
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

import httpx
import structlog
from django.conf import settings
from django.core import signing
from django.db import models, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from lienthong.audit import services as audit
from lienthong.dossiers import interconnection, notifications, services, workflow
from lienthong.dossiers.errors import DossierConflict, DossierError
from lienthong.dossiers.models import AttemptState, Dossier, Payment, PaymentAttempt, Status

log = structlog.get_logger(__name__)

SOURCE = "dossiers"

# What ``settle`` did with a confirmation.
RECORDED = "recorded"  # the fee is paid by this attempt; the dossier goes on
ALREADY = "already"  # this attempt's confirmation was recorded before: nothing changed
SURPLUS = "surplus"  # paid after the fee was paid otherwise: kept on record, to refund
# What ``reconcile`` and ``refund_due`` did besides.
FAILED = "failed"  # not paid, or unknown to the gateway: the open attempt is closed
LEFT_OPEN = "open"  # the gateway could not say: asked again next time
REFUNDED = "refunded"  # the surplus was given back

# ``refunded_through`` of a refund made outside the gateway (transfer, cash).
REFUNDED_OTHERWISE = "other"
# How long after the gateway's expiry an open attempt is asked about.
RECONCILE_MARGIN = dt.timedelta(minutes=15)
# How long a refund under way keeps its claim: far beyond the gateway call's timeout.
REFUND_LEASE = dt.timedelta(minutes=10)
# Who acts for the housekeeping command.
HOUSEKEEPING = "system"


class PaymentRefused(DossierError):
    """The payment backend did not confirm a payment (``payment_unverified``: 400),
    says it was not made (``payment_failed``: 400) or cannot be reached
    (``payment_unavailable``: 503). Nothing was paid.

    Of a transaction query or a refund: ``payment_unavailable`` (not reachable, or
    not configured), ``payment_unverified`` (an answer whose signature does not
    verify), ``payment_query_refused`` / ``refund_refused`` (the gateway refused;
    ``details["gateway_code"]`` is its own code). Nothing changed at the gateway,
    as far as this node knows."""


@dataclass(frozen=True)
class Checkout:
    """A payment created at the backend: its reference there, and the page the
    applicant's browser is sent to, to pay."""

    reference: str
    url: str
    # When the gateway's payment was created, as the backend sent it (a gateway
    # that names its transactions by it later, as VNPAY's query and refund do).
    created_at: dt.datetime | None = None


@dataclass(frozen=True)
class Refund:
    """A refund the gateway made: its ``reference`` there (the refund's transaction
    number, else the request's), and the ``amount`` given back (VND)."""

    reference: str
    amount: int


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


@dataclass(frozen=True)
class Reconciled:
    """What ``reconcile`` did with one attempt: ``outcome`` is one of ``settle``'s
    (``recorded``, ``surplus``, ``already``), ``failed`` (closed, not paid),
    ``cancelled`` (a cancelled attempt, not paid: left so) or ``open`` (the gateway
    could not say: ``code`` says why)."""

    attempt: PaymentAttempt
    outcome: str
    code: str = ""


@dataclass(frozen=True)
class Refunded:
    """What ``refund_due`` did with one surplus: ``outcome`` is ``refunded`` or
    ``failed`` (``code`` says why; the surplus stays, to try again)."""

    attempt: PaymentAttempt
    outcome: str
    code: str = ""
    reference: str = ""


class PaymentBackend:
    """A payment gateway's adapter. ``name`` (letters, digits, ``-``, ``_``) is
    recorded with each payment and names the callback's address, which accepts
    ``callback_methods``."""

    name = ""
    callback_methods: tuple[str, ...] = ("POST",)
    # How long the gateway's payment page stays open: an attempt older than this
    # (and ``RECONCILE_MARGIN``) without a confirmation is asked of the gateway.
    expiry = dt.timedelta(hours=1)

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

    def query(self, attempt: PaymentAttempt) -> Confirmation | None:
        """The gateway's view of the attempt's transaction: a ``Confirmation`` (paid or
        not, the amount, its receipt), None when the gateway does not know it. Raise
        ``PaymentRefused``: ``payment_unavailable`` (not reachable, not configured, or
        a backend that cannot be asked), ``payment_unverified`` (an answer that does
        not verify), ``payment_query_refused`` (the gateway refused the question)."""
        log.warning("payment backend cannot be asked", backend=self.name)
        raise PaymentRefused("payment_unavailable")

    def refund(self, attempt: PaymentAttempt, *, amount: int, by: str) -> Refund:
        """Give ``amount`` (VND) of the attempt's payment back to the payer; ``by``
        names who asked it. Raise ``PaymentRefused``: ``payment_unavailable``,
        ``payment_unverified``, ``refund_refused`` (the gateway refused)."""
        log.warning("payment backend cannot refund", backend=self.name)
        raise PaymentRefused("payment_unavailable")

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

    expiry = dt.timedelta(seconds=MAX_AGE)

    def query(self, attempt: PaymentAttempt) -> Confirmation | None:
        """A console payment is created paid: any ``console-…`` reference is paid, of
        the amount asked; any other is unknown."""
        if not attempt.reference.startswith("console-"):
            return None
        digest = hashlib.sha256(attempt.reference.encode()).hexdigest()[:8].upper()
        return Confirmation(
            reference=attempt.reference,
            amount=attempt.payment.amount,
            receipt=attempt.receipt or f"DEMO-{digest}",
        )

    def refund(self, attempt: PaymentAttempt, *, amount: int, by: str) -> Refund:
        """Nothing was charged: the refund is a demonstration reference, logged."""
        reference = "DEMO-REFUND-" + secrets.token_hex(4).upper()
        log.info("demo refund", reference=attempt.reference, amount=amount, refund=reference, by=by)
        return Refund(reference=reference, amount=amount)


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


# VNPAY's merchant API (transaction query and refund, API 2.1.0) signs the values of
# these fields, in this order, joined by "|" (absent ones empty).
VNPAY_QUERY_FIELDS = (
    "vnp_RequestId", "vnp_Version", "vnp_Command", "vnp_TmnCode", "vnp_TxnRef",
    "vnp_TransactionDate", "vnp_CreateDate", "vnp_IpAddr", "vnp_OrderInfo",
)  # fmt: skip
VNPAY_QUERY_ANSWER_FIELDS = (
    "vnp_ResponseId", "vnp_Command", "vnp_ResponseCode", "vnp_Message", "vnp_TmnCode",
    "vnp_TxnRef", "vnp_Amount", "vnp_BankCode", "vnp_PayDate", "vnp_TransactionNo",
    "vnp_TransactionType", "vnp_TransactionStatus", "vnp_OrderInfo", "vnp_PromotionCode",
    "vnp_PromotionAmount",
)  # fmt: skip
VNPAY_REFUND_FIELDS = (
    "vnp_RequestId", "vnp_Version", "vnp_Command", "vnp_TmnCode", "vnp_TransactionType",
    "vnp_TxnRef", "vnp_Amount", "vnp_TransactionNo", "vnp_TransactionDate", "vnp_CreateBy",
    "vnp_CreateDate", "vnp_IpAddr", "vnp_OrderInfo",
)  # fmt: skip
VNPAY_REFUND_ANSWER_FIELDS = (
    "vnp_ResponseId", "vnp_Command", "vnp_ResponseCode", "vnp_Message", "vnp_TmnCode",
    "vnp_TxnRef", "vnp_Amount", "vnp_BankCode", "vnp_PayDate", "vnp_TransactionNo",
    "vnp_TransactionType", "vnp_TransactionStatus", "vnp_OrderInfo",
)  # fmt: skip


def vnpay_amount(value: str) -> int:
    """VNPAY's ``vnp_Amount`` (VND times 100) in đồng; -1 when it has hundredths (VND
    has no cents: never an amount asked). ValueError when it is not a number."""
    amount, cents = divmod(int(value), 100)
    return amount if not cents else -1


def vnpay_checksum(values: Mapping[str, Any], fields: tuple[str, ...], secret: str) -> str:
    """The ``vnp_SecureHash`` of VNPAY's merchant API: HMAC-SHA512 with the hash secret
    over the values of ``fields``, in that order, joined by ``|`` (an absent or null
    value as empty); lower-case hex."""
    data = "|".join("" if values.get(key) is None else str(values[key]) for key in fields)
    return hmac.new(secret.encode(), data.encode(), hashlib.sha512).hexdigest()


def http_client() -> httpx.Client:
    """The client that calls a gateway's API (replaced in the tests)."""
    return httpx.Client(timeout=VnpayBackend.TIMEOUT, follow_redirects=False)


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
    answered ``{"RspCode", "Message"}`` as the gateway expects.

    ``query`` (``vnp_Command=querydr``) and ``refund`` (``vnp_Command=refund``) call
    the merchant API (``VNPAY_API_URL``: JSON by POST, ``TIMEOUT`` seconds), signed
    and verified with the ``|``-joined checksums (``vnpay_checksum``): the
    transaction is named by its reference and the time its payment was created
    (``vnp_TransactionDate``, the attempt's ``gateway_created_at``). Every answer
    must carry a checksum that verifies (compared in constant time), of this
    terminal and this reference, else it is ``payment_unverified``. A query's
    ``vnp_ResponseCode`` ``91`` is a transaction the gateway does not know (None);
    ``00`` with ``vnp_TransactionStatus`` ``00`` is paid, ``01`` (not completed) or
    ``02`` (failed) not paid, any other status (reversed, refunding, held as
    suspect) is left to a person (``payment_query_refused``). A refund of the whole
    amount is ``vnp_TransactionType`` ``02``, of a part ``03``; any answer but
    ``00`` is ``refund_refused``."""

    name = "vnpay"
    callback_methods = ("GET", "POST")
    VERSION = "2.1.0"
    TIMEOUT = 15  # seconds, for the merchant API
    # The server's address the merchant API asks for (vnp_IpAddr).
    SERVER_IP = "127.0.0.1"

    def __init__(self) -> None:
        self.tmn_code = settings.VNPAY_TMN_CODE
        self.secret = settings.VNPAY_HASH_SECRET.strip()
        self.url = settings.VNPAY_URL
        self.api_url = getattr(settings, "VNPAY_API_URL", "")
        self.expire = self.expiry = dt.timedelta(minutes=settings.VNPAY_EXPIRE_MINUTES)

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
        return Checkout(
            reference,
            f"{self.url}{separator}{query}&vnp_SecureHash={signature}",
            created_at=now.replace(microsecond=0),
        )

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
            amount = vnpay_amount(fields["vnp_Amount"])
            reference = fields["vnp_TxnRef"]
        except (KeyError, ValueError) as exc:
            raise PaymentRefused("payment_unverified") from exc
        return Confirmation(
            reference=reference,
            amount=amount,
            receipt=fields.get("vnp_TransactionNo", ""),
            paid=fields.get("vnp_ResponseCode") == "00"
            and fields.get("vnp_TransactionStatus") == "00",
        )

    # --- The merchant API: transaction query and refund ---------------------------

    def query(self, attempt: PaymentAttempt) -> Confirmation | None:
        now = self._api_ready()
        body = {
            "vnp_RequestId": secrets.token_hex(16),
            "vnp_Version": self.VERSION,
            "vnp_Command": "querydr",
            "vnp_TmnCode": self.tmn_code,
            "vnp_TxnRef": attempt.reference,
            "vnp_OrderInfo": f"Truy van giao dich {attempt.reference}",
            "vnp_TransactionDate": self._transaction_date(attempt),
            "vnp_CreateDate": now,
            "vnp_IpAddr": self.SERVER_IP,
        }
        answer = self._call(body, VNPAY_QUERY_FIELDS, VNPAY_QUERY_ANSWER_FIELDS, attempt)
        code = answer.get("vnp_ResponseCode")
        if code == "91":
            return None  # the gateway has no such transaction
        status = answer.get("vnp_TransactionStatus")
        if code != "00" or status not in ("00", "01", "02"):
            log.warning(
                "vnpay query refused",
                reference=attempt.reference,
                response=code,
                status=status,
                message=answer.get("vnp_Message", ""),
            )
            raise PaymentRefused("payment_query_refused", gateway_code=f"{code}/{status}")
        try:
            amount = vnpay_amount(answer.get("vnp_Amount", ""))
        except ValueError as exc:
            raise PaymentRefused("payment_unverified") from exc
        return Confirmation(
            reference=attempt.reference,
            amount=amount,
            receipt=answer.get("vnp_TransactionNo", ""),
            paid=status == "00",
        )

    def refund(self, attempt: PaymentAttempt, *, amount: int, by: str) -> Refund:
        now = self._api_ready()
        request_id = secrets.token_hex(16)
        body = {
            "vnp_RequestId": request_id,
            "vnp_Version": self.VERSION,
            "vnp_Command": "refund",
            "vnp_TmnCode": self.tmn_code,
            "vnp_TransactionType": "02" if amount == attempt.payment.amount else "03",
            "vnp_TxnRef": attempt.reference,
            "vnp_Amount": str(amount * 100),
            # The gateway's number of the payment; "0" when it was never told.
            "vnp_TransactionNo": attempt.receipt or "0",
            "vnp_TransactionDate": self._transaction_date(attempt),
            "vnp_CreateBy": (by or HOUSEKEEPING)[:250],
            "vnp_CreateDate": now,
            "vnp_IpAddr": self.SERVER_IP,
            # Without diacritics, as the gateway asks.
            "vnp_OrderInfo": f"Hoan tien thanh toan trung {attempt.reference}",
        }
        answer = self._call(body, VNPAY_REFUND_FIELDS, VNPAY_REFUND_ANSWER_FIELDS, attempt)
        code = answer.get("vnp_ResponseCode")
        if code != "00":
            log.warning(
                "vnpay refund refused",
                reference=attempt.reference,
                response=code,
                message=answer.get("vnp_Message", ""),
            )
            raise PaymentRefused("refund_refused", gateway_code=str(code))
        return Refund(reference=answer.get("vnp_TransactionNo") or request_id, amount=amount)

    def _api_ready(self) -> str:
        """The request's time (Vietnam time, yyyyMMddHHmmss), once the API is configured."""
        if not (self.tmn_code and self.secret and self.api_url):
            log.error(
                "vnpay merchant API not configured",
                missing="VNPAY_TMN_CODE, VNPAY_HASH_SECRET, VNPAY_API_URL",
            )
            raise PaymentRefused("payment_unavailable")
        return timezone.now().astimezone(VIETNAM).strftime("%Y%m%d%H%M%S")

    @staticmethod
    def _transaction_date(attempt: PaymentAttempt) -> str:
        """The payment's ``vnp_CreateDate`` as it was sent (recorded with the attempt;
        for an attempt recorded before it was, the time it was started)."""
        created = attempt.gateway_created_at or attempt.started_at
        return created.astimezone(VIETNAM).strftime("%Y%m%d%H%M%S")

    def _call(
        self,
        body: dict[str, str],
        fields: tuple[str, ...],
        answer_fields: tuple[str, ...],
        attempt: PaymentAttempt,
    ) -> dict[str, str]:
        """POST the signed request; the answer's fields, once its checksum verifies and
        it is this terminal's answer about this transaction."""
        body["vnp_SecureHash"] = vnpay_checksum(body, fields, self.secret)
        try:
            with http_client() as client:
                response = client.post(self.api_url, json=body)
        except httpx.HTTPError as exc:
            log.warning(
                "vnpay merchant API unreachable", command=body["vnp_Command"], error=str(exc)
            )
            raise PaymentRefused("payment_unavailable") from exc
        if response.status_code != 200:
            log.warning(
                "vnpay merchant API failed",
                command=body["vnp_Command"],
                status=response.status_code,
            )
            raise PaymentRefused("payment_unavailable")
        try:
            answer = response.json()
        except ValueError as exc:
            raise PaymentRefused("payment_unverified") from exc
        if not isinstance(answer, dict):
            raise PaymentRefused("payment_unverified")
        given = str(answer.get("vnp_SecureHash") or "").lower()
        expected = vnpay_checksum(answer, answer_fields, self.secret)
        if not hmac.compare_digest(given, expected):
            log.warning("vnpay answer not verified", command=body["vnp_Command"])
            raise PaymentRefused("payment_unverified")
        fields_given = {k: "" if v is None else str(v) for k, v in answer.items()}
        if (
            fields_given.get("vnp_TmnCode") != self.tmn_code
            or fields_given.get("vnp_TxnRef") != attempt.reference
            or fields_given.get("vnp_Command", body["vnp_Command"]) != body["vnp_Command"]
        ):
            raise PaymentRefused("payment_unverified")
        return fields_given

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
            payment=locked,
            backend=chosen.name,
            reference=checkout.reference,
            started_at=now,
            gateway_created_at=checkout.created_at,
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
    return _judge(chosen, chosen.verify(params), dossier=dossier)


def _judge(
    chosen: PaymentBackend, confirmation: Confirmation, *, dossier: Dossier | None = None
) -> Settled:
    """``settle``'s judgement of a confirmation the backend vouches for (verified from
    what the gateway sent, or the gateway's answer to ``query``)."""
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
    _close_failed(chosen, attempt)
    raise PaymentRefused("payment_failed")


def _close_failed(chosen: PaymentBackend, attempt: PaymentAttempt, **noted: Any) -> bool:
    """Close the attempt as failed if it is still open (audited ``payment_failed``);
    whether it was. A confirmation that lands meanwhile wins: the update is conditional."""
    with transaction.atomic():
        closed = PaymentAttempt.objects.filter(pk=attempt.pk, state=AttemptState.OPEN).update(
            state=AttemptState.FAILED, closed_at=timezone.now()
        )
        if closed:
            audit.record(
                actor=workflow.paid_through(chosen.name),
                action="payment_failed",
                obj=attempt.payment.dossier,
                changes={"payment": attempt.payment_id, "reference": attempt.reference, **noted},
                source=SOURCE,
            )
    return bool(closed)


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


# --- Reconciling open attempts with the gateway -----------------------------------------


def reconcile(*, older_than: dt.timedelta | None = None, limit: int = 100) -> list[Reconciled]:
    """Ask the gateway about the configured backend's attempts still open (and, once,
    the cancelled ones) after
    ``older_than`` (default: the backend's ``expiry`` and ``RECONCILE_MARGIN``), the
    oldest first, at most ``limit``; see the module's docstring. Safe to run again,
    and beside the callbacks: every change is ``settle``'s, or conditional on the
    attempt being open still."""
    chosen = backend()
    wait = older_than if older_than is not None else chosen.expiry + RECONCILE_MARGIN
    attempts = (
        PaymentAttempt.objects.select_related("payment__dossier")
        .filter(
            models.Q(state=AttemptState.OPEN)
            | models.Q(state=AttemptState.CANCELLED, checked_at__isnull=True),
            backend=chosen.name,
            started_at__lt=timezone.now() - wait,
        )
        # Those never asked first; one the gateway keeps refusing goes to the back.
        .order_by(models.F("checked_at").asc(nulls_first=True), "started_at", "id")[:limit]
    )
    return [_reconcile(chosen, attempt) for attempt in attempts]


def _reconcile(chosen: PaymentBackend, attempt: PaymentAttempt) -> Reconciled:
    try:
        confirmation = chosen.query(attempt)
        if confirmation is not None and confirmation.reference != attempt.reference:
            raise PaymentRefused("payment_unverified")
    except PaymentRefused as exc:
        log.warning("payment left open", reference=attempt.reference, code=exc.code)
        # A cancelled attempt is asked again only while the gateway cannot be reached.
        if attempt.state == AttemptState.OPEN or exc.code != "payment_unavailable":
            _checked(attempt)
        return Reconciled(attempt, LEFT_OPEN, exc.code)
    _checked(attempt)
    if confirmation is not None and confirmation.paid:
        try:
            settled = _judge(chosen, confirmation)
        except DossierError as exc:  # another amount, a dossier that moved meanwhile
            log.warning("paid payment left open", reference=attempt.reference, code=exc.code)
            return Reconciled(attempt, LEFT_OPEN, exc.code)
        log.info("payment reconciled", reference=attempt.reference, outcome=settled.outcome)
        return Reconciled(attempt, settled.outcome)
    known = "not_paid" if confirmation is not None else "unknown_to_gateway"
    if attempt.state == AttemptState.CANCELLED:
        return Reconciled(attempt, AttemptState.CANCELLED, known)  # replaced, and not paid
    if _close_failed(chosen, attempt, reconciled=known):
        log.info("payment closed as failed", reference=attempt.reference, gateway=known)
        return Reconciled(attempt, FAILED, known)
    # Settled or replaced meanwhile (a late callback, a new attempt): theirs stands.
    attempt.refresh_from_db(fields=["state"])
    return Reconciled(attempt, ALREADY, attempt.state)


def _checked(attempt: PaymentAttempt) -> None:
    """Note that the gateway was asked about the attempt now."""
    PaymentAttempt.objects.filter(pk=attempt.pk).update(checked_at=timezone.now())


# --- Refunding money taken twice -----------------------------------------------------------


def refund_surplus(attempt: PaymentAttempt, *, actor: Any) -> PaymentAttempt:
    """Refund a ``surplus`` attempt through the gateway it was paid at, once; the
    attempt as it is now (``refunded``). See the module's docstring.

    Refused: ``refund_not_due`` (not a surplus: refunded already, or never paid
    twice), ``refund_under_way``, ``refund_other_backend`` (paid through a backend
    that is not the configured one), and the backend's ``payment_unavailable``,
    ``payment_unverified``, ``refund_refused`` (recorded as the surplus's last error,
    audited ``refund_failed``: it may be tried again)."""
    chosen = backend()
    attempt = PaymentAttempt.objects.select_related("payment__dossier").get(pk=attempt.pk)
    if attempt.state != AttemptState.SURPLUS:
        raise DossierConflict("refund_not_due")
    if attempt.backend != chosen.name:
        raise DossierConflict("refund_other_backend")
    claimed_at = timezone.now()
    claimed = (
        PaymentAttempt.objects.filter(pk=attempt.pk, state=AttemptState.SURPLUS)
        .filter(_unclaimed(claimed_at))
        .update(refund_started_at=claimed_at)
    )
    if not claimed:
        attempt.refresh_from_db()
        code = "refund_under_way" if attempt.state == AttemptState.SURPLUS else "refund_not_due"
        raise DossierConflict(code)
    amount = attempt.payment.amount
    dossier = attempt.payment.dossier
    try:
        # Outside any transaction: the gateway's answer must not hold a lock.
        refund = chosen.refund(attempt, amount=amount, by=audit.actor_label(actor))
    except PaymentRefused as exc:
        with transaction.atomic():
            PaymentAttempt.objects.filter(pk=attempt.pk, state=AttemptState.SURPLUS).update(
                refund_started_at=None, refund_tried_at=timezone.now(), refund_error=exc.code
            )
            audit.record(
                actor=actor,
                action="refund_failed",
                obj=dossier,
                changes={
                    "payment": attempt.payment_id,
                    "reference": attempt.reference,
                    "amount": amount,
                    "code": exc.code,
                    **{k: str(v) for k, v in exc.details.items()},
                },
                source=SOURCE,
            )
        log.warning("refund failed", code=dossier.code, reference=attempt.reference, error=exc.code)
        raise
    return _record_refund(
        attempt,
        actor=actor,
        through=chosen.name,
        reference=refund.reference,
        amount=refund.amount,
    )


def mark_refunded(
    attempt: PaymentAttempt, *, actor: Any, reference: str, note: str = ""
) -> PaymentAttempt:
    """An officer records a surplus refunded otherwise (a bank transfer, cash at the
    counter) with its ``reference``; audited ``payment_refunded`` as one through the
    gateway is. Refused: ``refund_reference_required``, ``refund_not_due``,
    ``refund_under_way`` (the gateway is being asked: wait for its answer)."""
    reference = reference.strip()
    if not reference:
        raise DossierConflict("refund_reference_required")
    current = PaymentAttempt.objects.select_related("payment__dossier").get(pk=attempt.pk)
    if current.state != AttemptState.SURPLUS:
        raise DossierConflict("refund_not_due")
    return _record_refund(
        current,
        actor=actor,
        through=REFUNDED_OTHERWISE,
        reference=reference[:100],
        amount=current.payment.amount,
        note=note.strip()[:500],
    )


def _unclaimed(now: dt.datetime) -> models.Q:
    """No refund under way: never claimed, or a claim past its lease."""
    return models.Q(refund_started_at__isnull=True) | models.Q(
        refund_started_at__lt=now - REFUND_LEASE
    )


def _record_refund(
    attempt: PaymentAttempt, *, actor: Any, through: str, reference: str, amount: int, note=""
) -> PaymentAttempt:
    """Record the refund once (the update is conditional on the surplus), audited, and
    tell the applicant once it commits. One made otherwise is recorded only while no
    refund is under way at the gateway."""
    dossier = attempt.payment.dossier
    user = audit.actor_user(actor)
    otherwise = through == REFUNDED_OTHERWISE
    with transaction.atomic():
        now = timezone.now()
        still = PaymentAttempt.objects.filter(pk=attempt.pk, state=AttemptState.SURPLUS)
        if otherwise:
            still = still.filter(_unclaimed(now))
        recorded = still.update(
            state=AttemptState.REFUNDED,
            refunded_at=now,
            refunded_through=through,
            refund_reference=reference,
            refund_note=note,
            refunded_by=user,
            refund_started_at=None,
            refund_error="",
        )
        changes = {
            "payment": attempt.payment_id,
            "reference": attempt.reference,
            "amount": amount,
            "through": through,
            "refund": reference,
        }
        if note:
            changes["note"] = note
        if not recorded and otherwise:
            state = PaymentAttempt.objects.filter(pk=attempt.pk).values_list("state", flat=True)
            under_way = state.first() == AttemptState.SURPLUS
            raise DossierConflict("refund_under_way" if under_way else "refund_not_due")
        if not recorded:
            # Refunded at the gateway, though recorded refunded meanwhile (a claim
            # taken again after its lease): the money trail is kept all the same.
            log.error("refund recorded twice", code=dossier.code, reference=attempt.reference)
            changes["already_refunded"] = True
        audit.record(
            actor=actor, action="payment_refunded", obj=dossier, changes=changes, source=SOURCE
        )
        if recorded:
            attempt.refresh_from_db()
            notifications.notify_refund_on_commit(dossier, attempt)
    log.info("payment refunded", code=dossier.code, reference=attempt.reference, through=through)
    attempt.refresh_from_db()
    if not recorded:
        raise DossierConflict("refund_not_due")
    return attempt


def refundable(*, limit: int = 100):
    """The surpluses the configured backend may refund now: not under way, the
    oldest first."""
    return (
        PaymentAttempt.objects.select_related("payment__dossier")
        .filter(state=AttemptState.SURPLUS, backend=backend().name)
        .filter(_unclaimed(timezone.now()))
        .order_by("closed_at", "id")[:limit]
    )


def refund_due(*, limit: int = 100) -> list[Refunded]:
    """The housekeeping's refunds (``DOSSIERS_PAYMENT_AUTO_REFUND``): each surplus the
    configured backend may refund, through the gateway, acting as ``HOUSEKEEPING``.
    One that fails stays a surplus with its error, to try again next time."""
    done = []
    for attempt in refundable(limit=limit):
        try:
            refunded = refund_surplus(attempt, actor=HOUSEKEEPING)
        except DossierError as exc:
            done.append(Refunded(attempt, FAILED, exc.code))
        else:
            done.append(Refunded(refunded, REFUNDED, reference=refunded.refund_reference))
    return done
