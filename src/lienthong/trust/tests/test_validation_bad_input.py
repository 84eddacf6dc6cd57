"""Bad input ends as TOTAL-FAILED or INDETERMINATE with a precise reason — never a crash, never a hang."""

import datetime as dt
import io
import struct
import time
import zlib

import pytest
from asn1crypto import keys as asn1_keys
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from lienthong.trust import services
from lienthong.trust.tests import certs, documents
from lienthong.trust.validation import sandbox
from lienthong.trust.validation.report import Indication
from lienthong.trust.validation.service import trust_material, validate_document

pytestmark = pytest.mark.django_db
NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def root():
    """A strong TEST root on the trust list, under which the bad signers are issued."""
    issued = certs.issue("Bad Input Root TEST", key="rsa2048")
    services.add_certificate(actor="test", data=issued.pem, hierarchy="public", kind="root")
    return issued


def sign(leaf: certs.Issued, root: certs.Issued, *, digest: str = "sha256") -> bytes:
    key = asn1_keys.PrivateKeyInfo.load(
        leaf.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    signer = signers.SimpleSigner(
        signing_cert=leaf.asn1,
        signing_key=key,
        cert_registry=SimpleCertificateStore.from_certs([root.asn1]),
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(documents.plain_pdf()))
    meta = signers.PdfSignatureMetadata(field_name="Signature", md_algorithm=digest)
    return signers.sign_pdf(writer, meta, signer=signer).getvalue()


def only(report):
    (signature,) = report.signatures
    return signature


def test_rsa_1024_is_refused_as_a_crypto_constraint(root):
    leaf = certs.issue("Weak Signer TEST", key="rsa1024", issuer=root, ca=False)
    signature = only(validate_document(data=sign(leaf, root), filename="weak.pdf"))
    assert (signature.indication, signature.sub_indication) == (
        Indication.INDETERMINATE,
        "CRYPTO_CONSTRAINTS_FAILURE",
    )
    assert signature.reasons[0].code == "weak_key"
    assert "RSA 1024" in signature.reasons[0].detail


def test_sha1_is_refused_as_a_crypto_constraint(root):
    leaf = certs.issue("SHA-1 Signer TEST", key="rsa2048", issuer=root, ca=False)
    signature = only(validate_document(data=sign(leaf, root, digest="sha1"), filename="sha1.pdf"))
    assert signature.sub_indication == "CRYPTO_CONSTRAINTS_FAILURE"
    assert signature.reasons[0].code == "weak_digest"


def test_an_expired_signer_without_timestamp_is_indeterminate(root):
    leaf = certs.issue(
        "Expired Signer TEST",
        issuer=root,
        ca=False,
        valid_from=NOW - dt.timedelta(days=400),
        days=30,
    )
    signature = only(validate_document(data=sign(leaf, root), filename="expired.pdf"))
    assert signature.indication == Indication.INDETERMINATE
    assert signature.sub_indication in {
        "OUT_OF_BOUNDS_NO_POE",
        "EXPIRED",
        "OUT_OF_BOUNDS_NOT_REVOKED",
    }


def test_a_not_yet_valid_signer_is_not_passed(root):
    leaf = certs.issue(
        "Future Signer TEST", issuer=root, ca=False, valid_from=NOW + dt.timedelta(days=10)
    )
    signature = only(validate_document(data=sign(leaf, root), filename="future.pdf"))
    assert signature.indication != Indication.TOTAL_PASSED
    assert signature.sub_indication == "NOT_YET_VALID"


def test_a_file_named_pdf_that_is_xml_is_judged_by_its_content(db):
    report = validate_document(data=b"<not-signed/>", filename="looks-like.pdf")
    assert report.document_format == "xml"
    assert report.reasons[0].code == "no_signature"


def test_deeply_nested_pdf_objects_end_as_unreadable_not_a_crash(db):
    depth = 100_000
    nested = b"[" * depth + b"]" * depth
    pdf = (
        b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R /Bomb " + nested + b" >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    )
    report = validate_document(data=pdf, filename="nested.pdf")
    assert report.signatures == []
    assert report.indication != Indication.TOTAL_PASSED
    assert report.reasons[0].code in {"unreadable", "no_signature"}


def test_a_compression_bomb_inside_a_signed_pdf_is_validated_without_inflating_it(trusted_test_pki):
    bomb = zlib.compress(b"\0" * (256 * 1024 * 1024), 9)
    base = documents.plain_pdf().replace(b"%%EOF", b"")
    writer = IncrementalPdfFileWriter(io.BytesIO(documents.plain_pdf()))
    from pyhanko.pdf_utils import generic

    stream = generic.StreamObject(
        {generic.NameObject("/Filter"): generic.NameObject("/FlateDecode")}, encoded_data=bomb
    )
    writer.add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    del base
    signed = documents.signed_pdf(trusted_test_pki, "citizen", timestamp=False, pdf=out.getvalue())

    started = time.monotonic()
    report = validate_document(data=signed, filename="bomb.pdf")

    assert time.monotonic() - started < 30
    assert report.indication in {Indication.TOTAL_PASSED, Indication.INDETERMINATE}


def flate_bomb(inflated_mib: int) -> bytes:
    """A valid zlib stream of ``inflated_mib`` MiB of zeros, about a thousandth of
    that in size, built without inflating anything: after a full flush, deflate
    emits the same bytes for the same input, so one block is repeated; the
    Adler-32 of n zero bytes is (n mod 65521) << 16 | 1."""
    compressor = zlib.compressobj(9)
    mebibyte = bytes(1 << 20)
    first = compressor.compress(mebibyte) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(mebibyte) + compressor.flush(zlib.Z_FULL_FLUSH)
    end = compressor.flush()[:-4]
    size = inflated_mib << 20
    return first + block * (inflated_mib - 1) + end + struct.pack(">I", (size % 65521) << 16 | 1)


def test_the_bomb_builder_makes_what_it_says():
    assert zlib.decompress(flate_bomb(3)) == bytes(3 << 20)


def test_a_pdf_that_must_inflate_gigabytes_is_stopped_without_inflating_it(trusted_test_pki):
    """The only cross-reference table is a stream inflating to 4 GiB: reading the
    file at all needs it. pyHanko's decode limits stop it at once (the worker's
    memory limit is the backstop) and the report says why."""
    bomb = flate_bomb(4096)
    head = (
        b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    )
    xref = (
        b"3 0 obj\n<< /Type /XRef /Size 4 /W [1 4 2] /Root 1 0 R /Filter /FlateDecode"
        b" /Length " + str(len(bomb)).encode() + b" >>\nstream\n" + bomb + b"\nendstream\nendobj\n"
    )
    pdf = head + xref + b"startxref\n" + str(len(head)).encode() + b"\n%%EOF\n"
    assert len(pdf) < 8 * 1024 * 1024

    started = time.monotonic()
    report = validate_document(data=pdf, filename="bomb.pdf")

    assert time.monotonic() - started < 30
    assert (report.indication, report.sub_indication) == (Indication.INDETERMINATE, "GENERIC")
    assert [r.code for r in report.reasons] == ["expands_too_much"]
    # The worker goes on serving documents.
    signed = documents.signed_pdf(trusted_test_pki, "citizen", timestamp=False)
    assert validate_document(data=signed, filename="ok.pdf").indication == (Indication.TOTAL_PASSED)


def test_the_engine_stops_itself_past_its_time_budget(db):
    job = {
        "data": documents.plain_pdf(),
        "detached": None,
        "filename": "x.pdf",
        "policy": {
            "revocation_mode": "soft-fail",
            "allow_fetching": False,
            "timeout_seconds": 0.000001,
        },
        **trust_material(),
    }
    outcome = sandbox.run_bounded(job, timeout=60, memory_bytes=1024**3)
    assert outcome["report"]["reasons"][0]["code"] in {"too_slow", "no_signature"}


def test_the_parent_kills_a_child_that_does_not_answer_in_time(db):
    job = {
        "data": documents.plain_pdf(),
        "detached": None,
        "filename": "x.pdf",
        "policy": {"revocation_mode": "soft-fail", "allow_fetching": False, "timeout_seconds": 30},
        **trust_material(),
    }
    # A memory limit no other test uses: a fresh worker, which cannot even start in 1 ms.
    fresh_pool = 1024**3 + 4096
    with pytest.raises(sandbox.SandboxFailure) as failure:
        sandbox.run_bounded(job, timeout=0.001, memory_bytes=fresh_pool)
    assert failure.value.code == "too_slow"
    # The silent worker was killed and retired; the next document gets a working one.
    outcome = sandbox.run_bounded(job, timeout=60, memory_bytes=fresh_pool)
    assert outcome["report"]["reasons"][0]["code"] == "no_signature"
