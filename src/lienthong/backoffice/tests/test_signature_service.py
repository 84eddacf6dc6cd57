"""The leader's own signature with a key at an external CSC service
(``LIENTHONG_SIGNING_PROVIDER=csc``): approved at the service by OAuth (CSC
``oauth2code``), with a code the service sends, or — account not linked —
told to link it. The service is the stand-in of signing's ``oauth_service``."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from lienthong.audit.models import AuditRecord
from lienthong.dossiers import results, services
from lienthong.dossiers.models import ResultDocument, ResultMethod, Status
from lienthong.dossiers.tests.conftest import result_pdf
from lienthong.signing.models import PendingSignature
from lienthong.signing.tests.conftest import certified
from lienthong.signing.tests.oauth_service import SERVICE, link, use_service
from lienthong.trust.validation.report import Indication

from .conftest import page_of
from .test_signature import approve_with, unchanged

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen(time_machine, settings):
    time_machine.move_to(timezone.now(), tick=False)
    settings.TSA_URL = ""


@pytest.fixture
def processing(dossier, lan, minh):
    accepted = services.accept(actor=lan, dossier=dossier, expected_version=dossier.version)
    return services.process(actor=minh, dossier=accepted, expected_version=accepted.version)


@pytest.fixture
def hung_key(hung, trusted_test_pki):
    return certified(hung, trusted_test_pki, label="Chữ ký của Hùng")


def test_approved_at_the_service_the_result_carries_the_leaders_signature(
    client, hung, hung_key, xanh, processing, settings, monkeypatch
):
    service = use_service(settings, monkeypatch, hung_key)
    link(hung)
    client.force_login(hung)
    page = client.get(page_of(xanh, processing)).content.decode()
    assert 'value="service"' in page and 'value="phone"' not in page and 'value="code"' not in page
    assert "signature/sms/" not in page

    asked = approve_with(client, xanh, processing, "service", result_pdf("Quyet dinh"))
    assert asked.status_code == 302 and asked["Location"].startswith(f"{SERVICE}/oauth2/authorize?")
    pending = PendingSignature.objects.get(user=hung)
    assert parse_qs(urlsplit(asked["Location"]).query)["scope"] == ["credential"]
    assert unchanged(processing)

    back = urlsplit(service.authorize(asked["Location"]))
    came_back = client.get(f"{back.path}?{back.query}")
    wait = page_of(xanh, processing) + f"signature/{pending.reference}/"
    assert came_back["Location"] == wait
    waiting = client.get(wait).content.decode()
    assert 'hx-trigger="load"' in waiting and f'action="{wait}finish/"' in waiting

    done = client.post(wait + "finish/")
    assert done.status_code == 302 and done["Location"] == page_of(xanh, processing)
    processing.refresh_from_db()
    assert processing.status == Status.DONE
    document = ResultDocument.objects.get(dossier=processing)
    assert document.method == ResultMethod.PERSONAL_REMOTE
    record = results.verify_result(processing)
    assert record.indication == Indication.TOTAL_PASSED
    assert record.report().signatures[0].signer.common_name == "hung.lanhdao"


def test_denied_at_the_service_nothing_is_signed(
    client, hung, hung_key, xanh, processing, settings, monkeypatch
):
    service = use_service(settings, monkeypatch, hung_key)
    link(hung)
    client.force_login(hung)
    asked = approve_with(client, xanh, processing, "service", result_pdf())
    back = urlsplit(service.authorize(asked["Location"], deny=True))
    came_back = client.get(f"{back.path}?{back.query}", follow=True)
    assert came_back.redirect_chain[-1][0] == page_of(xanh, processing)
    assert "không cấp quyền ký" in came_back.content.decode()
    pending = PendingSignature.objects.get(user=hung)
    wait = page_of(xanh, processing) + f"signature/{pending.reference}/"
    # Not authorised at the service: finishing sends the leader back to wait, on a
    # page that speaks of the service, not of a phone.
    assert client.post(wait + "finish/")["Location"] == wait
    waiting = client.get(wait).content.decode()
    assert "Chờ dịch vụ ký số" in waiting and "điện thoại" not in waiting.split("<main", 1)[1]
    assert unchanged(processing)
    assert AuditRecord.objects.filter(
        action="pending_refused", changes__refused="provider_authorize_refused"
    ).exists()


def test_a_code_key_may_not_be_approved_at_the_service_and_its_code_is_sent_there(
    client, hung, hung_key, xanh, processing, settings, monkeypatch
):
    service = use_service(settings, monkeypatch, hung_key, auth_mode="explicit")
    link(hung)
    client.force_login(hung)
    page = client.get(page_of(xanh, processing)).content.decode()
    assert 'value="code"' in page and 'value="service"' not in page
    assert f'action="{page_of(xanh, processing)}signature/sms/"' in page

    refused = approve_with(client, xanh, processing, "service", result_pdf())
    assert refused.status_code == 400 and unchanged(processing)
    assert not PendingSignature.objects.exists()

    sent = client.post(page_of(xanh, processing) + "signature/sms/", follow=True)
    assert sent.redirect_chain[-1][0] == page_of(xanh, processing)
    assert service.otp_sent == 1
    assert AuditRecord.objects.get(action="provider_send_otp").changes["outcome"] == "sent"


def test_an_unlinked_leader_is_told_to_link_the_account(
    client, hung, hung_key, xanh, processing, settings, monkeypatch
):
    service = use_service(settings, monkeypatch, hung_key)
    client.force_login(hung)
    page = client.get(page_of(xanh, processing)).content.decode()
    assert SERVICE in page and 'href="/account/signing/"' in page
    assert "no personal signing key" not in page and "chưa có khóa ký" not in page
    assert 'value="service"' not in page and 'value="code"' not in page
    for choice in ("service", "code", "phone"):
        response = approve_with(client, xanh, processing, choice, result_pdf(), otp="123456")
        assert response.status_code == 400 and unchanged(processing)
    assert "/csc/v2/signatures/signHash" not in service.paths()
