"""Other tools' signatures verify here, and ours verify in other tools.

OpenSSL (``openssl cms``) and xmlsec1 — Debian's ``openssl`` and ``xmlsec1``
packages — sign with TEST PKI keys, and the node's validator must say
TOTAL-PASSED; the reverse: what the platform signs (XAdES through
``signing.sign_xml``, the CMS inside a PAdES signature from
``signing.sign_pdf``, and CAdES) passes ``xmlsec1 --verify`` and
``openssl cms -verify`` against the TEST roots.

Without the tools the tests are skipped, except in CI (``CI`` set), where a
skipped interoperability check would pass silently, so they fail. scripts/test
installs both.
"""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives import serialization
from lxml import etree
from pyhanko.pdf_utils.reader import PdfFileReader

from lienthong.trust import signing
from lienthong.trust.tests import documents
from lienthong.trust.tests.signatures import (
    XML,
    Signer,
    cades,
    import_key,
    rolled_back,
)
from lienthong.trust.validation.engine import Policy
from lienthong.trust.validation.report import Indication
from lienthong.trust.validation.service import validate_document

pytestmark = pytest.mark.django_db

OPENSSL = Path("/usr/bin/openssl")
XMLSEC1 = Path("/usr/bin/xmlsec1")
DS = "http://www.w3.org/2000/09/xmldsig#"
DATA = "Quyết định TEST số 01/2026: phê duyệt hồ sơ 000.00.00.G12-261128-0001".encode()
# One persona per hierarchy and key type: a business (ECDSA P-256, public CA 2)
# and a ministry (RSA 2048, government CA).
PERSONAS = [
    pytest.param("business", "public", id="business-ecdsa-public"),
    pytest.param("agency", "government", id="agency-rsa-government"),
]
ROOT = {"public": "public-root", "government": "government-root"}
OTHER_ROOT = {"public": "government-root", "government": "public-root"}


def _require(path: Path, package: str) -> None:
    """Skip when a Debian tool is missing, but fail in CI, where a skip would let
    an interoperability regression through unnoticed (as lienthong.testing.browser does)."""
    if path.exists():
        return
    message = f"{path} is missing: install Debian's {package} package"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (required in CI)", pytrace=False)
    pytest.skip(message)


def run(*command: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        timeout=60,
        check=False,
    )


def pem_file(directory: Path, name: str, *certificates) -> Path:
    """``certificates`` (asn1crypto or cryptography) in one PEM file."""
    path = directory / f"{name}.pem"
    blocks = []
    for certificate in certificates:
        if hasattr(certificate, "public_bytes"):
            blocks.append(certificate.public_bytes(serialization.Encoding.PEM))
        else:
            from asn1crypto import pem

            blocks.append(pem.armor("CERTIFICATE", certificate.dump()))
    path.write_bytes(b"".join(blocks))
    return path


def only(report):
    (signature,) = report.signatures
    return signature


@pytest.fixture
def trusted(db, test_pki):
    from lienthong.trust import testpki

    testpki.add_to_trust_list(test_pki, actor="test")
    return test_pki


# --- openssl cms -sign → our validator ------------------------------------------------


def openssl_signed(pki, label: str, tmp_path: Path, *, attached: bool) -> bytes:
    _require(OPENSSL, "openssl")
    (tmp_path / "data.bin").write_bytes(DATA)
    signer = Signer.from_pki(pki, label)
    issuers = pem_file(tmp_path, "chain", *signer.chain[:-1])  # the CA, not the root
    command = [
        OPENSSL, "cms", "-sign", "-binary", "-md", "sha256",
        "-in", tmp_path / "data.bin",
        "-signer", pem_file(tmp_path, "signer", signer.certificate),
        "-inkey", pki.key_path(label),
        "-certfile", issuers,
        "-outform", "DER", "-out", tmp_path / "sig.p7s",
    ]  # fmt: skip
    if attached:
        command.append("-nodetach")
    done = run(*command)
    assert done.returncode == 0, done.stderr.decode()
    return (tmp_path / "sig.p7s").read_bytes()


