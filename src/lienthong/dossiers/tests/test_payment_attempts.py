"""Payment attempts: a new attempt cancels the open one; a late confirmation of a
cancelled attempt is refused unless the gateway took the money, which is then
recorded once — as the payment while the fee is due, else as a surplus to refund —
and the dossier is never paid twice."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import signing

from lienthong.audit.models import AuditRecord
from lienthong.dossiers import payments, services
from lienthong.dossiers.errors import DossierConflict
from lienthong.dossiers.models import AttemptState, Payment, PaymentAttempt, Status
from lienthong.dossiers.tests.conftest import fee_asked

pytestmark = pytest.mark.django_db

RETURN = "https://portal.test/dossiers/X/payment/return/"
CALLBACK = "https://portal.test/dossiers/payments/console/callback/"


@pytest.fixture
def waiting(people):
    return fee_asked(people)


def begin(people, dossier):
    return payments.start(
        actor=people.mai, dossier=dossier, return_url=RETURN, callback_url=CALLBACK
    )


def token(checkout) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(checkout.url).query).items()}


class NotPaidBackend(payments.ConsoleBackend):
    """The console backend, answering as a gateway does for an abandoned payment
    (signed, authentic, not paid)."""

    def verify(self, params):
        confirmed = super().verify(params)
        return payments.Confirmation(
            confirmed.reference, confirmed.amount, confirmed.receipt, paid=False
        )


NOT_PAID = f"{__name__}.NotPaidBackend"


def test_a_new_attempt_cancels_the_open_one_audited(people, waiting):
    first = begin(people, waiting)
    second = begin(people, waiting)

    states = dict(PaymentAttempt.objects.values_list("reference", "state"))
    assert states == {first.reference: "cancelled", second.reference: "open"}
    assert Payment.objects.get().reference == second.reference
    cancelled = AuditRecord.objects.get(action="payment_cancelled")
    assert cancelled.changes["reference"] == first.reference
    assert cancelled.changes["replaced_by"] == second.reference


def test_a_late_unpaid_answer_of_a_cancelled_attempt_is_refused(people, waiting, settings):
    first = begin(people, waiting)
    begin(people, waiting)
    settings.DOSSIERS_PAYMENT_BACKEND = NOT_PAID

    with pytest.raises(DossierConflict) as refused:
        payments.settle(token(first))

    assert refused.value.code == "payment_attempt_cancelled"
    assert PaymentAttempt.objects.get(reference=first.reference).state == "cancelled"
    waiting.refresh_from_db()
    assert waiting.status == Status.PAYMENT_REQUESTED


def test_an_unpaid_answer_closes_the_open_attempt_as_failed(people, waiting, settings):
    attempt = begin(people, waiting)
    settings.DOSSIERS_PAYMENT_BACKEND = NOT_PAID

    with pytest.raises(payments.PaymentRefused) as refused:
        payments.settle(token(attempt))

    assert refused.value.code == "payment_failed"
    assert PaymentAttempt.objects.get().state == AttemptState.FAILED
    assert AuditRecord.objects.filter(action="payment_failed").count() == 1
    settings.DOSSIERS_PAYMENT_BACKEND = "console"
    begin(people, waiting)  # she may try again
    assert PaymentAttempt.objects.filter(state="open").count() == 1


def test_a_cancelled_attempt_that_was_paid_pays_the_fee_still_due(people, waiting):
    first = begin(people, waiting)
    second = begin(people, waiting)

    settled = payments.settle(token(first), dossier=waiting)  # paid in the first tab

    assert settled.outcome == payments.RECORDED
    assert settled.dossier.status == Status.PROCESSING
    payment = Payment.objects.get()
    assert (payment.reference, payment.paid_at is not None) == (first.reference, True)
    states = dict(PaymentAttempt.objects.values_list("reference", "state"))
    assert states == {first.reference: "paid", second.reference: "cancelled"}

    # Then the second tab is paid too: money taken, kept on record once, not paid twice.
    surplus = payments.settle(token(second))
    assert surplus.outcome == payments.SURPLUS
    assert surplus.dossier.version == settled.dossier.version
    assert PaymentAttempt.objects.get(reference=second.reference).state == "surplus"
    assert payments.settle(token(second)).outcome == payments.ALREADY
    assert payments.settle(token(first)).outcome == payments.ALREADY
    assert AuditRecord.objects.filter(action="payment_surplus").count() == 1
    assert AuditRecord.objects.filter(action="payment_received").count() == 1
    assert Payment.objects.filter(paid_at__isnull=False).count() == 1


def test_an_online_payment_after_one_at_the_counter_is_a_surplus(people, waiting):
    attempt = begin(people, waiting)
    services.confirm_payment(
        actor=people.lan, dossier=waiting, expected_version=waiting.version, receipt="BL-7"
    )

    settled = payments.settle(token(attempt))

    assert settled.outcome == payments.SURPLUS
    payment = Payment.objects.get()
    assert (payment.backend, payment.receipt) == ("counter", "BL-7")
    record = AuditRecord.objects.get(action="payment_surplus")
    assert record.changes["paid_by"] == ["counter", "BL-7"]


def test_another_amount_is_refused_even_for_a_cancelled_attempt(people, waiting):
    first = begin(people, waiting)
    begin(people, waiting)
    cheaper = signing.dumps(
        {"reference": first.reference, "amount": 1, "receipt": "R"},
        salt=payments.ConsoleBackend.SALT,
    )
    with pytest.raises(DossierConflict) as refused:
        payments.settle({"token": cheaper})
    assert refused.value.code == "payment_mismatch"
    assert not Payment.objects.filter(paid_at__isnull=False).exists()
