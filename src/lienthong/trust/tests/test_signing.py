"""Signing with a node key: the Ministry of Finance signs a decision (PDF), a record (XML)
and an exchange envelope (JSON), and outside validators accept what it signed.

Keys come from the session's TEST PKI; timestamps from its TSA and revocation
information from its OCSP responders, all on loopback.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import logging
import subprocess
from io import StringIO
from pathlib import Path

import pytest
import rfc8785
import time_machine
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.core.management import call_command
from django.core.management.base import CommandError
from joserfc import jws
from joserfc.jwk import ECKey, RSAKey
from lxml import etree
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from signxml.xades import XAdESSignatureConfiguration, XAdESVerifier

from lienthong.audit.models import AuditRecord
from lienthong.trust import keystore, signing, testpki
from lienthong.trust.models import SigningKey

pytestmark = pytest.mark.django_db

XMLSEC1 = Path("/usr/bin/xmlsec1")
ROOTS = ("public-root", "government-root")


# --- Personas and documents -----------------------------------------------------------


def import_key(pki, label: str) -> SigningKey:
    return keystore.import_pkcs12(
        actor="test",
        data=pki.p12_path(label).read_bytes(),
        passphrase=pki.p12_passphrase(label),
        name=f"TEST {label}",
        source="test",
    )


@pytest.fixture
def ministry_key(test_pki) -> SigningKey:
    """The Ministry of Finance's agency key: RSA 2048, under the government CA."""
    return import_key(test_pki, "agency")


@pytest.fixture
def officer_key(test_pki) -> SigningKey:
    """Chị Bình's key: ECDSA P-256, under the government CA."""
    return import_key(test_pki, "officer")


def decision_pdf(pages: int = 2) -> bytes:
    """A plain A4 document of ``pages`` pages, as an agency's decision would arrive."""
    writer = PdfFileWriter()
    for number in range(1, pages + 1):
        content = generic.StreamObject(
            stream_data=f"BT /F1 12 Tf 72 770 Td (TEST decision, page {number}) Tj ET".encode()
        )
        font = generic.DictionaryObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/Font"),
                generic.NameObject("/Subtype"): generic.NameObject("/Type1"),
                generic.NameObject("/BaseFont"): generic.NameObject("/Helvetica"),
            }
        )
        page = generic.DictionaryObject(
            {
                generic.NameObject("/Type"): generic.NameObject("/Page"),
                generic.NameObject("/MediaBox"): generic.ArrayObject(
                    [generic.NumberObject(v) for v in (0, 0, 595, 842)]
                ),
                generic.NameObject("/Contents"): writer.add_object(content),
                generic.NameObject("/Resources"): generic.DictionaryObject(
                    {
                        generic.NameObject("/Font"): generic.DictionaryObject(
                            {generic.NameObject("/F1"): writer.add_object(font)}
                        )
                    }
                ),
            }
        )
        writer.insert_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pem_roots(pki) -> bytes:
    return b"".join(
        x509.load_der_x509_certificate(pki.certificate(label).dump()).public_bytes(
            serialization.Encoding.PEM
        )
        for label in ROOTS
    )


def validation_context(pki) -> ValidationContext:
    """What a relying party outside Liên Thông trusts: the two TEST roots, nothing else."""
    return ValidationContext(
        trust_roots=[pki.certificate(label) for label in ROOTS],
        allow_fetching=True,
    )


def the_signature(signed: bytes):
    reader = PdfFileReader(io.BytesIO(signed))
    (embedded,) = reader.embedded_signatures
    return reader, embedded


def signature_records():
    return AuditRecord.objects.filter(object_type=signing.SIGNATURE_OBJECT_TYPE).order_by("pk")


# --- PDF (PAdES) ------------------------------------------------------------------------


def test_a_b_t_signature_is_intact_valid_trusted_and_timestamped(test_pki, ministry_key):
    document = decision_pdf()

    signed = signing.sign_pdf(
        actor="test",
        key=ministry_key,
        pdf=document,
        level="B-T",
        timestamp_url=test_pki.tsa_url,
        reason="Phê duyệt quyết định",
        location="Hà Nội",
    )

    assert signed.startswith(document)  # an incremental update: the original is untouched
    reader, embedded = the_signature(signed)
    status = validate_pdf_signature(
        embedded, validation_context(test_pki), ts_validation_context=validation_context(test_pki)
    )
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.timestamp_validity is not None and status.timestamp_validity.trusted
    assert status.signing_cert.sha256.hex() == ministry_key.fingerprint_sha256
    assert embedded.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert embedded.sig_object["/Reason"] == "Phê duyệt quyết định"
    assert embedded.sig_object["/Location"] == "Hà Nội"
    assert "/DSS" not in reader.root


