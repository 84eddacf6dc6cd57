"""Paying a fee on the portal: the amount shown, the payment backend's page (the
console backend sends straight back), the return and the callback verified."""

from urllib.parse import parse_qs, urlsplit

import pytest

from lienthong.dossiers import services
from lienthong.dossiers.models import Payment, Status

from .conftest import BINH_ID, MAI_ID, submitted

pytestmark = pytest.mark.django_db


@pytest.fixture
def waiting(mai, procedure, xanh, lan, minh):
    dossier = submitted(mai, procedure, xanh)
    dossier = services.accept(actor=lan, dossier=dossier, expected_version=dossier.version)
    dossier = services.process(actor=minh, dossier=dossier, expected_version=dossier.version)
    return services.request_payment(
        actor=minh, dossier=dossier, expected_version=dossier.version, amount=25_000,
        reason="Phí thẩm định",
    )  # fmt: skip


def test_the_citizen_sees_the_amount_pays_and_the_dossier_goes_on(signed_in, waiting):
    client = signed_in(MAI_ID)
    page = client.get(f"/dossiers/{waiting.code}/").content.decode()
    assert "25.000" in page and "Phí thẩm định" in page
    assert f'action="/dossiers/{waiting.code}/payment/"' in page

    started = client.post(f"/dossiers/{waiting.code}/payment/")
    assert started.status_code == 302
    target = urlsplit(started["Location"])
    assert target.path == f"/dossiers/{waiting.code}/payment/return/"

    back = client.get(f"{target.path}?{target.query}")
    assert back.status_code == 302 and back["Location"] == f"/dossiers/{waiting.code}/"
    waiting.refresh_from_db()
    assert waiting.status == Status.PROCESSING
    payment = Payment.objects.get()
    assert payment.backend == "console" and payment.paid_at is not None
    page = client.get(f"/dossiers/{waiting.code}/").content.decode()
    assert payment.receipt in page
    assert f'action="/dossiers/{waiting.code}/payment/"' not in page

    # The backend's callback arrives after the return: recorded already, nothing more.
    token = parse_qs(target.query)["token"][0]
    answer = client.post("/dossiers/payments/console/callback/", {"token": token})
    assert answer.status_code == 200 and answer.json() == {"status": "recorded"}
    assert Payment.objects.get().paid_at == payment.paid_at


def test_the_callback_alone_records_the_payment_and_refuses_forgeries(client, signed_in, waiting):
    started = signed_in(MAI_ID).post(f"/dossiers/{waiting.code}/payment/")
    token = parse_qs(urlsplit(started["Location"]).query)["token"][0]
    client.logout()
    forged = client.post("/dossiers/payments/console/callback/", {"token": token[:-2] + "xx"})
    assert forged.status_code == 400 and forged.json()["code"] == "payment_unverified"
    elsewhere = client.post("/dossiers/payments/other/callback/", {"token": token})
    assert elsewhere.status_code == 400
    waiting.refresh_from_db()
    assert waiting.status == Status.PAYMENT_REQUESTED

    answer = client.post("/dossiers/payments/console/callback/", {"token": token})

    assert answer.status_code == 200
    waiting.refresh_from_db()
    assert waiting.status == Status.PROCESSING


def test_nobody_else_pays_and_nothing_is_paid_twice(signed_in, client, waiting, binh):
    assert signed_in(BINH_ID).post(f"/dossiers/{waiting.code}/payment/").status_code == 404
    client.logout()
    client = signed_in(MAI_ID)
    bad = client.get(f"/dossiers/{waiting.code}/payment/return/?token=nope")
    assert bad.status_code == 400
    started = client.post(f"/dossiers/{waiting.code}/payment/")
    client.get(started["Location"])
    again = client.post(f"/dossiers/{waiting.code}/payment/")
    assert again.status_code == 409  # nothing is awaited any more
    assert Payment.objects.filter(paid_at__isnull=False).count() == 1


def test_a_routed_dossiers_fee_is_offered_while_its_holder_asks_it(signed_in, mai, procedure, xanh):
    """A fee the holder on another node asked is paid here while the holder's last
    report is "payment requested"; once it went on (paid at its own desk, say), the
    page no longer asks for it."""
    from lienthong.directory.models import Agency
    from lienthong.dossiers.models import Dossier

    holder = Agency.objects.create(identifier="000.00.07.H99", name="Nơi giữ hồ sơ (thử)")
    dossier = submitted(mai, procedure, xanh)
    Dossier.objects.filter(pk=dossier.pk).update(
        current_agency=holder, remote_agency=holder, remote_status=Status.PAYMENT_REQUESTED
    )
    Payment.objects.create(
        dossier=dossier, amount=30_000, reason="Lệ phí", requested_at=dossier.submitted_at,
        remote_request=f"{holder.identifier}/X-1/7",
    )  # fmt: skip
    client = signed_in(MAI_ID)
    client.cookies["lienthong_language"] = "en"
    page = client.get(f"/dossiers/{dossier.code}/").content.decode()
    assert "The agency asks you to pay 30" in page
    assert f'action="/dossiers/{dossier.code}/payment/"' in page

    Dossier.objects.filter(pk=dossier.pk).update(remote_status=Status.PROCESSING)
    page = client.get(f"/dossiers/{dossier.code}/").content.decode()
    assert f'action="/dossiers/{dossier.code}/payment/"' not in page
    assert "The agency asks you to pay" not in page
    assert "no longer asks it here" in page
    assert client.post(f"/dossiers/{dossier.code}/payment/").status_code == 409
    assert Payment.objects.get(dossier=dossier).backend == ""  # nothing started
