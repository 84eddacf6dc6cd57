"""Status 6, "payment requested": the fee asked (the catalogue's, or an amount with its
reason), paid online through a payment backend (the console one here) or at the
counter, recorded once, and the dossier back to processing."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing
from django.utils import timezone

from lienthong.audit.models import AuditRecord
from lienthong.catalog.models import Fee
from lienthong.dossiers import notifications, payments, services
from lienthong.dossiers.errors import DossierConflict
from lienthong.dossiers.models import Payment, Status
from lienthong.dossiers.tests.conftest import put_in, submit

pytestmark = pytest.mark.django_db

RETURN = "https://portal.test/dossiers/X/payment/return/"
CALLBACK = "https://portal.test/dossiers/payments/console/callback/"


@pytest.fixture
def processing(people):
    dossier = submit(people.procedure, people.xanh, people.mai)
    return put_in(dossier, Status.PROCESSING, accepted_at=timezone.now())


def asked(people, dossier, **kwargs):
    return services.request_payment(
        actor=people.minh, dossier=dossier, expected_version=dossier.version, **kwargs
    )


def token_of(checkout) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(checkout.url).query).items()}


def test_the_catalogue_fee_is_asked_and_the_applicant_told_the_amount(
    people, processing, django_capture_on_commit_callbacks
):
    Fee.objects.create(procedure=people.procedure, description="Lệ phí hộ tịch", amount=50_000)
    Fee.objects.create(procedure=people.procedure, description="Phí bản sao", amount=8_000)

    with django_capture_on_commit_callbacks(execute=True):
        moved = asked(people, processing)

    assert (moved.status, moved.version) == (Status.PAYMENT_REQUESTED, processing.version + 1)
    payment = moved.payment_due
    assert (payment.amount, payment.reason) == (58_000, "Lệ phí hộ tịch; Phí bản sao")
    assert payment.requested_by == people.minh
    event = moved.events.last()
    assert (event.action, event.reason, event.note) == (
        "payment_requested",
        "Lệ phí hộ tịch; Phí bản sao",
        "58.000 VND",
    )
    (notice,) = notifications.MemoryBackend.outbox
    assert notice.status == Status.PAYMENT_REQUESTED
    assert "58.000" in notice.text and "Lệ phí hộ tịch" in notice.text


def test_an_amount_needs_its_reason_and_no_fee_needs_an_amount(people, processing):
    Fee.objects.create(procedure=people.procedure, description="Lệ phí", amount=None)
    with pytest.raises(DossierConflict) as refused:
        asked(people, processing)  # set by each province: the officer must say
    assert refused.value.code == "amount_required"
    with pytest.raises(DossierConflict) as refused:
        asked(people, processing, amount=0, reason="x")
    assert refused.value.code == "amount_required"
    with pytest.raises(DossierConflict) as refused:
        asked(people, processing, amount=20_000, reason="  ")
    assert refused.value.code == "reason_required"
    moved = asked(people, processing, amount=20_000, reason="Phí thẩm định")
    assert moved.payment_due.amount == 20_000
    processing.refresh_from_db()
    assert not Payment.objects.filter(amount=0).exists()


def test_only_a_recorded_payment_lets_processing_go_on(people, processing):
    waiting = asked(people, processing, amount=20_000, reason="Phí")
    for actor in (people.lan, people.minh, people.mai):
        with pytest.raises(DossierConflict) as refused:
            services.transition(
                actor=actor, dossier=waiting, to=Status.PROCESSING, expected_version=waiting.version
            )
        assert refused.value.code in ("use_confirm_payment", "not_allowed")
    with pytest.raises(DossierConflict) as refused:
        services.confirm_payment(
            actor=people.mai, dossier=waiting, expected_version=waiting.version
        )
    assert refused.value.code == "not_allowed"
    waiting.refresh_from_db()
    assert waiting.status == Status.PAYMENT_REQUESTED and waiting.payment_due is not None


def test_the_applicant_pays_online_once_and_processing_goes_on(people, processing):
    waiting = asked(people, processing, amount=20_000, reason="Phí thẩm định")

    checkout = payments.start(
        actor=people.mai, dossier=waiting, return_url=RETURN, callback_url=CALLBACK
    )
    assert checkout.url.startswith(RETURN + "?token=")
    payment = Payment.objects.get()
    assert (payment.backend, payment.reference) == ("console", checkout.reference)
    assert payment.paid_at is None

    paid = payments.confirm(token_of(checkout), dossier=waiting)

    assert (paid.status, paid.version) == (Status.PROCESSING, waiting.version + 1)
    payment.refresh_from_db()
    assert payment.paid_at is not None and payment.receipt.startswith("DEMO-")
    event = paid.events.last()
    assert (event.action, event.actor_label, event.note) == (
        "processing",
        "payment:console",
        "20.000 VND",
    )
    actions = set(
        AuditRecord.objects.filter(object_id=str(paid.pk)).values_list("action", flat=True)
    )
    assert {"payment_started", "payment_received", "processing"} <= actions
    # The gateway's callback after the return (or the return reloaded): recorded once.
    again = payments.confirm(token_of(checkout), backend_name="console")
    assert again.version == paid.version
    assert AuditRecord.objects.filter(action="payment_received").count() == 1


def test_a_forged_or_altered_confirmation_records_nothing(people, processing):
    waiting = asked(people, processing, amount=20_000, reason="Phí")
    checkout = payments.start(
        actor=people.mai, dossier=waiting, return_url=RETURN, callback_url=CALLBACK
    )
    with pytest.raises(payments.PaymentRefused) as refused:
        payments.confirm({"token": token_of(checkout)["token"] + "x"})
    assert refused.value.code == "payment_unverified"
    with pytest.raises(payments.PaymentRefused):
        payments.confirm(token_of(checkout), backend_name="another-gateway")
    cheaper = signing.dumps(
        {"reference": checkout.reference, "amount": 1, "receipt": "R"},
        salt=payments.ConsoleBackend.SALT,
    )
    with pytest.raises(DossierConflict) as refused:
        payments.confirm({"token": cheaper})
    assert refused.value.code == "payment_mismatch"
    other = submit(people.procedure, people.xanh, people.binh)
    with pytest.raises(DossierConflict) as refused:
        payments.confirm(token_of(checkout), dossier=other)
    assert refused.value.code == "payment_not_requested"
    waiting.refresh_from_db()
    assert waiting.status == Status.PAYMENT_REQUESTED and waiting.payment_due is not None


def test_only_the_applicant_starts_paying_and_only_what_is_asked(people, processing):
    with pytest.raises(DossierConflict) as refused:
        payments.start(
            actor=people.mai, dossier=processing, return_url=RETURN, callback_url=CALLBACK
        )
    assert refused.value.code == "payment_not_requested"
    waiting = asked(people, processing, amount=20_000, reason="Phí")
    with pytest.raises(DossierConflict) as refused:
        payments.start(actor=people.binh, dossier=waiting, return_url=RETURN, callback_url=CALLBACK)
    assert refused.value.code == "not_allowed"
    assert not AuditRecord.objects.filter(action="payment_started").exists()


def test_a_payment_at_the_counter_is_recorded_by_the_one_stop_officer(people, processing):
    waiting = asked(people, processing, amount=20_000, reason="Phí")
    paid = services.confirm_payment(
        actor=people.lan, dossier=waiting, expected_version=waiting.version, receipt="BL-0042"
    )
    payment = Payment.objects.get()
    assert paid.status == Status.PROCESSING
    assert (payment.backend, payment.receipt, payment.recorded_by) == (
        "counter",
        "BL-0042",
        people.lan,
    )
    with pytest.raises(DossierConflict) as refused:
        services.confirm_payment(actor=people.lan, dossier=paid, expected_version=paid.version)
    assert refused.value.code == "payment_not_requested"