def test_a_b_lt_signature_carries_what_a_validator_needs_years_later(trusted_test_pki, officer_key):
    signed = signing.sign_pdf(
        actor="test",
        key=officer_key,
        pdf=decision_pdf(),
        level="B-LT",
        timestamp_url=trusted_test_pki.tsa_url,
    )

    reader, embedded = the_signature(signed)
    dss = reader.root["/DSS"]
    assert len(dss["/Certs"]) >= 3
    assert len(dss.get("/OCSPs", [])) + len(dss.get("/CRLs", [])) >= 2
    # Offline now: everything must come from the document itself.
    offline = ValidationContext(
        trust_roots=[trusted_test_pki.certificate(label) for label in ROOTS],
        allow_fetching=False,
        other_certs=[asn1_x509.Certificate.load(bytes(c.get_object().data)) for c in dss["/Certs"]],
        ocsps=[bytes(o.get_object().data) for o in dss.get("/OCSPs", [])],
        crls=[bytes(c.get_object().data) for c in dss.get("/CRLs", [])],
        revocation_mode="hard-fail",
    )
    status = validate_pdf_signature(embedded, offline, ts_validation_context=offline)
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.timestamp_validity is not None and status.timestamp_validity.intact


def test_b_lt_is_refused_for_a_certificate_the_trust_list_does_not_reach(test_pki, ministry_key):
    with pytest.raises(signing.SigningRefused) as excinfo:
        signing.sign_pdf(
            actor="test",
            key=ministry_key,
            pdf=decision_pdf(),
            level="B-LT",
            timestamp_url=test_pki.tsa_url,
        )
    assert excinfo.value.code == "not_trusted"
    assert "TEST Bộ Tài chính" in excinfo.value.message_vi
    assert not signature_records().exists()


def test_b_lt_is_refused_for_a_revoked_certificate(test_pki_factory):
    pki = test_pki_factory()  # a PKI of its own: the shared one is never revoked in
    testpki.add_to_trust_list(pki, actor="test")
    key = import_key(pki, "officer")
    testpki.revoke(directory=pki.directory, label="officer", actor="test")

    with pytest.raises(signing.SigningRefused) as excinfo:
        signing.sign_pdf(
            actor="test", key=key, pdf=decision_pdf(), level="B-LT", timestamp_url=pki.tsa_url
        )
    assert excinfo.value.code == "certificate_revoked"


def test_a_b_b_signature_asks_no_time_stamping_authority(test_pki, ministry_key):
    signed = signing.sign_pdf(
        actor="test", key=ministry_key, pdf=decision_pdf(), level="B-B", timestamp_url=None
    )
    _, embedded = the_signature(signed)
    status = validate_pdf_signature(embedded, validation_context(test_pki))
    assert status.intact and status.valid and status.trusted
    assert status.timestamp_validity is None


def test_b_t_without_a_time_stamping_authority_is_refused(ministry_key):
    with pytest.raises(signing.SigningRefused) as excinfo:
        signing.sign_pdf(actor="test", key=ministry_key, pdf=decision_pdf(), level="B-T")
    assert excinfo.value.code == "timestamp_url_required"
    assert "RFC 3161" in excinfo.value.message_vi


def test_an_unreachable_time_stamping_authority_is_a_clear_refusal(ministry_key):
    from lienthong.testing.pki import free_loopback_port

    with pytest.raises(signing.SigningRefused) as excinfo:
        signing.sign_pdf(
            actor="test",
            key=ministry_key,
            pdf=decision_pdf(),
            level="B-T",
            timestamp_url=f"http://127.0.0.1:{free_loopback_port()}/tsa",
        )
    assert excinfo.value.code == "timestamp_failed"


