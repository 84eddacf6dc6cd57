"""Signing PDFs through the service layer: PAdES that validates TOTAL-PASSED.

Mai signs her declaration with her remote key: in one go with a code of her
authenticator app, or in two halves around an approval on her phone.
"""

from __future__ import annotations

import datetime as dt
import io

import pytest
import time_machine
from pyhanko.pdf_utils.reader import PdfFileReader

from lienthong.approvals.models import ApprovalRequest
from lienthong.signing import pdf as remote_pdf
from lienthong.signing.errors import SigningRefused
from lienthong.signing.providers import LocalProvider
from lienthong.signing.tests.conftest import next_code
from lienthong.trust.tests import documents
from lienthong.trust.validation.report import Indication
from lienthong.trust.validation.service import validate_document


def indication(signed: bytes) -> str:
    return validate_document(data=signed, filename="signed.pdf").indication


def test_a_b_t_signature_validates_total_passed(mai, mai_key, mai_totp, clock, trusted_test_pki):
    signed = remote_pdf.sign_pdf(
        user=mai,
        credential=mai_key,
        pdf=documents.plain_pdf("To khai khai sinh"),
        otp=next_code(mai_totp, clock),
        reason="Ký tờ khai",
        location="Hà Nội",
        timestamp_url=trusted_test_pki.tsa_url,
    )
    # The timestamp token is issued at the TSA's real time, however long signing took:
    # validate from just after it.
    real_now = dt.datetime.fromtimestamp(time_machine.escape_hatch.time.time(), dt.UTC)
    clock.move_to(real_now + dt.timedelta(seconds=2), tick=False)

    (embedded,) = PdfFileReader(io.BytesIO(signed)).embedded_signatures
    assert embedded.signer_cert.subject.native["common_name"] == "Nguyễn Thị Mai"
    unsigned = [a["type"].native for a in embedded.signer_info["unsigned_attrs"]]
    assert unsigned == ["signature_time_stamp_token"]
    assert indication(signed) == Indication.TOTAL_PASSED


def test_a_b_b_signature_with_a_visible_stamp(mai, mai_key, mai_totp, clock, trusted_test_pki):
    signed = remote_pdf.sign_pdf(
        user=mai,
        credential=mai_key.credential_id,
        pdf=documents.plain_pdf(),
        otp=next_code(mai_totp, clock),
        visible_stamp={"page": 1, "text": "Nguyễn Thị Mai"},
    )
    assert indication(signed) == Indication.TOTAL_PASSED


def test_a_wrong_code_signs_nothing(mai, mai_key, mai_totp, clock, trusted_test_pki):
    with pytest.raises(SigningRefused) as refused:
        remote_pdf.sign_pdf(user=mai, credential=mai_key, pdf=documents.plain_pdf(), otp="000000")
    assert refused.value.code == "invalid_otp"


def test_not_a_pdf_is_refused(mai, mai_key):
    with pytest.raises(SigningRefused) as refused:
        remote_pdf.sign_pdf(user=mai, credential=mai_key, pdf=b"hello", otp="000000")
    assert refused.value.code == "not_pdf"


def approved(user, hashes: list[str]) -> ApprovalRequest:
    """The request as the phone's approval ceremony leaves it (that ceremony is the
    approvals app's subject)."""
    now = dt.datetime.now(dt.UTC)
    return ApprovalRequest.objects.create(
        user=user,
        kind="signature",
        state="approved",
        hashes=hashes,
        summary={
            "dossier_code": "000.00.00.H26-261201-0001",
            "document_name": "Tờ khai",
            "sha256": "0" * 64,
            "agency": "UBND phường",
        },
        expires_at=now + dt.timedelta(minutes=2),
        answered_at=now,
    )


def test_two_halves_around_a_phone_approval(mai, mai_key, clock, trusted_test_pki):
    provider = LocalProvider(source="test")
    prepared = remote_pdf.prepare_pdf_signature(
        user=mai, credential=mai_key, pdf=documents.plain_pdf(), provider=provider
    )
    approval = approved(mai, prepared.hashes_b64)

    activation = provider.authorize(
        user=mai,
        credential_id=mai_key.credential_id,
        digests=prepared.digests,
        approval_id=str(approval.pk),
    )
    signed = remote_pdf.finish_pdf_signature(
        user=mai, prepared=prepared, sad=activation.sad, provider=provider
    )

    assert indication(signed) == Indication.TOTAL_PASSED
    approval.refresh_from_db()
    assert approval.consumed_at is not None


def test_an_approval_for_other_hashes_authorises_nothing(mai, mai_key, clock, trusted_test_pki):
    provider = LocalProvider(source="test")
    prepared = remote_pdf.prepare_pdf_signature(
        user=mai, credential=mai_key, pdf=documents.plain_pdf(), provider=provider
    )
    approval = approved(mai, ["b3RoZXI="])
    with pytest.raises(SigningRefused) as refused:
        provider.authorize(
            user=mai,
            credential_id=mai_key.credential_id,
            digests=prepared.digests,
            approval_id=str(approval.pk),
        )
    assert refused.value.code == "approval_other_hashes"
