"""Signing one's declaration with an approval on one's paired phone: the computer
asks, waits (htmx, or the no-JavaScript "continue" button), and the signed
declaration validates TOTAL-PASSED. A denial, an expiry or an approval for
other hashes signs nothing and leaves a trace."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import pytest
from django.utils import timezone

from lienthong.approvals import services as approvals
from lienthong.approvals.models import ApprovalRequest
from lienthong.approvals.tests.conftest import ORIGIN, assertion, pair
from lienthong.audit.models import AuditRecord
from lienthong.dossiers import attachments
from lienthong.portal.declarations import declaration_pdf
from lienthong.portal.models import DeclarationSignature
from lienthong.portal.tests.conftest import submitted
from lienthong.signing.models import PendingSignature
from lienthong.signing.tests.conftest import certified
from lienthong.trust.validation.report import Indication
from lienthong.trust.validation.service import validate_document

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    return time_machine


@pytest.fixture
def dossier(mai, procedure, xanh):
    return submitted(mai, procedure, xanh)


@pytest.fixture
def mai_key(mai, trusted_test_pki, settings):
    settings.TSA_URL = ""
    settings.DOSSIERS_MAX_ATTACHMENT_BYTES = 1024 * 1024
    return certified(mai, trusted_test_pki)


@pytest.fixture
def mai_phone(mai, settings):
    settings.IDENTITY_RP_ID = "localhost"
    settings.IDENTITY_ORIGINS = [ORIGIN]
    return pair(mai)


@pytest.fixture
def computer(english, mai):
    english.force_login(mai)
    return english


def ask(computer, dossier, mai_key):
    """Press "Approve on my phone": the wait page's address."""
    response = computer.post(
        f"/dossiers/{dossier.code}/declaration/sign/",
        {"credential": mai_key.credential_id, "phone": "1"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return response["Location"]


def answer_on_phone(mai_phone, approval):
    device, _secret, authenticator = mai_phone
    nonce = secrets.token_bytes(32)
    return approvals.approve(
        request_id=approval.pk,
        device=device,
        credential=assertion(authenticator, approval, device, nonce),
        nonce=nonce,
        origins=[ORIGIN],
        source="test",
    )


def test_the_declaration_is_signed_once_the_phone_approves(
    computer, mai, dossier, mai_key, mai_phone, clock
):
    page = computer.get(f"/dossiers/{dossier.code}/").content.decode()
    assert 'name="phone"' in page and "Approve on my phone" in page

    wait = ask(computer, dossier, mai_key)
    pending = PendingSignature.objects.get(user=mai)
    assert wait == f"/dossiers/{dossier.code}/declaration/sign/{pending.reference}/"
    approval = ApprovalRequest.objects.get(user=mai, kind="signature")
    # The phone shows what is signed: the dossier, the procedure and document, the
    # declaration's SHA-256, the agency; and approves exactly the hashes to sign.
    assert approval.summary == {
        "dossier_code": dossier.code,
        "document_name": f"Tờ khai: {dossier.procedure.name} (to-khai-{dossier.code}.pdf)",
        "sha256": hashlib.sha256(declaration_pdf(dossier)).hexdigest(),
        "agency": dossier.receiving_agency.name,
    }
    assert approval.hashes == pending.hashes

    waiting = computer.get(wait).content.decode()
    assert 'hx-trigger="every' in waiting and approval.summary["sha256"] in waiting
    assert f'action="{wait}finish/"' in waiting  # the no-JavaScript button
    # Not answered yet: continuing goes back to waiting, nothing is signed.
    early = computer.post(f"{wait}finish/")
    assert early["Location"] == wait
    assert DeclarationSignature.objects.count() == 0

    answer_on_phone(mai_phone, approval)
    answered = computer.get(wait, HTTP_HX_REQUEST="true").content.decode()
    assert f'hx-post="{wait}finish/"' in answered and 'hx-trigger="every' not in answered
    done = computer.post(f"{wait}finish/")  # without JavaScript
    assert done["Location"] == f"/dossiers/{dossier.code}/"

    signature = DeclarationSignature.objects.get(dossier=dossier)
    assert signature.level == "B-B" and signature.certificate_sha256 == mai_key.fingerprint_sha256
    with attachments.open_blob(signature.attachment.path) as handle:
        signed = handle.read()
    assert validate_document(data=signed, filename="to-khai.pdf").indication == (
        Indication.TOTAL_PASSED
    )
    record = AuditRecord.objects.get(action="sign_declaration", object_id=str(dossier.pk))
    assert record.changes["method"] == "phone"
    assert (
        "You signed your declaration" in computer.get(f"/dossiers/{dossier.code}/").content.decode()
    )
    # Finished: the wait page and a second "continue" lead back to the dossier.
    assert computer.get(wait)["Location"] == f"/dossiers/{dossier.code}/"
    assert computer.post(f"{wait}finish/")["Location"] == f"/dossiers/{dossier.code}/"
    assert DeclarationSignature.objects.count() == 1


def refusal_of(dossier) -> str:
    record = AuditRecord.objects.filter(
        action="declaration_refused", object_id=str(dossier.pk)
    ).get()
    return record.changes["refused"]


def test_a_denial_on_the_phone_signs_nothing(computer, mai, dossier, mai_key, mai_phone, clock):
    wait = ask(computer, dossier, mai_key)
    approval = ApprovalRequest.objects.get(user=mai)
    device, _secret, _authenticator = mai_phone
    approvals.deny(request_id=approval.pk, device=device, source="test")

    finished = computer.post(f"{wait}finish/", HTTP_HX_REQUEST="true")
    assert finished["HX-Redirect"] == f"/dossiers/{dossier.code}/"
    assert DeclarationSignature.objects.count() == 0
    assert refusal_of(dossier) == "approval_denied"
    page = computer.get(f"/dossiers/{dossier.code}/").content.decode()
    assert "You denied the signature on your phone. Nothing was signed." in page


def test_an_expired_request_signs_nothing(computer, mai, dossier, mai_key, mai_phone, clock):
    wait = ask(computer, dossier, mai_key)
    clock.shift(dt.timedelta(seconds=approvals.MAX_TTL + 1))
    # Overdue counts as answered: the page finishes, and says why nothing was signed.
    assert 'hx-trigger="every' not in computer.get(wait).content.decode()
    computer.post(f"{wait}finish/")
    assert DeclarationSignature.objects.count() == 0
    assert refusal_of(dossier) in ("approval_expired", "pending_expired")
    assert "Nothing was signed" in computer.get(f"/dossiers/{dossier.code}/").content.decode()


def test_an_approval_for_other_hashes_signs_nothing(
    computer, mai, dossier, mai_key, mai_phone, clock
):
    wait = ask(computer, dossier, mai_key)
    approval = ApprovalRequest.objects.get(user=mai)
    answer_on_phone(mai_phone, approval)
    ApprovalRequest.objects.filter(pk=approval.pk).update(hashes=["b3RoZXI="])

    computer.post(f"{wait}finish/")
    assert DeclarationSignature.objects.count() == 0
    assert refusal_of(dossier) == "approval_other_hashes"
    assert AuditRecord.objects.filter(action="approval_refused").exists()


def test_without_a_paired_phone_nothing_is_asked(computer, mai, dossier, mai_key):
    page = computer.get(f"/dossiers/{dossier.code}/").content.decode()
    assert 'name="phone"' not in page
    response = computer.post(
        f"/dossiers/{dossier.code}/declaration/sign/",
        {"credential": mai_key.credential_id, "phone": "1"},
    )
    assert response.status_code == 409
    assert "no paired phone" in response.content.decode()
    assert PendingSignature.objects.count() == 0 and ApprovalRequest.objects.count() == 0
    assert refusal_of(dossier) == "approval_no_device"


def test_someone_elses_pending_signature_is_not_found(
    computer, client, mai, binh, dossier, mai_key, mai_phone, clock
):
    wait = ask(computer, dossier, mai_key)
    computer.logout()
    client.force_login(binh)
    assert client.get(wait).status_code == 404
    assert client.post(f"{wait}finish/").status_code == 404
    # Her own reference under another purpose (another dossier's code) is not found either.
    client.logout()
    client.force_login(mai)
    assert (
        client.get(f"/dossiers/{dossier.code}/declaration/sign/not-a-reference/").status_code == 404
    )
    assert DeclarationSignature.objects.count() == 0
