"""The applicant's declaration as a PDF, and signing it (optional) with her own
remote signing key (lienthong.signing): the signed copy is added to the dossier
and validates TOTAL-PASSED against the TEST PKI."""

from __future__ import annotations

import io

import pytest
from django.utils import timezone
from pyhanko.pdf_utils.reader import PdfFileReader

from lienthong.audit.models import AuditRecord
from lienthong.dossiers import attachments
from lienthong.dossiers.errors import DossierConflict
from lienthong.portal import services
from lienthong.portal.declarations import declaration_pdf
from lienthong.portal.errors import PortalConflict
from lienthong.portal.models import DeclarationSignature
from lienthong.portal.tests.conftest import BINH_ID, MAI_ID, submitted
from lienthong.portal.tests.pdftext import pdf_text
from lienthong.signing.errors import SigningRefused
from lienthong.signing.tests.conftest import certified, give_totp, next_code
from lienthong.trust.validation.report import Indication
from lienthong.trust.validation.service import validate_document

pytestmark = pytest.mark.django_db


@pytest.fixture
def dossier(mai, procedure, xanh):
    return submitted(mai, procedure, xanh)


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    return time_machine


@pytest.fixture
def mai_totp(clock, mai):
    return give_totp(mai)


@pytest.fixture
def mai_key(mai, trusted_test_pki, settings):
    settings.TSA_URL = ""
    # A signed declaration carries the font subset and the certificate chain.
    settings.DOSSIERS_MAX_ATTACHMENT_BYTES = 1024 * 1024
    return certified(mai, trusted_test_pki)


def test_the_declaration_shows_what_was_declared(dossier):
    text = pdf_text(declaration_pdf(dossier))

    assert "TỜ KHAI" in text
    assert "Đăng ký khai sinh (thử nghiệm)" in text
    assert dossier.code in text
    assert "Họ tên trẻ Nguyễn Minh An" in text
    assert "Ngày sinh 20/11/2026" in text
    assert "1. Giấy chứng sinh: giay-chung-sinh.pdf" in text
    assert "Tôi cam đoan nội dung khai trên là đúng sự thật" in text
    assert "Người khai: Nguyễn Thị Mai" in text


def test_the_applicant_downloads_it_and_nobody_else(signed_in, client, binh, dossier):
    response = signed_in(MAI_ID).get(f"/dossiers/{dossier.code}/declaration.pdf")
    assert response.status_code == 200
    assert "TỜ KHAI" in pdf_text(response.content)

    client.logout()
    assert signed_in(BINH_ID).get(f"/dossiers/{dossier.code}/declaration.pdf").status_code == 404


def test_the_applicant_signs_her_declaration(mai, dossier, mai_key, mai_totp, clock):
    signature = services.sign_declaration(
        actor=mai,
        dossier=dossier,
        credential_id=mai_key.credential_id,
        otp=next_code(mai_totp, clock),
    )

    assert signature.level == "B-B"
    assert signature.certificate_sha256 == mai_key.fingerprint_sha256
    attachment = signature.attachment
    assert attachment.dossier == dossier
    assert attachment.original_name == f"to-khai-{dossier.code}-da-ky.pdf"
    with attachments.open_blob(attachment.path) as handle:
        signed = handle.read()
    (embedded,) = PdfFileReader(io.BytesIO(signed)).embedded_signatures
    assert embedded.signer_cert.subject.native["common_name"] == "Nguyễn Thị Mai"
    assert validate_document(data=signed, filename="to-khai.pdf").indication == (
        Indication.TOTAL_PASSED
    )
    assert "TỜ KHAI" in pdf_text(signed)
    record = AuditRecord.objects.get(action="sign_declaration", object_id=str(dossier.pk))
    assert record.changes["sha256"] == attachment.sha256


def test_a_wrong_code_signs_and_keeps_nothing(mai, dossier, mai_key, mai_totp, clock):
    with pytest.raises(SigningRefused) as refused:
        services.sign_declaration(
            actor=mai, dossier=dossier, credential_id=mai_key.credential_id, otp="000000"
        )
    assert refused.value.code == "invalid_otp"
    assert DeclarationSignature.objects.count() == 0
    assert dossier.attachments.count() == 1


def test_it_is_signed_once(mai, dossier, mai_key, mai_totp, clock):
    services.sign_declaration(
        actor=mai,
        dossier=dossier,
        credential_id=mai_key.credential_id,
        otp=next_code(mai_totp, clock),
    )
    with pytest.raises(PortalConflict) as refused:
        services.sign_declaration(
            actor=mai,
            dossier=dossier,
            credential_id=mai_key.credential_id,
            otp=next_code(mai_totp, clock),
        )
    assert refused.value.code == "declaration_closed"


def test_someone_elses_key_or_dossier_is_refused(mai, binh, dossier, mai_key, trusted_test_pki):
    binh_key = certified(binh, trusted_test_pki, label="Bình")
    with pytest.raises(PortalConflict) as refused:
        services.sign_declaration(
            actor=mai, dossier=dossier, credential_id=binh_key.credential_id, otp="123456"
        )
    assert refused.value.code == "no_signing_credential"

    with pytest.raises(DossierConflict) as refused:
        services.sign_declaration(
            actor=binh, dossier=dossier, credential_id=binh_key.credential_id, otp="123456"
        )
    assert refused.value.code == "not_allowed"
    assert DeclarationSignature.objects.count() == 0


def test_signing_through_the_dossier_page(english, mai, dossier, mai_key, mai_totp, clock):
    # With an authenticator app, signing in asks for its code: the identity tests'
    # subject; here she is signed in as a finished sign-in leaves her.
    client = english
    client.force_login(mai)
    page = client.get(f"/dossiers/{dossier.code}/").content.decode()
    assert f'action="/dossiers/{dossier.code}/declaration/sign/"' in page
    assert mai_key.credential_id in page

    wrong = client.post(
        f"/dossiers/{dossier.code}/declaration/sign/",
        {"credential": mai_key.credential_id, "otp": "000000"},
    )
    assert wrong.status_code >= 400
    assert DeclarationSignature.objects.count() == 0

    response = client.post(
        f"/dossiers/{dossier.code}/declaration/sign/",
        {"credential": mai_key.credential_id, "otp": next_code(mai_totp, clock)},
    )
    assert response.status_code == 302
    page = client.get(f"/dossiers/{dossier.code}/").content.decode()
    assert "You signed your declaration" in page
    assert 'action="/dossiers/{dossier.code}/declaration/sign/"' not in page
    download = client.get(f"/dossiers/{dossier.code}/declaration.pdf")
    assert download["Content-Disposition"].endswith(f'to-khai-{dossier.code}-da-ky.pdf"')
    assert b"/ByteRange" in download.content


def test_without_a_signing_key_the_page_points_to_getting_one(signed_in, english, dossier):
    page = signed_in(MAI_ID).get(f"/dossiers/{dossier.code}/").content.decode()

    assert "/declaration/sign/" not in page
    assert 'href="/account/signing/"' in page
