"""Money taken twice is refunded once, and a payment whose callback was lost is asked
of the gateway: VNPAY's merchant API (querydr, refund) against a stand-in answering
as the gateway does, the console backend, and the housekeeping command.

Chị Mai's dossier asks 30.000 VND; she pays online in two tabs, or online after
paying at the counter, and the second payment is a surplus to refund."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from lienthong.audit.models import AuditRecord
from lienthong.dossiers import notifications, payments, services
from lienthong.dossiers.errors import DossierConflict
from lienthong.dossiers.models import AttemptState, Payment, PaymentAttempt, Status
from lienthong.dossiers.tests.conftest import fee_asked, put_in, submit

pytestmark = pytest.mark.django_db

RETURN = "https://portal.test/dossiers/X/payment/return/"
CALLBACK = "https://portal.test/dossiers/payments/console/callback/"
API = "https://sandbox.vnpay.test/merchant_webapi/api/transaction"
TMN = "LTTEST01"
SECRET = "TESTSECRETTESTSECRETTESTSECRET12"
# 10:30 in Hà Nội (UTC+7) on Monday 7 December 2026.
MORNING = dt.datetime(2026, 12, 7, 3, 30, tzinfo=dt.UTC)


@pytest.fixture
def clock():
    with time_machine.travel(MORNING, tick=False) as traveller:
        yield traveller


@pytest.fixture
def waiting(people, clock):
    return fee_asked(people)


def waiting_code(attempt) -> str:
    return attempt.payment.dossier.code


def begin(people, dossier):
    return payments.start(
        actor=people.mai, dossier=dossier, return_url=RETURN, callback_url=CALLBACK
    )


def token(checkout) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(checkout.url).query).items()}


@pytest.fixture
def surplus(people, waiting):
    """Paid at the counter, then online: the online attempt is money taken twice."""
    checkout = begin(people, waiting)
    services.confirm_payment(
        actor=people.lan, dossier=waiting, expected_version=waiting.version, receipt="BL-7"
    )
    assert payments.settle(token(checkout)).outcome == payments.SURPLUS
    return PaymentAttempt.objects.get(reference=checkout.reference)


# --- The gateway's side, written apart from the backend's ----------------------------------

# As VNPAY's documentation writes them: the fields a checksum covers, joined by "|".
QUERY = (
    "vnp_RequestId|vnp_Version|vnp_Command|vnp_TmnCode|vnp_TxnRef|vnp_TransactionDate|"
    "vnp_CreateDate|vnp_IpAddr|vnp_OrderInfo"
)
REFUND = (
    "vnp_RequestId|vnp_Version|vnp_Command|vnp_TmnCode|vnp_TransactionType|vnp_TxnRef|"
    "vnp_Amount|vnp_TransactionNo|vnp_TransactionDate|vnp_CreateBy|vnp_CreateDate|vnp_IpAddr|"
    "vnp_OrderInfo"
)
QUERY_ANSWER = (
    "vnp_ResponseId|vnp_Command|vnp_ResponseCode|vnp_Message|vnp_TmnCode|vnp_TxnRef|vnp_Amount|"
    "vnp_BankCode|vnp_PayDate|vnp_TransactionNo|vnp_TransactionType|vnp_TransactionStatus|"
    "vnp_OrderInfo|vnp_PromotionCode|vnp_PromotionAmount"
)
REFUND_ANSWER = (
    "vnp_ResponseId|vnp_Command|vnp_ResponseCode|vnp_Message|vnp_TmnCode|vnp_TxnRef|vnp_Amount|"
    "vnp_BankCode|vnp_PayDate|vnp_TransactionNo|vnp_TransactionType|vnp_TransactionStatus|"
    "vnp_OrderInfo"
)


def order(fields: str) -> list[str]:
    return fields.split("|")


QUERY_ORDER, REFUND_ORDER = order(QUERY), order(REFUND)
QUERY_ANSWER_ORDER, REFUND_ANSWER_ORDER = order(QUERY_ANSWER), order(REFUND_ANSWER)


def hmac512(data: str, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), data.encode(), hashlib.sha512).hexdigest()


def signed(order: list[str], values: dict, secret: str = SECRET) -> dict:
    return {**values, "vnp_SecureHash": hmac512("|".join(values.get(k, "") for k in order), secret)}


class Gateway:
    """VNPAY's merchant API: checks the merchant's checksum, answers signed."""

    def __init__(self):
        self.requests: list[dict] = []
        self.query_answer = {"vnp_ResponseCode": "00", "vnp_TransactionStatus": "00"}
        self.refund_answer = {"vnp_ResponseCode": "00", "vnp_TransactionNo": "14000777"}
        self.status = 200
        self.secret = SECRET
        self.tamper: dict = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == API and request.method == "POST"
        body = json.loads(request.content)
        self.requests.append(body)
        order = QUERY_ORDER if body["vnp_Command"] == "querydr" else REFUND_ORDER
        data = "|".join(str(body[k]) for k in order)
        assert hmac.compare_digest(body["vnp_SecureHash"], hmac512(data)), "merchant's checksum"
        if self.status != 200:
            return httpx.Response(self.status, text="busy")
        common = {
            "vnp_ResponseId": "a1b2c3",
            "vnp_Command": body["vnp_Command"],
            "vnp_Message": "OK",
            "vnp_TmnCode": TMN,
            "vnp_TxnRef": body["vnp_TxnRef"],
            "vnp_BankCode": "NCB",
            "vnp_PayDate": "20261207103100",
            "vnp_OrderInfo": body["vnp_OrderInfo"],
        }
        if body["vnp_Command"] == "querydr":
            values = {
                **common,
                "vnp_Amount": "3000000",
                "vnp_TransactionNo": "14000001",
                "vnp_TransactionType": "01",
                "vnp_PromotionCode": "",
                "vnp_PromotionAmount": "",
                **self.query_answer,
            }
            answer = signed(QUERY_ANSWER_ORDER, values, self.secret)
        else:
            values = {
                **common,
                "vnp_Amount": body["vnp_Amount"],
                "vnp_TransactionType": body["vnp_TransactionType"],
                "vnp_TransactionStatus": "05",
                **self.refund_answer,
            }
            answer = signed(REFUND_ANSWER_ORDER, values, self.secret)
        return httpx.Response(200, json={**answer, **self.tamper})


@pytest.fixture
def gateway(settings, monkeypatch):
    settings.VNPAY_TMN_CODE = TMN
    settings.VNPAY_HASH_SECRET = SECRET
    settings.VNPAY_URL = "https://sandbox.vnpay.test/paymentv2/vpcpay.html"
    settings.VNPAY_API_URL = API
    stand_in = Gateway()
    transport = httpx.MockTransport(stand_in)
    monkeypatch.setattr(payments, "http_client", lambda: httpx.Client(transport=transport))
    return stand_in


def vnpay_attempt(waiting, **fields) -> PaymentAttempt:
    """An attempt at VNPAY created at 10:15:42 Hà Nội time (its vnp_CreateDate)."""
    created = dt.datetime(2026, 12, 7, 3, 15, 42, tzinfo=dt.UTC)
    values = {
        "payment": waiting.payment_due,
        "backend": "vnpay",
        "reference": "A1B2C3D4E5F6A7B8C9D0",
        "started_at": created + dt.timedelta(milliseconds=400),
        "gateway_created_at": created,
        "receipt": "14000001",
        **fields,
    }
    return PaymentAttempt.objects.create(**values)


def test_the_checksum_is_hmac_sha512_over_the_values_joined_by_bars():
    values = {"b": "2", "a": "1", "c": None}
    data = "1|2||"  # a, b, c (null as empty), d (absent as empty)
    assert payments.vnpay_checksum(values, ("a", "b", "c", "d"), SECRET) == hmac512(data)
    assert "|".join(payments.VNPAY_QUERY_FIELDS) == QUERY
    assert "|".join(payments.VNPAY_REFUND_FIELDS) == REFUND
    assert "|".join(payments.VNPAY_QUERY_ANSWER_FIELDS) == QUERY_ANSWER
    assert "|".join(payments.VNPAY_REFUND_ANSWER_FIELDS) == REFUND_ANSWER


def test_the_query_is_signed_as_vnpay_asks_and_its_answer_read(gateway, waiting):
    attempt = vnpay_attempt(waiting)

    found = payments.VnpayBackend().query(attempt)

    assert found == payments.Confirmation(attempt.reference, 30_000, "14000001", paid=True)
    sent = gateway.requests[-1]
    assert (sent["vnp_Command"], sent["vnp_Version"], sent["vnp_TmnCode"]) == (
        "querydr",
        "2.1.0",
        TMN,
    )
    # The transaction is named by the payment's creation time, in Vietnam time.
    assert sent["vnp_TransactionDate"] == "20261207101542"
    assert sent["vnp_CreateDate"] == "20261207103000"
    assert len(sent["vnp_RequestId"]) == 32
    expected = hmac512(
        f"{sent['vnp_RequestId']}|2.1.0|querydr|{TMN}|A1B2C3D4E5F6A7B8C9D0|20261207101542|"
        f"20261207103000|127.0.0.1|Truy van giao dich A1B2C3D4E5F6A7B8C9D0"
    )
    assert sent["vnp_SecureHash"] == expected


def test_the_refund_is_signed_as_vnpay_asks_and_its_answer_read(gateway, waiting):
    attempt = vnpay_attempt(waiting)

    refund = payments.VnpayBackend().refund(attempt, amount=30_000, by="lan.motcua")

    assert refund == payments.Refund(reference="14000777", amount=30_000)
    sent = gateway.requests[-1]
    assert sent["vnp_TransactionType"] == "02"  # the whole amount
    assert (sent["vnp_Amount"], sent["vnp_TransactionNo"]) == ("3000000", "14000001")
    expected = hmac512(
        f"{sent['vnp_RequestId']}|2.1.0|refund|{TMN}|02|A1B2C3D4E5F6A7B8C9D0|3000000|14000001|"
        f"20261207101542|lan.motcua|20261207103000|127.0.0.1|"
        f"Hoan tien thanh toan trung A1B2C3D4E5F6A7B8C9D0"
    )
    assert sent["vnp_SecureHash"] == expected
    payments.VnpayBackend().refund(attempt, amount=10_000, by="lan.motcua")
    assert gateway.requests[-1]["vnp_TransactionType"] == "03"  # a part


@pytest.mark.parametrize(
    "tamper",
    [
        {"vnp_Amount": "100"},  # not what was signed
        {"vnp_TransactionStatus": "00", "vnp_ResponseCode": "00", "vnp_SecureHash": "00" * 64},
        {"vnp_SecureHash": None},
    ],
    ids=["tampered", "forged", "unsigned"],
)
def test_an_answer_whose_checksum_does_not_verify_is_refused(gateway, waiting, tamper):
    attempt = vnpay_attempt(waiting)
    gateway.tamper = tamper
    for call in (
        lambda: payments.VnpayBackend().query(attempt),
        lambda: payments.VnpayBackend().refund(attempt, amount=30_000, by="x"),
    ):
        with pytest.raises(payments.PaymentRefused) as refused:
            call()
        assert refused.value.code == "payment_unverified"


def test_an_answer_signed_with_another_secret_or_for_another_terminal_is_refused(gateway, waiting):
    attempt = vnpay_attempt(waiting)
    gateway.secret = "not-the-secret"
    with pytest.raises(payments.PaymentRefused) as refused:
        payments.VnpayBackend().query(attempt)
    assert refused.value.code == "payment_unverified"
    gateway.secret = SECRET
    gateway.query_answer = {**gateway.query_answer, "vnp_TmnCode": "OTHER001"}
    with pytest.raises(payments.PaymentRefused) as refused:
        payments.VnpayBackend().query(attempt)
    assert refused.value.code == "payment_unverified"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"vnp_ResponseCode": "00", "vnp_TransactionStatus": "01"}, False),  # never completed
        ({"vnp_ResponseCode": "00", "vnp_TransactionStatus": "02"}, False),  # failed
        ({"vnp_ResponseCode": "91", "vnp_TransactionStatus": ""}, None),  # unknown there
        ({"vnp_ResponseCode": "99", "vnp_TransactionStatus": ""}, "payment_query_refused"),
        ({"vnp_ResponseCode": "00", "vnp_TransactionStatus": "07"}, "payment_query_refused"),
    ],
)
def test_what_the_gateway_says_of_a_transaction(gateway, waiting, answer, expected):
    attempt = vnpay_attempt(waiting)
    gateway.query_answer = answer
    if isinstance(expected, str):
        with pytest.raises(payments.PaymentRefused) as refused:
            payments.VnpayBackend().query(attempt)
        assert refused.value.code == expected
    elif expected is None:
        assert payments.VnpayBackend().query(attempt) is None
    else:
        assert payments.VnpayBackend().query(attempt).paid is expected


def test_a_refused_refund_an_unreachable_or_unconfigured_api(gateway, waiting, settings):
    attempt = vnpay_attempt(waiting)
    gateway.refund_answer = {"vnp_ResponseCode": "95"}
    with pytest.raises(payments.PaymentRefused) as refused:
        payments.VnpayBackend().refund(attempt, amount=30_000, by="x")
    assert (refused.value.code, refused.value.details["gateway_code"]) == ("refund_refused", "95")

    gateway.status = 502
    with pytest.raises(payments.PaymentRefused) as refused:
        payments.VnpayBackend().query(attempt)
    assert refused.value.code == "payment_unavailable"

    def down(request):
        raise httpx.ConnectError("connection refused", request=request)

    payments_client = httpx.Client(transport=httpx.MockTransport(down))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(payments, "http_client", lambda: payments_client)
        with pytest.raises(payments.PaymentRefused) as refused:
            payments.VnpayBackend().refund(attempt, amount=30_000, by="x")
    assert refused.value.code == "payment_unavailable"

    settings.VNPAY_API_URL = ""
    calls = len(gateway.requests)
    with pytest.raises(payments.PaymentRefused) as refused:
        payments.VnpayBackend().query(attempt)
    assert refused.value.code == "payment_unavailable"
    assert len(gateway.requests) == calls  # nothing sent


def test_a_vnpay_payment_records_when_it_was_created_at_the_gateway(
    people, waiting, gateway, settings, clock
):
    settings.DOSSIERS_PAYMENT_BACKEND = "vnpay"
    clock.shift(dt.timedelta(microseconds=250_000))

    checkout = begin(people, waiting)

    sent = parse_qs(urlsplit(checkout.url).query)
    assert sent["vnp_CreateDate"] == ["20261207103000"]
    attempt = PaymentAttempt.objects.get()
    assert attempt.gateway_created_at == MORNING
    payments.VnpayBackend().query(attempt)
    assert gateway.requests[-1]["vnp_TransactionDate"] == "20261207103000"


# --- Refunding a surplus -------------------------------------------------------------------


def test_a_surplus_is_refunded_once_audited_and_the_applicant_told(
    people, surplus, clock, django_capture_on_commit_callbacks
):
    clock.shift(dt.timedelta(days=1))

    with django_capture_on_commit_callbacks(execute=True) as sent:
        refunded = payments.refund_surplus(surplus, actor=people.lan)
    assert len(sent) == 1

    assert refunded.state == AttemptState.REFUNDED
    assert refunded.refund_reference.startswith("DEMO-REFUND-")
    assert (refunded.refunded_through, refunded.refunded_by) == ("console", people.lan)
    assert refunded.refunded_at == MORNING + dt.timedelta(days=1)
    with pytest.raises(DossierConflict) as again:
        payments.refund_surplus(surplus, actor=people.lan)
    assert again.value.code == "refund_not_due"
    record = AuditRecord.objects.get(action="payment_refunded")
    assert record.changes["refund"] == refunded.refund_reference
    assert record.changes["amount"] == 30_000
    told = [n for n in notifications.MemoryBackend.outbox if refunded.refund_reference in n.text]
    assert len(told) == 1
    assert (told[0].email, told[0].phone) == ("mai@example.test", "0912345678")
    assert "08/12/2026" in told[0].text and "30.000" in told[0].text
    assert waiting_code(refunded) in told[0].text
    # The fee stays paid at the counter.
    assert Payment.objects.get().receipt == "BL-7"


class FailingConsole(payments.ConsoleBackend):
    """The console backend, its gateway down for refunds."""

    def refund(self, attempt, *, amount, by):
        raise payments.PaymentRefused("payment_unavailable")


def test_a_gateway_failure_keeps_the_surplus_to_try_again(
    people, surplus, settings, django_capture_on_commit_callbacks
):
    settings.DOSSIERS_PAYMENT_BACKEND = f"{__name__}.FailingConsole"
    told = len(notifications.MemoryBackend.outbox)

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(payments.PaymentRefused):
        payments.refund_surplus(surplus, actor=people.lan)

    surplus.refresh_from_db()
    assert surplus.state == AttemptState.SURPLUS
    assert (surplus.refund_error, surplus.refund_started_at) == ("payment_unavailable", None)
    assert surplus.refund_tried_at is not None
    failed = AuditRecord.objects.get(action="refund_failed")
    assert failed.changes["code"] == "payment_unavailable"
    assert all("VND" not in n.text for n in notifications.MemoryBackend.outbox[told:])

    settings.DOSSIERS_PAYMENT_BACKEND = "console"
    assert payments.refund_surplus(surplus, actor=people.lan).state == AttemptState.REFUNDED
    surplus.refresh_from_db()
    assert surplus.refund_error == ""


class Reentrant(payments.ConsoleBackend):
    """While the gateway refunds, someone asks for the same refund again."""

    seen: list[str] = []

    def refund(self, attempt, *, amount, by):
        for again in (
            lambda: payments.refund_surplus(attempt, actor=payments.HOUSEKEEPING),
            lambda: payments.mark_refunded(attempt, actor=None, reference="CK-1"),
        ):
            try:
                again()
            except DossierConflict as exc:
                Reentrant.seen.append(exc.code)
        return super().refund(attempt, amount=amount, by=by)


def test_a_refund_under_way_is_not_started_again_nor_recorded_otherwise(people, surplus, settings):
    settings.DOSSIERS_PAYMENT_BACKEND = f"{__name__}.Reentrant"
    Reentrant.seen = []

    payments.refund_surplus(surplus, actor=people.lan)

    assert Reentrant.seen == ["refund_under_way", "refund_under_way"]
    assert AuditRecord.objects.filter(action="payment_refunded").count() == 1
    assert PaymentAttempt.objects.get(pk=surplus.pk).refunded_through == "console"


def test_a_claim_whose_outcome_never_came_may_be_taken_again_after_its_lease(
    people, surplus, clock
):
    PaymentAttempt.objects.filter(pk=surplus.pk).update(refund_started_at=timezone.now())
    with pytest.raises(DossierConflict) as refused:
        payments.refund_surplus(surplus, actor=people.lan)
    assert refused.value.code == "refund_under_way"
    assert list(payments.refundable()) == []

    clock.shift(payments.REFUND_LEASE + dt.timedelta(seconds=1))
    assert list(payments.refundable()) == [surplus]
    assert payments.refund_surplus(surplus, actor=people.lan).state == AttemptState.REFUNDED


def test_only_a_surplus_is_refunded(people, waiting):
    checkout = begin(people, waiting)
    payments.settle(token(checkout))
    paid = PaymentAttempt.objects.get()
    assert paid.state == AttemptState.PAID
    for refund in (
        lambda: payments.refund_surplus(paid, actor=people.lan),
        lambda: payments.mark_refunded(paid, actor=people.lan, reference="CK-1"),
    ):
        with pytest.raises(DossierConflict) as refused:
            refund()
        assert refused.value.code == "refund_not_due"
    assert PaymentAttempt.objects.get().state == AttemptState.PAID


def test_a_surplus_of_another_backend_is_refunded_otherwise(people, surplus):
    PaymentAttempt.objects.filter(pk=surplus.pk).update(backend="oldgateway")
    with pytest.raises(DossierConflict) as refused:
        payments.refund_surplus(surplus, actor=people.lan)
    assert refused.value.code == "refund_other_backend"

    marked = payments.mark_refunded(
        surplus, actor=people.lan, reference=" CK-2026-0042 ", note="Chuyển khoản"
    )

    assert (marked.state, marked.refund_reference) == (AttemptState.REFUNDED, "CK-2026-0042")
    assert (marked.refunded_through, marked.refund_note) == ("other", "Chuyển khoản")
    record = AuditRecord.objects.get(action="payment_refunded")
    assert (record.actor, record.changes["through"]) == (people.lan, "other")


def test_a_refund_recorded_otherwise_needs_its_reference(people, surplus):
    with pytest.raises(DossierConflict) as refused:
        payments.mark_refunded(surplus, actor=people.lan, reference="   ")
    assert refused.value.code == "refund_reference_required"
    assert PaymentAttempt.objects.get(pk=surplus.pk).state == AttemptState.SURPLUS
    assert not AuditRecord.objects.filter(action="payment_refunded").exists()


def test_the_housekeeping_refunds_surpluses_when_told_to(people, surplus, settings):
    out = io.StringIO()
    settings.DOSSIERS_PAYMENT_AUTO_REFUND = False
    call_command("dossiers", "payments", "refund", stdout=out)
    assert f"{surplus.reference}: to refund 30000 VND" in out.getvalue()
    assert "none refunded (DOSSIERS_PAYMENT_AUTO_REFUND is off)" in out.getvalue()
    assert PaymentAttempt.objects.get(pk=surplus.pk).state == AttemptState.SURPLUS

    settings.DOSSIERS_PAYMENT_AUTO_REFUND = True
    out = io.StringIO()
    call_command("dossiers", "payments", "refund", stdout=out)

    refunded = PaymentAttempt.objects.get(pk=surplus.pk)
    assert refunded.state == AttemptState.REFUNDED
    assert refunded.refunded_by is None
    assert f"refunded, reference {refunded.refund_reference}" in out.getvalue()
    assert out.getvalue().splitlines()[-1] == "tried 1 refund(s): 1 refunded"
    record = AuditRecord.objects.get(action="payment_refunded")
    assert record.actor_label == "system"
    out = io.StringIO()
    call_command("dossiers", "payments", "refund", stdout=out)
    assert out.getvalue().strip() == "tried 0 refund(s)"


def test_the_housekeeping_refuses_bad_input_in_one_line():
    for arguments in (["refund", "--limit", "0"], ["reconcile", "--older-than", "soon"]):
        with pytest.raises(CommandError) as refused:
            call_command("dossiers", "payments", *arguments, stdout=io.StringIO())
        assert "\n" not in str(refused.value) and "above zero" in str(refused.value)


# --- Reconciling open attempts -------------------------------------------------------------


class NotPaid(payments.ConsoleBackend):
    """A gateway that says the payment was not completed."""

    def query(self, attempt):
        found = super().query(attempt)
        return payments.Confirmation(found.reference, found.amount, found.receipt, paid=False)


class Unreachable(payments.ConsoleBackend):
    def query(self, attempt):
        raise payments.PaymentRefused("payment_unavailable")


LATER = payments.ConsoleBackend.expiry + payments.RECONCILE_MARGIN + dt.timedelta(minutes=1)
# The console's confirmations are valid one hour: the tests where one arrives late
# reconcile attempts older than ten minutes, twenty minutes after they started.
OLD = dt.timedelta(minutes=10)
SHORTLY = dt.timedelta(minutes=20)


def test_only_attempts_older_than_the_gateway_s_expiry_are_asked(people, waiting, clock):
    begin(people, waiting)
    clock.shift(payments.ConsoleBackend.expiry)
    assert payments.reconcile() == []  # its page may still be open: its callback may come
    clock.shift(LATER - payments.ConsoleBackend.expiry)
    assert [d.outcome for d in payments.reconcile()] == [payments.RECORDED]


def test_an_open_attempt_the_gateway_says_paid_is_recorded(people, waiting, clock):
    checkout = begin(people, waiting)
    clock.shift(SHORTLY)

    done = payments.reconcile(older_than=OLD)

    assert [(d.attempt.reference, d.outcome) for d in done] == [
        (checkout.reference, payments.RECORDED)
    ]
    waiting.refresh_from_db()
    assert waiting.status == Status.PROCESSING
    assert PaymentAttempt.objects.get().state == AttemptState.PAID
    assert payments.reconcile(older_than=OLD) == []
    # The callback arrives at last: recorded once.
    assert payments.settle(token(checkout)).outcome == payments.ALREADY
    assert AuditRecord.objects.filter(action="payment_received").count() == 1


def test_an_open_attempt_paid_after_the_counter_is_a_surplus(people, waiting, clock):
    checkout = begin(people, waiting)
    services.confirm_payment(
        actor=people.lan, dossier=waiting, expected_version=waiting.version, receipt="BL-7"
    )
    clock.shift(LATER)
    # The counter's payment cancelled nothing: the attempt is still open.
    assert PaymentAttempt.objects.get().state == AttemptState.OPEN

    assert [d.outcome for d in payments.reconcile()] == [payments.SURPLUS]
    assert PaymentAttempt.objects.get(reference=checkout.reference).state == "surplus"


@pytest.mark.parametrize("backend", ["NotPaid", "unknown"])
def test_an_open_attempt_not_paid_or_unknown_is_closed_failed(
    people, waiting, clock, settings, backend
):
    checkout = begin(people, waiting)
    if backend == "unknown":  # a reference the gateway never heard of
        PaymentAttempt.objects.update(reference="lost-0001")
    else:
        settings.DOSSIERS_PAYMENT_BACKEND = f"{__name__}.{backend}"
    clock.shift(SHORTLY)

    done = payments.reconcile(older_than=OLD)

    expected = "not_paid" if backend == "NotPaid" else "unknown_to_gateway"
    assert [(d.outcome, d.code) for d in done] == [(payments.FAILED, expected)]
    assert PaymentAttempt.objects.get().state == AttemptState.FAILED
    record = AuditRecord.objects.get(action="payment_failed")
    assert record.changes["reconciled"] == expected
    waiting.refresh_from_db()
    assert waiting.status == Status.PAYMENT_REQUESTED
    if backend == "NotPaid":
        # The gateway was wrong, or slow: a late confirmation that it was paid still
        # records the payment, as for any closed attempt.
        settings.DOSSIERS_PAYMENT_BACKEND = "console"
        assert payments.settle(token(checkout)).outcome == payments.RECORDED


def test_while_the_gateway_is_unreachable_the_attempt_stays_open(people, waiting, clock, settings):
    begin(people, waiting)
    settings.DOSSIERS_PAYMENT_BACKEND = f"{__name__}.Unreachable"
    clock.shift(LATER)

    done = payments.reconcile()

    assert [(d.outcome, d.code) for d in done] == [(payments.LEFT_OPEN, "payment_unavailable")]
    assert PaymentAttempt.objects.get().state == AttemptState.OPEN
    out = io.StringIO()
    call_command("dossiers", "payments", "reconcile", stdout=out)
    assert ": open (payment_unavailable)" in out.getvalue()
    assert out.getvalue().splitlines()[-1] == "reconciled 1 open payment(s): 1 open"


class CallbackDuringQuery(payments.ConsoleBackend):
    """The gateway's callback lands while the gateway is being asked."""

    tokens: dict[str, dict] = {}
    paid = True

    def query(self, attempt):
        settled = payments.settle(CallbackDuringQuery.tokens[attempt.reference])
        assert settled.outcome == payments.RECORDED
        found = super().query(attempt)
        return payments.Confirmation(
            found.reference, found.amount, found.receipt, paid=CallbackDuringQuery.paid
        )


