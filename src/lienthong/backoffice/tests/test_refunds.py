"""The agency's payments to refund: chị Mai paid her fee at the counter, then online as
well; chị Lan, one-stop officer of Phường Xanh, refunds the second payment through the
gateway or records it refunded otherwise. Nobody else may."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from lienthong.audit.models import AuditRecord
from lienthong.dossiers import payments, services
from lienthong.dossiers.models import AttemptState, PaymentAttempt

pytestmark = pytest.mark.django_db

RETURN = "https://portal.test/return/"
CALLBACK = "https://portal.test/callback/"


@pytest.fixture
def surplus(dossier, mai, lan, minh):
    accepted = services.accept(actor=lan, dossier=dossier, expected_version=dossier.version)
    processing = services.process(actor=minh, dossier=accepted, expected_version=accepted.version)
    waiting = services.request_payment(
        actor=minh, dossier=processing, expected_version=processing.version, amount=30_000,
        reason="Phí thẩm định",
    )  # fmt: skip
    checkout = payments.start(actor=mai, dossier=waiting, return_url=RETURN, callback_url=CALLBACK)
    services.confirm_payment(
        actor=lan, dossier=waiting, expected_version=waiting.version, receipt="BL-7"
    )
    confirmation = {k: v[0] for k, v in parse_qs(urlsplit(checkout.url).query).items()}
    assert payments.settle(confirmation).outcome == payments.SURPLUS
    return PaymentAttempt.objects.get(reference=checkout.reference)


def page(agency) -> str:
    return f"/backoffice/{agency.identifier}/refunds/"


def refund_url(agency, attempt) -> str:
    return f"{page(agency)}{attempt.pk}/refund/"


def otherwise_url(agency, attempt) -> str:
    return f"{page(agency)}{attempt.pk}/otherwise/"


class FailingConsole(payments.ConsoleBackend):
    def refund(self, attempt, *, amount, by):
        raise payments.PaymentRefused("refund_refused", gateway_code="95")


def test_the_one_stop_officer_sees_the_payments_to_refund(as_user, lan, xanh, surplus):
    client = as_user(lan)
    assert f'href="{page(xanh)}"' in client.get(f"/backoffice/{xanh.identifier}/").content.decode()

    listed = client.get(page(xanh))

    assert listed.status_code == 200
    html = listed.content.decode()
    assert surplus.payment.dossier.code in html and "30.000" in html
    assert f'action="{refund_url(xanh, surplus)}"' in html
    assert f'action="{otherwise_url(xanh, surplus)}"' in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_refunding_through_the_gateway(as_user, lan, xanh, surplus):
    client = as_user(lan)

    done = client.post(refund_url(xanh, surplus))

    assert done.status_code == 302 and done["Location"] == page(xanh)
    refunded = PaymentAttempt.objects.get(pk=surplus.pk)
    assert (refunded.state, refunded.refunded_by) == (AttemptState.REFUNDED, lan)
    html = client.get(page(xanh)).content.decode()
    assert refunded.refund_reference in html  # in the message and among the refunded
    assert f'action="{refund_url(xanh, surplus)}"' not in html
    # Pressed twice (a second tab): refused, nothing refunded again.
    again = client.post(refund_url(xanh, surplus))
    assert again.status_code == 409
    assert AuditRecord.objects.filter(action="payment_refunded").count() == 1


def test_a_gateway_refusal_is_shown_and_the_payment_stays_to_refund(
    as_user, lan, xanh, surplus, settings
):
    settings.DOSSIERS_PAYMENT_BACKEND = f"{__name__}.FailingConsole"
    settings.LANGUAGE_CODE = "en"
    client = as_user(lan)
    client.cookies["lienthong_language"] = "en"

    refused = client.post(refund_url(xanh, surplus))

    assert refused.status_code == 502
    assert "The payment gateway refused the refund" in refused.content.decode()
    assert PaymentAttempt.objects.get(pk=surplus.pk).state == AttemptState.SURPLUS
    # The page keeps the last error beside the payment, and its buttons.
    html = client.get(page(xanh)).content.decode()
    assert "The payment gateway refused the refund" in html
    assert f'action="{refund_url(xanh, surplus)}"' in html  # to try again
    settings.DOSSIERS_PAYMENT_BACKEND = "console"
    assert client.post(refund_url(xanh, surplus)).status_code == 302


def test_recording_a_refund_made_otherwise_needs_its_reference(as_user, lan, xanh, surplus):
    client = as_user(lan)
    field = f"otherwise-{surplus.pk}-reference"

    missing = client.post(otherwise_url(xanh, surplus), {field: "  "})

    assert missing.status_code == 400
    assert 'class="error"' in missing.content.decode()
    assert PaymentAttempt.objects.get(pk=surplus.pk).state == AttemptState.SURPLUS

    done = client.post(
        otherwise_url(xanh, surplus),
        {field: "CK-2026-0042", f"otherwise-{surplus.pk}-note": "Chuyển khoản Vietcombank"},
    )

    assert done.status_code == 302
    refunded = PaymentAttempt.objects.get(pk=surplus.pk)
    assert (refunded.state, refunded.refunded_through) == (AttemptState.REFUNDED, "other")
    assert refunded.refund_reference == "CK-2026-0042"
    assert "CK-2026-0042" in client.get(page(xanh)).content.decode()
    assert AuditRecord.objects.get(action="payment_refunded").actor == lan


def test_htmx_gets_the_refusal_in_the_part_it_swaps(as_user, lan, xanh, surplus):
    client = as_user(lan)
    answer = client.post(
        otherwise_url(xanh, surplus),
        {f"otherwise-{surplus.pk}-reference": ""},
        HTTP_HX_REQUEST="true",
    )
    assert answer.status_code == 200  # htmx swaps only what succeeds
    assert 'id="refunds"' in answer.content.decode()
    assert 'class="error"' in answer.content.decode()


def test_nobody_else_may_see_or_refund(client, as_user, mai, minh, nam, vang, xanh, surplus):
    anonymous = client.get(page(xanh))
    assert anonymous.status_code == 302 and "/account/sign-in/" in anonymous["Location"]
    for outsider in (mai, minh, nam):  # the citizen, the specialist, another agency's officer
        other = as_user(outsider)
        assert other.get(page(xanh)).status_code == 404
        assert other.post(refund_url(xanh, surplus)).status_code == 404
        assert (
            other.post(
                otherwise_url(xanh, surplus), {f"otherwise-{surplus.pk}-reference": "X"}
            ).status_code
            == 404
        )
    # At his own agency, anh Nam finds nothing of Phường Xanh's.
    own = as_user(nam)
    assert surplus.payment.dossier.code not in own.get(page(vang)).content.decode()
    assert own.post(refund_url(vang, surplus)).status_code == 404
    assert PaymentAttempt.objects.get(pk=surplus.pk).state == AttemptState.SURPLUS
    assert not AuditRecord.objects.filter(action__startswith="payment_refund").exists()


def test_a_post_without_the_csrf_token_is_refused(lan, xanh, surplus):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(lan)
    assert strict.post(refund_url(xanh, surplus)).status_code == 403
    assert PaymentAttempt.objects.get(pk=surplus.pk).state == AttemptState.SURPLUS


def test_the_dossier_page_says_a_second_payment_is_to_refund_then_refunded(
    as_user, lan, minh, xanh, surplus
):
    detail = f"/backoffice/{xanh.identifier}/dossiers/{surplus.payment.dossier.code}/"
    # The specialist is told too, without the link to a page that is not his.
    specialist = as_user(minh)
    specialist.cookies["lienthong_language"] = "en"
    seen = specialist.get(detail).content.decode()
    assert "A second payment of 30.000 VND was taken online (console," in seen
    assert surplus.reference in seen and "To refund." in seen
    assert f'href="{page(xanh)}"' not in seen

    officer = as_user(lan)
    before = officer.get(detail).content.decode()
    assert "To refund." in before and f'href="{page(xanh)}"' in before

    officer.post(refund_url(xanh, surplus))

    after = officer.get(detail).content.decode()
    refunded = PaymentAttempt.objects.get(pk=surplus.pk)
    assert f"Refunded on {timezone.localtime(refunded.refunded_at):%d/%m/%Y}, reference" in after
    assert refunded.refund_reference in after and "To refund." not in after
