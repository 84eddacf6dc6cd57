"""The citizen's dossier page tells of money taken twice: to be refunded, then refunded
on a day, with the refund's reference (through the gateway, or made otherwise)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest
import time_machine

from lienthong.dossiers import payments, services
from lienthong.dossiers.models import PaymentAttempt

from .conftest import MAI_ID, submitted

pytestmark = pytest.mark.django_db

# 15:00 in Hà Nội on Tuesday 8 December 2026.
AFTERNOON = dt.datetime(2026, 12, 8, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def paid_twice(signed_in, english, mai, procedure, xanh, lan, minh):
    """Chị Mai starts paying online, pays at the counter meanwhile, then completes the
    online payment: the second payment is a surplus."""
    dossier = submitted(mai, procedure, xanh)
    dossier = services.accept(actor=lan, dossier=dossier, expected_version=dossier.version)
    dossier = services.process(actor=minh, dossier=dossier, expected_version=dossier.version)
    waiting = services.request_payment(
        actor=minh, dossier=dossier, expected_version=dossier.version, amount=25_000,
        reason="Phí thẩm định",
    )  # fmt: skip
    client = signed_in(MAI_ID)
    started = client.post(f"/dossiers/{waiting.code}/payment/")
    services.confirm_payment(
        actor=lan, dossier=waiting, expected_version=waiting.version, receipt="BL-7"
    )
    target = urlsplit(started["Location"])
    back = client.get(f"{target.path}?{target.query}")
    assert back.status_code == 302
    assert PaymentAttempt.objects.get().state == "surplus"
    return client, waiting


def test_the_surplus_is_shown_to_refund_then_refunded(paid_twice, lan):
    client, dossier = paid_twice
    page = client.get(f"/dossiers/{dossier.code}/").content.decode()
    assert "it is recorded and will be refunded to you" in page
    assert "it was refunded to you" not in page

    with time_machine.travel(AFTERNOON, tick=False):
        refunded = payments.refund_surplus(PaymentAttempt.objects.get(), actor=lan)

    page = client.get(f"/dossiers/{dossier.code}/").content.decode()
    assert "it is recorded and will be refunded to you" not in page
    assert f"it was refunded to you on 08/12/2026, reference {refunded.refund_reference}." in page


def test_a_refund_made_otherwise_is_shown_with_its_reference(paid_twice, lan):
    client, dossier = paid_twice
    with time_machine.travel(AFTERNOON, tick=False):
        payments.mark_refunded(PaymentAttempt.objects.get(), actor=lan, reference="CK-0042")

    page = client.get(f"/dossiers/{dossier.code}/").content.decode()
    assert "it was refunded to you on 08/12/2026, reference CK-0042." in page
    assert "it is recorded and will be refunded to you" not in page