@pytest.mark.parametrize("gateway_says_paid", [True, False])
def test_a_callback_racing_the_reconciliation_settles_the_payment_once(
    people, waiting, clock, settings, gateway_says_paid
):
    checkout = begin(people, waiting)
    CallbackDuringQuery.tokens = {checkout.reference: token(checkout)}
    CallbackDuringQuery.paid = gateway_says_paid
    settings.DOSSIERS_PAYMENT_BACKEND = f"{__name__}.CallbackDuringQuery"
    clock.shift(SHORTLY)

    done = payments.reconcile(older_than=OLD)

    # The callback won; the reconciliation changes nothing, whatever it was told.
    assert [d.outcome for d in done] == [payments.ALREADY]
    assert PaymentAttempt.objects.get().state == AttemptState.PAID
    assert AuditRecord.objects.filter(action="payment_received").count() == 1
    assert not AuditRecord.objects.filter(action="payment_failed").exists()
    waiting.refresh_from_db()
    assert waiting.status == Status.PROCESSING


def test_older_than_and_limit(people, waiting, clock, settings):
    begin(people, waiting)
    clock.shift(dt.timedelta(minutes=20))
    assert payments.reconcile(older_than=dt.timedelta(minutes=30)) == []
    assert len(payments.reconcile(older_than=dt.timedelta(minutes=10), limit=1)) == 1