def test_a_visible_stamp_names_the_signer_in_vietnamese_on_the_chosen_page(test_pki, ministry_key):
    signed = signing.sign_pdf(
        actor="test",
        key=ministry_key,
        pdf=decision_pdf(pages=2),
        level="B-T",
        timestamp_url=test_pki.tsa_url,
        visible_stamp={"page": -1, "box": (300, 40, 560, 120), "text": "Đã ký — 100% hợp lệ"},
    )

    reader, embedded = the_signature(signed)
    widget = embedded.sig_field
    assert widget["/Subtype"] == "/Widget"
    rect = [float(v) for v in widget["/Rect"]]
    assert rect == [300, 40, 560, 120]
    last_page = reader.root["/Pages"]["/Kids"][1].get_object()
    assert any(a.get_object().get("/T") == embedded.field_name for a in last_page["/Annots"])
    if any(font.is_file() for font in signing.STAMP_FONTS):
        # A font with Vietnamese letters, embedded (subset) in the appearance.
        assert any("DejaVuSans" in name for name in base_fonts(widget["/AP"]["/N"]))
    status = validate_pdf_signature(embedded, validation_context(test_pki))
    assert status.intact and status.valid


def base_fonts(stream) -> list[str]:
    """The /BaseFont of every font an appearance stream (or the forms inside it) uses."""
    resources = stream.get_object().get("/Resources", {})
    names = [str(f.get_object()["/BaseFont"]) for f in resources.get("/Font", {}).values()]
    for form in resources.get("/XObject", {}).values():
        names += base_fonts(form)
    return names


def test_without_a_vietnamese_font_the_stamp_drops_the_marks_instead_of_the_letters(
    test_pki, ministry_key, monkeypatch
):
    monkeypatch.setattr(signing, "STAMP_FONTS", ())
    signed = signing.sign_pdf(
        actor="test", key=ministry_key, pdf=decision_pdf(), level="B-B",
        visible_stamp={"text": "Đã phê duyệt"},
    )  # fmt: skip
    _, embedded = the_signature(signed)
    appearance = embedded.sig_field["/AP"]["/N"]
    drawn = b"".join(streams(appearance))
    assert b"Da phe duyet" in drawn
    assert b"Signed by\\072 TEST Bo Tai chinh" in drawn
    assert base_fonts(appearance) == ["/Courier"]
    assert validate_pdf_signature(embedded, validation_context(test_pki)).valid


def streams(stream) -> list[bytes]:
    """The content of an appearance stream and of the forms it draws."""
    stream = stream.get_object()
    found = [stream.data]
    for form in stream.get("/Resources", {}).get("/XObject", {}).values():
        found += streams(form)
    return found


def test_a_stamp_on_a_page_that_does_not_exist_is_refused(test_pki, ministry_key):
    with pytest.raises(signing.SigningRefused) as excinfo:
        signing.sign_pdf(
            actor="test", key=ministry_key, pdf=decision_pdf(pages=1), level="B-B",
            visible_stamp={"page": 3},
        )  # fmt: skip
    assert excinfo.value.code == "no_such_page"


def test_a_second_signature_keeps_the_first_one_valid(test_pki, ministry_key, officer_key):
    once = signing.sign_pdf(actor="test", key=officer_key, pdf=decision_pdf(), level="B-B")
    twice = signing.sign_pdf(actor="test", key=ministry_key, pdf=once, level="B-B")
    reader = PdfFileReader(io.BytesIO(twice))
    assert [s.field_name for s in reader.embedded_signatures] == ["Signature1", "Signature2"]
    for embedded in reader.embedded_signatures:
        status = validate_pdf_signature(embedded, validation_context(test_pki))
        assert status.intact and status.valid and status.trusted


@pytest.mark.parametrize(
    ("content", "code"),
    [(b"%PDF-1.7 not really", "not_pdf"), (b"<html></html>", "not_pdf")],
)
def test_what_is_not_a_pdf_is_refused(ministry_key, content, code):
    with pytest.raises(signing.SigningRefused) as excinfo:
        signing.sign_pdf(actor="test", key=ministry_key, pdf=content, level="B-B")
    assert excinfo.value.code == code


