"""The VNPAY backend against a local stand-in that signs as the gateway does
(API 2.1.0: HMAC-SHA512 over the sorted, URL-encoded ``vnp_*`` parameters): the
redirect it is sent, the return and the IPN it answers, and the refusals."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit

import pytest

from lienthong.dossiers import services
from lienthong.dossiers.models import Payment, PaymentAttempt, Status

from .conftest import MAI_ID, submitted

pytestmark = pytest.mark.django_db

GATEWAY = "https://sandbox.vnpay.test/paymentv2/vpcpay.html"
TMN = "LTTEST01"
SECRET = "TESTSECRETTESTSECRETTESTSECRET12"


def sign(params: dict[str, str], secret: str = SECRET) -> str:
    """The gateway's own signing, written apart from the backend's."""
    fields = sorted(
        (k, v) for k, v in params.items() if k.startswith("vnp_") and k != "vnp_SecureHash"
    )
    data = "&".join(f"{k}={quote_plus(v)}" for k, v in fields)
    return hmac.new(secret.encode(), data.encode(), hashlib.sha512).hexdigest()


class StandIn:
    """The gateway: checks the merchant's redirect, then answers as VNPAY answers."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == GATEWAY
        self.request = dict(parse_qsl(parts.query, keep_blank_values=True))
        given = self.request.pop("vnp_SecureHash")
        assert hmac.compare_digest(given, sign(self.request)), "merchant's signature"

    def answer(self, *, code: str = "00", amount: str | None = None, secret: str = SECRET):
        params = {
            "vnp_Amount": amount or self.request["vnp_Amount"],
            "vnp_BankCode": "NCB",
            "vnp_BankTranNo": "VNP14000001",
            "vnp_CardType": "ATM",
            "vnp_OrderInfo": self.request["vnp_OrderInfo"],
            "vnp_PayDate": "20261205103000",
            "vnp_ResponseCode": code,
            "vnp_TmnCode": self.request["vnp_TmnCode"],
            "vnp_TransactionNo": "14000001",
            "vnp_TransactionStatus": code,
            "vnp_TxnRef": self.request["vnp_TxnRef"],
        }
        params["vnp_SecureHash"] = sign(params, secret)
        return urlencode(params)


@pytest.fixture
def vnpay(settings, tmp_path):
    secret_file = tmp_path / "vnpay-secret"
    secret_file.write_text(SECRET + "\n")
    settings.DOSSIERS_PAYMENT_BACKEND = "vnpay"
    settings.VNPAY_TMN_CODE = TMN
    settings.VNPAY_HASH_SECRET = (
        secret_file.read_text()
    )  # as LIENTHONG_VNPAY_HASH_SECRET_FILE reads it
    settings.VNPAY_URL = GATEWAY


@pytest.fixture
def waiting(mai, procedure, xanh, lan, minh):
    dossier = submitted(mai, procedure, xanh)
    dossier = services.accept(actor=lan, dossier=dossier, expected_version=dossier.version)
    dossier = services.process(actor=minh, dossier=dossier, expected_version=dossier.version)
    return services.request_payment(
        actor=minh, dossier=dossier, expected_version=dossier.version, amount=25_000,
        reason="Phí thẩm định",
    )  # fmt: skip


def pay(client, dossier) -> StandIn:
    started = client.post(f"/dossiers/{dossier.code}/payment/")
    assert started.status_code == 302
    return StandIn(started["Location"])


def ipn(client, query: str):
    return client.get(f"/dossiers/payments/vnpay/callback/?{query}").json()


def test_the_redirect_return_and_ipn_follow_the_gateway(vnpay, signed_in, waiting):
    client = signed_in(MAI_ID)
    gateway = pay(client, waiting)
    sent = gateway.request
    assert (sent["vnp_Version"], sent["vnp_Command"], sent["vnp_TmnCode"]) == ("2.1.0", "pay", TMN)
    assert (sent["vnp_Amount"], sent["vnp_CurrCode"]) == ("2500000", "VND")
    assert sent["vnp_ReturnUrl"].endswith(f"/dossiers/{waiting.code}/payment/return/")
    assert sent["vnp_TxnRef"] == PaymentAttempt.objects.get().reference
    assert len(sent["vnp_CreateDate"]) == len(sent["vnp_ExpireDate"]) == 14
    assert sent["vnp_ExpireDate"] > sent["vnp_CreateDate"]

    paid = gateway.answer()
    assert ipn(client, paid) == {"RspCode": "00", "Message": "Confirm Success"}
    waiting.refresh_from_db()
    assert waiting.status == Status.PROCESSING
    payment = Payment.objects.get()
    assert (payment.backend, payment.receipt) == ("vnpay", "14000001")

    # The gateway retries its IPN, and the browser comes back: recorded once.
    assert ipn(client, paid) == {"RspCode": "02", "Message": "Order already confirmed"}
    back = client.get(f"/dossiers/{waiting.code}/payment/return/?{paid}")
    assert back.status_code == 302
    assert Payment.objects.filter(paid_at__isnull=False).count() == 1
    waiting.refresh_from_db()
    assert waiting.events.filter(action="processing").count() == 2  # processing, then paid


def test_a_bad_signature_another_amount_or_terminal_is_refused(vnpay, signed_in, waiting, client):
    gateway = pay(signed_in(MAI_ID), waiting)
    client.logout()
    forged = gateway.answer(secret="not-the-secret")
    assert ipn(client, forged) == {"RspCode": "97", "Message": "Invalid signature"}
    tampered = gateway.answer().replace("vnp_Amount=2500000", "vnp_Amount=100")
    assert ipn(client, tampered)["RspCode"] == "97"
    cheaper = gateway.answer(amount="100")  # signed, but not what was asked
    assert ipn(client, cheaper) == {"RspCode": "04", "Message": "Invalid amount"}
    gateway.request["vnp_TxnRef"] = "UNKNOWN0001"
    assert ipn(client, gateway.answer())["RspCode"] == "01"
    waiting.refresh_from_db()
    assert waiting.status == Status.PAYMENT_REQUESTED
    assert not Payment.objects.filter(paid_at__isnull=False).exists()


def test_an_abandoned_payment_is_recorded_as_failed_and_may_be_tried_again(
    vnpay, signed_in, waiting
):
    client = signed_in(MAI_ID)
    client.cookies["lienthong_language"] = "en"
    gateway = pay(client, waiting)
    cancelled = gateway.answer(code="24")  # the customer cancelled at the gateway
    back = client.get(f"/dossiers/{waiting.code}/payment/return/?{cancelled}")
    assert back.status_code == 400
    assert "nothing was charged" in back.content.decode()
    assert ipn(client, cancelled)["RspCode"] == "00"  # the failure is recorded
    assert PaymentAttempt.objects.get().state == "failed"
    second = pay(client, waiting)
    assert ipn(client, second.answer())["RspCode"] == "00"
    waiting.refresh_from_db()
    assert waiting.status == Status.PROCESSING


def test_unconfigured_the_gateway_is_unavailable(settings, signed_in, waiting):
    settings.DOSSIERS_PAYMENT_BACKEND = "vnpay"
    settings.VNPAY_TMN_CODE = settings.VNPAY_HASH_SECRET = settings.VNPAY_URL = ""
    answer = signed_in(MAI_ID).post(f"/dossiers/{waiting.code}/payment/")
    assert answer.status_code == 503
    assert not PaymentAttempt.objects.exists()