class PaidFirst(payments.ConsoleBackend):
    """A gateway where only the references in ``paid`` were paid."""

    paid: set[str] = set()

    def query(self, attempt):
        found = super().query(attempt)
        return payments.Confirmation(
            found.reference, found.amount, found.receipt, paid=attempt.reference in self.paid
        )


def test_a_cancelled_attempt_paid_in_another_tab_is_found_and_asked_once(
    people, waiting, clock, settings
):
    first = begin(people, waiting)  # paid in its tab; the callback was lost
    second = begin(people, waiting)  # cancels the first; never paid
    PaidFirst.paid = {first.reference}
    settings.DOSSIERS_PAYMENT_BACKEND = f"{__name__}.PaidFirst"
    clock.shift(SHORTLY)

    done = payments.reconcile(older_than=OLD)

    assert [(d.attempt.reference, d.outcome) for d in done] == [
        (first.reference, payments.RECORDED),
        (second.reference, payments.ALREADY),  # cancelled in its turn by the payment
    ]
    states = dict(PaymentAttempt.objects.values_list("reference", "state"))
    assert states == {first.reference: "paid", second.reference: "cancelled"}
    waiting.refresh_from_db()
    assert waiting.status == Status.PROCESSING
    assert payments.reconcile(older_than=OLD) == []  # each asked once


