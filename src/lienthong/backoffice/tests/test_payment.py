"""The payment step in the back office: the specialist asks for the fee, the one-stop
officer records one paid at the counter, and everyone sees it paid."""

import pytest

from lienthong.catalog.models import Fee
from lienthong.dossiers import services
from lienthong.dossiers.models import Payment, Status

from .conftest import act, page_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def processing(dossier, lan, minh):
    accepted = services.accept(actor=lan, dossier=dossier, expected_version=dossier.version)
    return services.process(actor=minh, dossier=accepted, expected_version=accepted.version)


def test_the_specialist_asks_for_the_catalogue_fee(as_user, minh, xanh, procedure, processing):
    Fee.objects.create(procedure=procedure, description="Lệ phí hộ tịch", amount=50_000)
    client = as_user(minh)
    page = client.get(page_of(xanh, processing)).content.decode()
    assert '/payment/"' in page and "50.000" in page  # the form, and the catalogue's fee

    response = act(client, xanh, processing, "payment")

    assert response.status_code == 302
    processing.refresh_from_db()
    assert processing.status == Status.PAYMENT_REQUESTED
    assert (processing.payment_due.amount, processing.payment_due.reason) == (
        50_000,
        "Lệ phí hộ tịch",
    )


def test_without_a_catalogue_fee_the_amount_is_asked_with_its_reason(
    as_user, minh, xanh, processing
):
    client = as_user(minh)
    refused = act(client, xanh, processing, "payment")
    assert refused.status_code == 409  # nothing to ask: the amount is required
    no_reason = act(client, xanh, processing, "payment", amount="30000")
    assert no_reason.status_code == 400
    assert act(client, xanh, processing, "payment", amount="30000", reason="Phí").status_code == 302
    processing.refresh_from_db()
    assert processing.payment_due.amount == 30_000


def test_the_one_stop_officer_records_a_payment_at_the_counter(
    as_user, lan, minh, xanh, processing
):
    waiting = services.request_payment(
        actor=minh, dossier=processing, expected_version=processing.version, amount=30_000,
        reason="Phí thẩm định",
    )  # fmt: skip
    client = as_user(lan)
    page = client.get(page_of(xanh, waiting)).content.decode()
    assert '/paid/"' in page and '/process/"' not in page
    assert "30.000" in page

    response = act(client, xanh, waiting, "paid", receipt="BL-7")

    assert response.status_code == 302
    waiting.refresh_from_db()
    assert waiting.status == Status.PROCESSING
    payment = Payment.objects.get()
    assert (payment.backend, payment.receipt, payment.recorded_by) == ("counter", "BL-7", lan)
    page = client.get(page_of(xanh, waiting)).content.decode()
    assert "BL-7" in page
    # Again, on a dossier no longer waiting: refused, with the reason (409).
    again = act(client, xanh, waiting, "paid", version=waiting.version)
    assert again.status_code == 409


def test_a_specialist_may_not_record_a_payment(as_user, minh, xanh, processing):
    waiting = services.request_payment(
        actor=minh, dossier=processing, expected_version=processing.version, amount=30_000,
        reason="Phí",
    )  # fmt: skip
    assert act(as_user(minh), xanh, waiting, "paid").status_code == 409
    waiting.refresh_from_db()
    assert waiting.status == Status.PAYMENT_REQUESTED