def test_inputs_over_the_limit_are_refused_before_any_work(ministry_key, monkeypatch):
    monkeypatch.setattr(signing, "MAX_PDF_BYTES", 1024)
    monkeypatch.setattr(signing, "MAX_XML_BYTES", 1024)
    monkeypatch.setattr(signing, "MAX_JSON_BYTES", 1024)
    refused = []
    for call in (
        lambda: signing.sign_pdf(actor="t", key=ministry_key, pdf=b"%PDF" + b" " * 2000),
        lambda: signing.sign_xml(actor="t", key=ministry_key, xml=b"<a>" + b" " * 2000 + b"</a>"),
        lambda: signing.sign_jws(actor="t", key=ministry_key, payload={"a": "x" * 2000}),
    ):
        with pytest.raises(signing.SigningRefused) as excinfo:
            call()
        refused.append(excinfo.value.code)
    assert refused == ["too_large"] * 3
    assert signing.MAX_PDF_BYTES == 1024  # the limit is a module constant, 50 MiB by default


def test_a_disabled_key_signs_nothing(ministry_key):
    # Loaded and kept by the JWS signer first: disabling must still stop it at once.
    signing.sign_jws(actor="test", key=ministry_key, payload={"a": 0})
    keystore.set_enabled(actor="test", key=ministry_key, enabled=False, source="test")
    stale = SigningKey.objects.get(pk=ministry_key.pk)
    stale.is_enabled = True  # an instance read before the key was disabled
    with pytest.raises(signing.SigningRefused) as excinfo:
        signing.sign_jws(actor="test", key=stale, payload={"a": 1})
    assert excinfo.value.code == "key_disabled"


def test_a_key_whose_certificate_has_expired_signs_nothing(officer_key):
    later = officer_key.not_after + dt.timedelta(days=1)
    with time_machine.travel(later), pytest.raises(signing.SigningRefused) as excinfo:
        signing.sign_jws(actor="test", key=officer_key, payload={"a": 1})
    assert excinfo.value.code == "key_expired"
    assert "hết hạn ngày" in excinfo.value.message_vi


# --- XML (XAdES) ---------------------------------------------------------------------------

RECORD = """<?xml version="1.0" encoding="UTF-8"?>
<HoSo xmlns="urn:lienthong:test"><MaHoSo>000.00.00.G12-260101-0001</MaHoSo>
<ChuHoSo>Nguyễn Văn An</ChuHoSo></HoSo>""".encode()


