"""The leader approves a result with their own signature: approved on their paired
phone (a software authenticator giving real WebAuthn answers) or with a one-time
code. The result validates TOTAL-PASSED with the leader's certificate (TEST
government CA) as signer; a denial, an expiry, other hashes or a wrong code sign
nothing and leave the dossier as it was."""

from __future__ import annotations

import hashlib
import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from lienthong.approvals import services as approvals
from lienthong.approvals.models import ApprovalRequest
from lienthong.approvals.tests.conftest import ORIGIN, assertion, pair
from lienthong.audit.models import AuditRecord
from lienthong.dossiers import results, services
from lienthong.dossiers.models import ResultDocument, ResultMethod, Status
from lienthong.dossiers.tests.conftest import result_pdf
from lienthong.identity.models import Role
from lienthong.portal.tests.conftest import officer
from lienthong.signing.models import PendingSignature
from lienthong.signing.tests.conftest import certified, give_totp, next_code
from lienthong.trust.validation.report import Indication

from .conftest import page_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def phone_settings(settings):
    settings.IDENTITY_RP_ID = "localhost"
    settings.IDENTITY_ORIGINS = [ORIGIN]
    settings.TSA_URL = ""
    return settings


@pytest.fixture
def processing(dossier, lan, minh):
    accepted = services.accept(actor=lan, dossier=dossier, expected_version=dossier.version)
    return services.process(actor=minh, dossier=accepted, expected_version=accepted.version)


@pytest.fixture
def hung_key(hung, trusted_test_pki):
    return certified(hung, trusted_test_pki, label="Chữ ký của Hùng")


@pytest.fixture
def hung_phone(hung):
    return pair(hung, "Điện thoại của Hùng")


def approve_with(client, agency, dossier, signature: str, pdf: bytes | None = None, **data):
    fields = {"approve-version": dossier.version, "approve-signature": signature}
    fields.update({f"approve-{k}": v for k, v in data.items()})
    if pdf is not None:
        fields["approve-result"] = SimpleUploadedFile("ket-qua.pdf", pdf, "application/pdf")
    return client.post(page_of(agency, dossier) + "approve/", fields)


def answer_on_phone(user, phone_pair, *, deny: bool = False):
    device, _secret, phone = phone_pair
    approval = ApprovalRequest.objects.get(user=user, kind="signature", state="pending")
    if deny:
        return approvals.deny(request_id=approval.pk, device=device, source="test")
    nonce = os.urandom(32)
    return approvals.approve(
        request_id=approval.pk,
        device=device,
        credential=assertion(phone, approval, device, nonce),
        nonce=nonce,
        origins=[ORIGIN],
        source="test",
    )


def unchanged(dossier) -> bool:
    dossier.refresh_from_db()
    return (
        dossier.status == Status.PROCESSING
        and dossier.result_id is None
        and not ResultDocument.objects.filter(dossier=dossier).exists()
    )