@pytest.mark.parametrize(("label", "hierarchy"), PERSONAS)
def test_a_detached_openssl_cms_signature_passes(trusted, tmp_path, label, hierarchy):
    p7s = openssl_signed(trusted, label, tmp_path, attached=False)
    assert cms.ContentInfo.load(p7s)["content"]["encap_content_info"]["content"].native is None

    signature = only(validate_document(data=p7s, filename="sig.p7s", detached=DATA))

    assert (signature.format, signature.indication, signature.sub_indication) == (
        "CAdES",
        Indication.TOTAL_PASSED,
        None,
    ), signature.reasons
    assert signature.hierarchy == hierarchy
    assert signature.signer.fingerprint_sha256 == trusted.certificate(label).sha256.hex()
    assert signature.digest_algorithm == "sha256"
    # And over other data it does not.
    other = only(validate_document(data=p7s, filename="sig.p7s", detached=DATA + b"!"))
    assert (other.indication, other.sub_indication) == (Indication.TOTAL_FAILED, "HASH_FAILURE")


@pytest.mark.parametrize(("label", "hierarchy"), PERSONAS)
def test_an_attached_openssl_cms_signature_passes(trusted, tmp_path, label, hierarchy):
    p7s = openssl_signed(trusted, label, tmp_path, attached=True)
    assert cms.ContentInfo.load(p7s)["content"]["encap_content_info"]["content"].native == DATA

    signature = only(validate_document(data=p7s, filename="sig.p7s"))

    assert (signature.indication, signature.sub_indication) == (Indication.TOTAL_PASSED, None)
    assert signature.hierarchy == hierarchy


def test_an_openssl_signature_under_no_trusted_root_is_not_passed(db, test_pki, tmp_path):
    p7s = openssl_signed(test_pki, "business", tmp_path, attached=False)
    signature = only(validate_document(data=p7s, filename="sig.p7s", detached=DATA))
    assert (signature.indication, signature.sub_indication) == (
        Indication.INDETERMINATE,
        "NO_CERTIFICATE_CHAIN_FOUND",
    )


# --- xmlsec1 --sign → our validator ----------------------------------------------------