def test_an_enveloped_xades_signature_verifies_with_signxml(test_pki, ministry_key, tmp_path):
    signed = signing.sign_xml(actor="test", key=ministry_key, xml=RECORD)

    roots = tmp_path / "roots.pem"
    roots.write_bytes(pem_roots(test_pki))
    (result, *_) = XAdESVerifier().verify(
        signed,
        ca_pem_file=str(roots),
        expect_config=XAdESSignatureConfiguration(),
    )
    assert result.signed_xml.findtext("{urn:lienthong:test}ChuHoSo") == "Nguyễn Văn An"
    tree = etree.fromstring(signed)
    namespaces = {"ds": "http://www.w3.org/2000/09/xmldsig#"}
    certificates = tree.findall(".//ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces)
    assert len(certificates) == 3  # the leaf, the government CA, the government root
    assert tree.find(".//ds:KeyValue", namespaces) is None
    methods = {e.get("Algorithm") for e in tree.iterfind(".//ds:DigestMethod", namespaces)}
    assert methods == {"http://www.w3.org/2001/04/xmlenc#sha256"}
    assert b"SigningCertificateV2" in signed and b"SigningTime" in signed


def test_an_officer_signs_xml_with_ecdsa(test_pki, officer_key, tmp_path):
    signed = signing.sign_xml(actor="test", key=officer_key, xml=RECORD)
    roots = tmp_path / "roots.pem"
    roots.write_bytes(pem_roots(test_pki))
    XAdESVerifier().verify(signed, ca_pem_file=str(roots))
    assert b"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" in signed


@pytest.mark.skipif(not XMLSEC1.exists(), reason="xmlsec1 (Debian package xmlsec1) is absent")
def test_an_outside_verifier_xmlsec1_accepts_the_xml_signature(test_pki, ministry_key, tmp_path):
    signed = tmp_path / "signed.xml"
    signed.write_bytes(signing.sign_xml(actor="test", key=ministry_key, xml=RECORD))

    def pem_file(label: str) -> Path:
        path = tmp_path / f"{label}.pem"
        certificate = x509.load_der_x509_certificate(test_pki.certificate(label).dump())
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return path

    def xmlsec1(*trusted: str) -> subprocess.CompletedProcess:
        # xmlsec1 reads one certificate per --trusted-pem.
        anchors = [arg for label in trusted for arg in ("--trusted-pem", str(pem_file(label)))]
        return subprocess.run(
            [str(XMLSEC1), "--verify", *anchors,
             "--id-attr:Id", "http://uri.etsi.org/01903/v1.3.2#:SignedProperties",
             "--id-attr:Id", "http://www.w3.org/2000/09/xmldsig#:KeyInfo", str(signed)],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip

    accepted = xmlsec1(*ROOTS)
    assert accepted.returncode == 0, accepted.stderr
    assert "OK" in accepted.stdout + accepted.stderr
    assert xmlsec1("public-root").returncode != 0  # and it does check the chain


def test_xml_with_a_doctype_or_that_is_not_xml_is_refused(ministry_key):
    with_doctype = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>'
    refused = []
    for document in (with_doctype, b"not xml at all"):
        with pytest.raises(signing.SigningRefused) as excinfo:
            signing.sign_xml(actor="test", key=ministry_key, xml=document)
        refused.append(excinfo.value.code)
    assert refused == ["xml_doctype", "not_xml"]


# --- JSON (JWS, the exchange envelope) ------------------------------------------------------

ENVELOPE = {
    "id": "01890a5d-ac96-774b-bcce-b302099a8057",
    "type": "dossier.handoff",
    "sender": "VN:GOV:000.00.00.G12:node",
    "recipient": "VN:GOV:000.00.00.H26:node",
    "correlation_id": "000.00.00.G12-260101-0001",
    "created_at": "2026-01-01T08:00:00+07:00",
    "payload": {"chu_ho_so": "Nguyễn Văn An", "so_trang": 3, "phi": 1.5},
}


def test_a_jws_envelope_verifies_with_the_leaf_key_over_the_canonical_json(test_pki, ministry_key):
    token = signing.sign_jws(actor="test", key=ministry_key, payload=ENVELOPE)

    header_b64 = token.split(".")[0]
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    leaf = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    public = RSAKey.import_key(leaf.public_key())
    verified = jws.deserialize_compact(token, public, registry=signing.jws_registry(["RS256"]))

    assert verified.payload == rfc8785.dumps(ENVELOPE)
    assert json.loads(verified.payload) == ENVELOPE
    assert header["alg"] == "RS256"
    assert header["kid"] == ministry_key.fingerprint_sha256
    assert leaf == keystore.certificate(ministry_key)
    assert [
        x509.load_der_x509_certificate(base64.b64decode(c)).subject for c in header["x5c"][1:]
    ] == [c.subject for c in keystore.chain(ministry_key)]
    thumbprint = base64.urlsafe_b64decode(header["x5t#S256"] + "=")
    assert thumbprint.hex() == ministry_key.fingerprint_sha256


def test_an_officer_signs_envelopes_with_es256(officer_key):
    token = signing.sign_jws(actor="test", key=officer_key, payload={"b": 2, "a": [1, "á"]})
    public = ECKey.import_key(keystore.certificate(officer_key).public_key())
    verified = jws.deserialize_compact(token, public, registry=signing.jws_registry(["ES256"]))
    assert verified.headers()["alg"] == "ES256"
    assert verified.payload == '{"a":[1,"á"],"b":2}'.encode()


def test_a_payload_json_cannot_express_is_refused(ministry_key):
    with pytest.raises(signing.SigningRefused) as excinfo:
        signing.sign_jws(actor="test", key=ministry_key, payload={"n": float("nan")})
    assert excinfo.value.code == "not_canonical_json"


# --- What is recorded ----------------------------------------------------------------------


def test_every_signature_is_audited_by_digest_never_by_content(test_pki, ministry_key, caplog):
    caplog.set_level(logging.DEBUG)
    document = decision_pdf()
    signed_pdf = signing.sign_pdf(
        actor="test", key=ministry_key, pdf=document, level="B-T", timestamp_url=test_pki.tsa_url
    )
    signing.sign_xml(actor="test", key=ministry_key, xml=RECORD)
    token = signing.sign_jws(actor="test", key=ministry_key, payload=ENVELOPE)

    records = list(signature_records())
    assert [(r.changes["format"], r.changes["level"]) for r in records] == [
        ("pades", "B-T"),
        ("xades", "B-B"),
        ("jws", "RS256"),
    ]
    pades, xades, envelope = (r.changes for r in records)
    assert pades["input_sha256"] == hashlib.sha256(document).hexdigest()
    assert pades["output_sha256"] == hashlib.sha256(signed_pdf).hexdigest()
    assert pades["timestamp_url"] == test_pki.tsa_url
    assert xades["input_sha256"] == hashlib.sha256(RECORD).hexdigest()
    assert envelope["input_sha256"] == hashlib.sha256(rfc8785.dumps(ENVELOPE)).hexdigest()
    assert envelope["output_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    for record in records:
        assert (record.action, record.actor_label, record.object_id) == (
            "create",
            "test",
            str(ministry_key.pk),
        )
        assert record.changes["key_fingerprint_sha256"] == ministry_key.fingerprint_sha256
    written = json.dumps([r.changes for r in records], ensure_ascii=False)
    passphrase = test_pki.p12_passphrase("agency").decode()
    for secret in ("Nguyễn Văn An", "000.00.00.G12-260101-0001", "PRIVATE", passphrase):
        assert secret not in written
        assert secret not in caplog.text


# --- lienthong sign ------------------------------------------------------------------------


def sign(*args) -> str:
    out = StringIO()
    call_command("sign", *[str(a) for a in args], stdout=out)
    return out.getvalue()


def test_an_operator_signs_files_from_a_terminal(test_pki, ministry_key, tmp_path):
    (tmp_path / "decision.pdf").write_bytes(decision_pdf())
    (tmp_path / "record.xml").write_bytes(RECORD)
    (tmp_path / "envelope.json").write_text(json.dumps(ENVELOPE), encoding="utf-8")

    pdf = sign("pdf", tmp_path / "decision.pdf", tmp_path / "signed.pdf", "--key", ministry_key.pk,
               "--tsa", test_pki.tsa_url, "--stamp", "--reason", "Phê duyệt")  # fmt: skip
    sign("xml", tmp_path / "record.xml", tmp_path / "signed.xml", "--key", ministry_key.pk)
    sign("json", tmp_path / "envelope.json", tmp_path / "envelope.jws", "--key", ministry_key.pk)

    assert f"with {ministry_key.name}" in pdf
    _, embedded = the_signature((tmp_path / "signed.pdf").read_bytes())
    assert embedded.sig_field["/Subtype"] == "/Widget"
    assert validate_pdf_signature(embedded, validation_context(test_pki)).valid
    XAdESVerifier().verify(
        (tmp_path / "signed.xml").read_bytes(), x509_cert=keystore.certificate(ministry_key)
    )
    token = (tmp_path / "envelope.jws").read_text().strip()
    public = RSAKey.import_key(keystore.certificate(ministry_key).public_key())
    verified = jws.deserialize_compact(token, public, registry=signing.jws_registry())
    assert verified.payload == rfc8785.dumps(ENVELOPE)
    assert [r.source for r in signature_records()] == ["cli"] * 3


def test_the_command_never_overwrites_and_refuses_in_one_line(ministry_key, tmp_path):
    (tmp_path / "in.pdf").write_bytes(decision_pdf())
    (tmp_path / "out.pdf").write_bytes(b"precious")
    with pytest.raises(CommandError, match="exists already"):
        sign("pdf", tmp_path / "in.pdf", tmp_path / "out.pdf", "--key", ministry_key.pk)
    with pytest.raises(CommandError) as excinfo:
        sign("pdf", tmp_path / "in.pdf", tmp_path / "new.pdf", "--key", ministry_key.pk)
    assert str(excinfo.value) == (
        f"refused {tmp_path / 'in.pdf'} (timestamp_url_required): "
        "Level B-T needs a time-stamping authority (RFC 3161)."
    )
    assert (tmp_path / "out.pdf").read_bytes() == b"precious"
    assert not (tmp_path / "new.pdf").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.pdf", "out.pdf"]
    with pytest.raises(CommandError, match="no signing key 999"):
        sign("xml", tmp_path / "in.pdf", tmp_path / "x.xml", "--key", 999)