def test_a_cancelled_attempt_not_paid_stays_cancelled(people, waiting, clock, settings):
    first = begin(people, waiting)
    second = begin(people, waiting)
    PaidFirst.paid = set()
    settings.DOSSIERS_PAYMENT_BACKEND = f"{__name__}.PaidFirst"
    clock.shift(SHORTLY)

    done = payments.reconcile(older_than=OLD)

    assert [(d.attempt.reference, d.outcome) for d in done] == [
        (first.reference, "cancelled"),
        (second.reference, payments.FAILED),
    ]
    states = dict(PaymentAttempt.objects.values_list("reference", "state"))
    assert states == {first.reference: "cancelled", second.reference: "failed"}
    assert payments.reconcile(older_than=OLD) == []


def test_an_attempt_the_gateway_cannot_describe_goes_to_the_back(people, waiting, clock, settings):
    settings.DOSSIERS_PAYMENT_BACKEND = f"{__name__}.Unreachable"
    begin(people, waiting)
    other = put_in(
        submit(people.procedure, people.xanh, people.mai), Status.PROCESSING, accepted_at=MORNING
    )
    other = services.request_payment(
        actor=people.minh, dossier=other, expected_version=other.version, amount=1, reason="Phí"
    )
    clock.shift(dt.timedelta(minutes=1))
    begin(people, other)
    clock.shift(SHORTLY)

    first = payments.reconcile(older_than=OLD, limit=1)
    then = payments.reconcile(older_than=OLD, limit=1)

    assert first[0].attempt.payment.dossier == waiting
    assert then[0].attempt.payment.dossier == other