def xmlsec1_template(signature_method: str, xml: bytes = XML, uri: str = "") -> bytes:
    """XML-DSig 1.0, enveloped, over the whole document (or the element ``uri`` names),
    with an empty X509Data for xmlsec1 to fill."""
    root = etree.fromstring(xml)

    def ds(parent, tag: str, **attributes):
        return etree.SubElement(parent, f"{{{DS}}}{tag}", attributes, nsmap={"ds": DS})

    signature = ds(root, "Signature")
    signed_info = ds(signature, "SignedInfo")
    ds(signed_info, "CanonicalizationMethod", Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#")
    ds(signed_info, "SignatureMethod", Algorithm=signature_method)
    reference = ds(signed_info, "Reference", URI=uri)
    transforms = ds(reference, "Transforms")
    ds(transforms, "Transform", Algorithm=f"{DS}enveloped-signature")
    ds(transforms, "Transform", Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#")
    ds(reference, "DigestMethod", Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
    ds(reference, "DigestValue")
    ds(signature, "SignatureValue")
    ds(ds(ds(signature, "KeyInfo"), "X509Data"), "X509Certificate")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def xmlsec1_signed(pki, label: str, tmp_path: Path, *, xml: bytes = XML, uri: str = "") -> bytes:
    _require(XMLSEC1, "xmlsec1")
    signer = Signer.from_pki(pki, label)
    method = (
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
        if label == "agency"
        else "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
    )
    (tmp_path / "template.xml").write_bytes(xmlsec1_template(method, xml, uri))
    certificate = pem_file(tmp_path, "signer", signer.certificate)
    done = run(
        XMLSEC1, "--sign",
        "--privkey-pem", f"{pki.key_path(label)},{certificate}",
        "--id-attr:Id", "urn:lienthong:test:DuLieu",
        "--output", tmp_path / "signed.xml",
        tmp_path / "template.xml",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    return (tmp_path / "signed.xml").read_bytes()


@pytest.mark.parametrize(("label", "hierarchy"), PERSONAS)
def test_an_xml_signed_by_xmlsec1_passes_as_xmldsig(trusted, tmp_path, label, hierarchy):
    signed = xmlsec1_signed(trusted, label, tmp_path)
    written = etree.fromstring(signed).findtext(f".//{{{DS}}}X509Certificate")
    assert written and written.strip()  # xmlsec1 filled in the certificate

    signature = only(validate_document(data=signed, filename="ho-so.xml"))

    assert (signature.format, signature.indication, signature.sub_indication) == (
        "XMLDSig",
        Indication.TOTAL_PASSED,
        None,
    ), signature.reasons
    assert signature.hierarchy == hierarchy
    assert signature.coverage == "entire_document"
    assert signature.signer.fingerprint_sha256 == trusted.certificate(label).sha256.hex()
    # A changed amount is a changed document.
    forged = only(validate_document(data=signed.replace(b"150000", b"950000"), filename="x.xml"))
    assert (forged.indication, forged.sub_indication) == (Indication.TOTAL_FAILED, "HASH_FAILURE")


PARTLY_SIGNED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<HoSo xmlns="urn:lienthong:test"><DuLieu Id="du-lieu"><MaHoSo>000.00.00.G12-261128-0001'
    b"</MaHoSo></DuLieu><SoTien>150000</SoTien></HoSo>"
)


def test_an_xml_signature_over_one_element_says_it_covers_part_of_the_document(trusted, tmp_path):
    """Reference URI="#du-lieu": the amount outside it is not signed, and a changed
    amount still verifies — so the report must not claim the whole document."""
    signed = xmlsec1_signed(trusted, "agency", tmp_path, xml=PARTLY_SIGNED, uri="#du-lieu")

    for data in (signed, signed.replace(b"150000", b"950000")):
        signature = only(validate_document(data=data, filename="ho-so.xml"))
        assert (signature.format, signature.indication) == ("XMLDSig", Indication.TOTAL_PASSED)
        assert signature.coverage == "partial"
        assert signature.modified_after_signing is None
    # Inside the signed element, a change is caught.
    forged = only(validate_document(data=signed.replace(b"G12", b"G13"), filename="ho-so.xml"))
    assert (forged.indication, forged.sub_indication) == (Indication.TOTAL_FAILED, "HASH_FAILURE")


# --- Ours → xmlsec1 --verify, openssl cms -verify --------------------------------------


@pytest.fixture(scope="module")
def ours(test_pki, django_db_setup, django_db_blocker) -> dict:
    """What the platform signs, per persona: XAdES, PAdES B-T (and CAdES, via pyHanko)."""
    made = {}
    with rolled_back(django_db_blocker):
        for label in ("business", "agency"):
            key = import_key(test_pki, label)
            made[label, "xml"] = signing.sign_xml(actor="test", key=key, xml=XML)
            made[label, "pdf"] = signing.sign_pdf(
                actor="test",
                key=key,
                pdf=documents.plain_pdf(),
                level="B-T",
                timestamp_url=test_pki.tsa_url,
            )
            made[label, "p7s"] = cades(
                Signer.from_pki(test_pki, label), DATA, tsa_url=test_pki.tsa_url
            ).data
    return made


def anchors(pki, tmp_path: Path, label: str, root: str) -> tuple[Path, Path]:
    """(the root to trust, the issuing CA as an untrusted helper) for ``label``."""
    issuing_ca = pki.chain(label)[0]
    return (
        pem_file(tmp_path, root, pki.certificate(root)),
        pem_file(tmp_path, "issuing-ca", issuing_ca),
    )


def xmlsec1_verify(signed: Path, root: Path, untrusted: Path) -> subprocess.CompletedProcess:
    return run(
        XMLSEC1, "--verify",
        "--trusted-pem", root,
        "--untrusted-pem", untrusted,
        # XAdES references its SignedProperties (and signxml its KeyInfo) by Id.
        "--id-attr:Id", "http://uri.etsi.org/01903/v1.3.2#:SignedProperties",
        "--id-attr:Id", f"{DS}:KeyInfo",
        signed,
    )  # fmt: skip


@pytest.mark.parametrize(("label", "hierarchy"), PERSONAS)
def test_our_xades_verifies_with_xmlsec1(test_pki, ours, tmp_path, label, hierarchy):
    _require(XMLSEC1, "xmlsec1")
    signed = tmp_path / "signed.xml"
    signed.write_bytes(ours[label, "xml"])
    root, issuing_ca = anchors(test_pki, tmp_path, label, ROOT[hierarchy])

    accepted = xmlsec1_verify(signed, root, issuing_ca)

    assert accepted.returncode == 0, accepted.stderr.decode()
    assert b"OK" in accepted.stdout + accepted.stderr
    other_root, _ = anchors(test_pki, tmp_path, label, OTHER_ROOT[hierarchy])
    assert xmlsec1_verify(signed, other_root, issuing_ca).returncode != 0  # it checks the chain


def openssl_verify(p7s: Path, content: Path, root: Path, untrusted: Path):
    return run(
        OPENSSL, "cms", "-verify", "-binary", "-inform", "DER",
        "-in", p7s, "-content", content,
        "-CAfile", root, "-certfile", untrusted,
        "-out", os.devnull,
    )  # fmt: skip


def pades_cms(pdf: bytes) -> tuple[bytes, bytes]:
    """(the CMS SignedData inside the PDF's signature, the bytes it signs: the ByteRange)."""
    (embedded,) = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    start1, length1, start2, length2 = (int(v) for v in embedded.byte_range)
    signed_bytes = pdf[start1 : start1 + length1] + pdf[start2 : start2 + length2]
    info = cms.ContentInfo({"content_type": "signed_data", "content": embedded.signed_data})
    return info.dump(), signed_bytes


@pytest.mark.parametrize("what", ["pdf", "p7s"])
@pytest.mark.parametrize(("label", "hierarchy"), PERSONAS)
def test_our_pades_and_cades_cms_verify_with_openssl(
    test_pki, ours, tmp_path, label, hierarchy, what
):
    _require(OPENSSL, "openssl")
    if what == "pdf":
        signature, content = pades_cms(ours[label, "pdf"])
    else:
        signature, content = ours[label, "p7s"], DATA
    (tmp_path / "sig.p7s").write_bytes(signature)
    (tmp_path / "content").write_bytes(content)
    root, issuing_ca = anchors(test_pki, tmp_path, label, ROOT[hierarchy])

    accepted = openssl_verify(tmp_path / "sig.p7s", tmp_path / "content", root, issuing_ca)

    assert accepted.returncode == 0, accepted.stderr.decode()
    assert b"Verification successful" in accepted.stderr
    other_root, _ = anchors(test_pki, tmp_path, label, OTHER_ROOT[hierarchy])
    refused = openssl_verify(tmp_path / "sig.p7s", tmp_path / "content", other_root, issuing_ca)
    assert refused.returncode != 0  # it checks the chain
    (tmp_path / "content").write_bytes(content + b"!")
    changed = openssl_verify(tmp_path / "sig.p7s", tmp_path / "content", root, issuing_ca)
    assert changed.returncode != 0  # and the content


@pytest.mark.parametrize(("label", "hierarchy"), PERSONAS)
def test_what_openssl_accepts_of_ours_our_validator_accepts_too(trusted, ours, label, hierarchy):
    """The same files, through the node's own validator (hard-fail revocation)."""
    policy = Policy(revocation_mode="hard-fail")
    for data, filename, detached in (
        (ours[label, "pdf"], "van-ban.pdf", None),
        (ours[label, "p7s"], "to-khai.p7s", DATA),
        (ours[label, "xml"], "ho-so.xml", None),
    ):
        signature = only(
            validate_document(data=data, filename=filename, detached=detached, policy=policy)
        )
        assert (signature.indication, signature.hierarchy) == (
            Indication.TOTAL_PASSED,
            hierarchy,
        ), (filename, signature.sub_indication, signature.reasons)
