"""Validating signed PDFs: both national hierarchies verify, with a report people can read."""

import pytest

from lienthong.trust.models import TrustedCertificate
from lienthong.trust.tests import documents
from lienthong.trust.validation.engine import Policy
from lienthong.trust.validation.report import Indication
from lienthong.trust.validation.service import validate_document

pytestmark = pytest.mark.django_db


def test_a_citizen_signature_under_the_public_root_passes(trusted_test_pki):
    pdf = documents.signed_pdf(trusted_test_pki, "citizen")

    report = validate_document(data=pdf, filename="don.pdf")

    assert report.indication == Indication.TOTAL_PASSED
    (signature,) = report.signatures
    assert signature.indication == Indication.TOTAL_PASSED
    assert signature.hierarchy == "public"
    assert "CCCD:001099000001" in signature.signer.identifiers
    assert signature.signer.common_name.startswith("TEST")
    assert signature.coverage == "entire_document"
    assert signature.modified_after_signing is False
    assert signature.timestamp["valid"] is True
    assert signature.best_signature_time == signature.timestamp["time"]
    assert signature.revocation["status"] == "good"
    assert signature.digest_algorithm == "sha256"
    assert [c.common_name for c in signature.chain][-1].startswith("TEST Public Root")


def test_an_officer_signature_under_the_government_root_passes_on_the_same_node(trusted_test_pki):
    report = validate_document(
        data=documents.signed_pdf(trusted_test_pki, "officer"), filename="kq.pdf"
    )
    (signature,) = report.signatures
    assert signature.indication == Indication.TOTAL_PASSED
    assert signature.hierarchy == "government"


def test_a_node_trusting_only_the_public_root_still_verifies_officers_through_the_cross_certificate(
    trusted_test_pki,
):
    TrustedCertificate.objects.filter(kind="root", hierarchy="government").update(is_enabled=False)
    report = validate_document(
        data=documents.signed_pdf(trusted_test_pki, "officer"), filename="kq.pdf"
    )
    (signature,) = report.signatures
    assert signature.indication == Indication.TOTAL_PASSED
    assert signature.hierarchy == "government"
    assert signature.chain[-1].common_name.startswith("TEST Public Root")


def test_an_unknown_root_is_indeterminate_with_no_chain_found(db, test_pki):
    report = validate_document(data=documents.signed_pdf(test_pki, "citizen"), filename="x.pdf")
    (signature,) = report.signatures
    assert signature.indication == Indication.INDETERMINATE
    assert signature.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"
    assert "untrusted_root" in [r.code for r in signature.reasons]


def test_a_pdf_changed_after_signing_is_reported(trusted_test_pki):
    forged = documents.changed_after_signing(documents.signed_pdf(trusted_test_pki, "citizen"))
    report = validate_document(data=forged, filename="forged.pdf")
    (signature,) = report.signatures
    assert signature.modified_after_signing is True
    assert signature.coverage == "entire_revision"
    assert signature.indication != Indication.TOTAL_PASSED
    assert "modified_after_signing" in [r.code for r in signature.reasons]


def test_tampered_signed_bytes_fail_the_hash(trusted_test_pki):
    pdf = bytearray(documents.signed_pdf(trusted_test_pki, "citizen", timestamp=False))
    at = pdf.find(b"TEST document")
    pdf[at : at + 4] = b"FAKE"
    report = validate_document(data=bytes(pdf), filename="x.pdf")
    (signature,) = report.signatures
    assert (signature.indication, signature.sub_indication) == (
        Indication.TOTAL_FAILED,
        "HASH_FAILURE",
    )


def test_a_revoked_signer_fails_as_revoked(db, test_pki_factory):
    from lienthong.trust import testpki

    pki = test_pki_factory()
    testpki.add_to_trust_list(pki, actor="test")
    pdf = documents.signed_pdf(pki, "business", timestamp=False)
    testpki.revoke(directory=pki.directory, label="business", actor="test")
    report = validate_document(
        data=pdf, filename="x.pdf", policy=Policy(revocation_mode="hard-fail")
    )
    (signature,) = report.signatures
    assert signature.revocation["status"] == "revoked"
    assert signature.indication in (Indication.TOTAL_FAILED, Indication.INDETERMINATE)
    assert signature.sub_indication in ("REVOKED", "REVOKED_NO_POE")


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "unsupported_format"),
        (b"hello, this is not a signed file", "unsupported_format"),
        (b"%PDF-1.7\n1 0 obj << /Type /Catalog", "unreadable"),
        (b"\x30\x82\x01\x00garbage", "unreadable"),
    ],
)
def test_garbage_and_truncated_files_end_with_a_precise_reason_not_a_crash(db, data, code):
    report = validate_document(data=data, filename="bad.pdf")
    assert report.signatures == []
    assert report.indication in (Indication.TOTAL_FAILED, Indication.INDETERMINATE)
    assert report.reasons[0].code == code


def test_an_unsigned_pdf_is_not_passed(db):
    report = validate_document(data=documents.plain_pdf(), filename="plain.pdf")
    assert (report.indication, report.sub_indication) == (Indication.TOTAL_FAILED, "FORMAT_FAILURE")
    assert [r.code for r in report.reasons] == ["no_signature"]


def test_an_oversized_upload_is_refused_before_any_parsing(db, settings):
    settings.TRUST_MAX_DOCUMENT_BYTES = 1000
    report = validate_document(data=b"%PDF-" + b"0" * 2000, filename="big.pdf")
    assert report.reasons[0].code == "too_large"