def test_approved_on_the_phone_the_result_is_signed_b_t_by_the_leader(
    client, hung, hung_key, hung_phone, xanh, processing, trusted_test_pki, settings
):
    settings.TSA_URL = trusted_test_pki.tsa_url
    client.force_login(hung)
    page = client.get(page_of(xanh, processing)).content.decode()
    assert 'value="phone"' in page and "Chữ ký của Hùng" in page
    original = result_pdf("Quyet dinh - TEST")

    response = approve_with(client, xanh, processing, "phone", original, note="Đồng ý")
    pending = PendingSignature.objects.get(user=hung)
    wait = page_of(xanh, processing) + f"signature/{pending.reference}/"
    assert response.status_code == 302 and response["Location"] == wait
    approval = ApprovalRequest.objects.get(user=hung, kind="signature")
    assert approval.summary == {
        "dossier_code": processing.code,
        "document_name": "ket-qua.pdf",
        "sha256": hashlib.sha256(original).hexdigest(),
        "agency": xanh.name,
    }
    assert approval.hashes == pending.hashes
    waiting = client.get(wait).content.decode()
    assert 'hx-trigger="every' in waiting and processing.code in waiting
    # Not answered yet: back to waiting, nothing signed.
    assert client.post(wait + "finish/")["Location"] == wait
    assert unchanged(processing)

    answer_on_phone(hung, hung_phone)
    assert 'hx-trigger="load"' in client.get(wait).content.decode()
    response = client.post(wait + "finish/", HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == page_of(xanh, processing)

    processing.refresh_from_db()
    assert processing.status == Status.DONE
    document = ResultDocument.objects.get(dossier=processing)
    assert (document.method, document.level) == (ResultMethod.PERSONAL_REMOTE, "B-T")
    assert document.signing_key is None
    assert document.certificate_sha256 == hung_key.fingerprint_sha256
    assert document.approved_by == hung
    assert processing.events.filter(status_to=Status.DONE, note="Đồng ý").exists()
    record = results.verify_result(processing)
    assert record.indication == Indication.TOTAL_PASSED
    (signature,) = record.report().signatures
    assert signature.hierarchy == "government"
    assert signature.signer.common_name == "hung.lanhdao"
    assert signature.timestamp["valid"] is True
    # Spent: the page leads back to the dossier, and a second finish signs nothing more.
    assert client.get(wait)["Location"] == page_of(xanh, processing)
    assert client.post(wait + "finish/").status_code == 409
    assert ResultDocument.objects.filter(dossier=processing).count() == 1


@pytest.mark.parametrize("how", ["denied", "expired", "other_hashes"])
def test_a_refused_phone_approval_signs_nothing(
    client, hung, hung_key, hung_phone, xanh, processing, time_machine, how
):
    time_machine.move_to(timezone.now(), tick=False)
    client.force_login(hung)
    approve_with(client, xanh, processing, "phone")  # neither an upload nor a draft: 409
    assert PendingSignature.objects.count() == 0
    approve_with(client, xanh, processing, "phone", result_pdf())
    pending = PendingSignature.objects.get(user=hung)
    wait = page_of(xanh, processing) + f"signature/{pending.reference}/"
    if how == "denied":
        answer_on_phone(hung, hung_phone, deny=True)
    elif how == "other_hashes":
        ApprovalRequest.objects.filter(user=hung).update(hashes=["b3RoZXI="])
        answer_on_phone(hung, hung_phone)
    else:
        time_machine.shift(11 * 60)

    response = client.post(wait + "finish/")

    assert response.status_code == 400
    assert unchanged(processing)
    code = {"denied": "approval_denied", "expired": "pending_expired"}.get(
        how, "approval_other_hashes"
    )
    refusal = AuditRecord.objects.get(action="result_sign_refused")
    assert refusal.changes["refused"] == code
    assert not AuditRecord.objects.filter(action="signature_created").exists()


def test_signed_with_a_one_time_code(client, hung, hung_key, xanh, processing, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    totp = give_totp(hung)
    client.force_login(hung)

    wrong = approve_with(client, xanh, processing, "code", result_pdf(), otp="000000")
    assert wrong.status_code == 400
    assert unchanged(processing)
    assert AuditRecord.objects.filter(
        action="result_sign_refused", changes__refused="invalid_otp"
    ).exists()

    response = approve_with(
        client, xanh, processing, "code", result_pdf(), otp=next_code(totp, time_machine)
    )
    assert response.status_code == 302
    processing.refresh_from_db()
    document = ResultDocument.objects.get(dossier=processing)
    assert (document.method, document.level) == (ResultMethod.PERSONAL_REMOTE, "B-B")
    record = results.verify_result(processing)
    assert record.indication == Indication.TOTAL_PASSED
    assert record.report().signatures[0].signer.common_name == "hung.lanhdao"


def test_a_leader_without_key_or_phone_is_told_why(client, hung, xanh, processing):
    client.force_login(hung)
    page = client.get(page_of(xanh, processing)).content.decode()
    assert 'href="/account/signing/"' in page
    for choice in ("phone", "code"):
        response = approve_with(client, xanh, processing, choice, result_pdf(), otp="123456")
        assert response.status_code == 400
        assert unchanged(processing)


def test_a_leader_with_a_key_but_no_phone_may_not_choose_the_phone(
    client, hung, hung_key, xanh, processing
):
    client.force_login(hung)
    response = approve_with(client, xanh, processing, "phone", result_pdf())
    assert response.status_code == 400
    assert PendingSignature.objects.count() == 0 and unchanged(processing)


def test_of_two_leaders_racing_one_wins(
    client, hung, hung_key, hung_phone, xanh, processing, test_pki
):
    from lienthong.dossiers.tests.conftest import import_agency_key

    import_agency_key(test_pki, xanh)
    client.force_login(hung)
    approve_with(client, xanh, processing, "phone", result_pdf())
    pending = PendingSignature.objects.get(user=hung)
    answer_on_phone(hung, hung_phone)
    # Meanwhile the other leader approves with the agency's seal.
    hai = officer("hai.lanhdao", xanh, Role.LEADER)
    services.approve(actor=hai, dossier=processing, expected_version=processing.version)

    response = client.post(page_of(xanh, processing) + f"signature/{pending.reference}/finish/")

    assert response.status_code == 409
    # The seal approved it without a document; the phone signature made none.
    assert ResultDocument.objects.filter(dossier=processing).count() == 0
    pending.refresh_from_db()
    assert pending.consumed_at is None  # refused before anything was signed


def test_an_sms_code_needs_sms_enabled_on_the_account(client, hung, hung_key, xanh, processing):
    client.force_login(hung)
    page = client.get(page_of(xanh, processing)).content.decode()
    sms = page_of(xanh, processing) + "signature/sms/"
    assert f'action="{sms}"' in page
    response = client.post(sms, follow=True)
    assert response.redirect_chain[-1][0] == page_of(xanh, processing)
    assert "Tài khoản chưa bật nhận mã qua SMS." in response.content.decode()
    assert unchanged(processing)
