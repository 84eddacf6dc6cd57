"""Validating XML (XAdES) and CMS/CAdES signatures against the same trust list."""

import asyncio

import pytest
from asn1crypto import cms
from lxml import etree
from signxml import SignatureMethod
from signxml.xades import XAdESSigner

from lienthong.trust.tests.documents import signer_for
from lienthong.trust.validation.report import Indication
from lienthong.trust.validation.service import validate_document

pytestmark = pytest.mark.django_db

DOCUMENT = b"<hoSo><maHoSo>000.00.00.G12-261128-0001</maHoSo><chuHoSo>TEST</chuHoSo></hoSo>"


def xades_signed(pki, label: str) -> bytes:
    key = pki.key_path(label).read_bytes()
    chain = [pki.certificate_path(label).read_bytes().decode()]
    algorithm = (
        SignatureMethod.RSA_SHA256
        if pki.certificate(label).public_key.algorithm == "rsa"
        else SignatureMethod.ECDSA_SHA256
    )
    signed = XAdESSigner(signature_algorithm=algorithm).sign(
        etree.fromstring(DOCUMENT), key=key, cert=chain
    )
    return etree.tostring(signed)


def test_an_agency_xades_signature_passes_with_its_hierarchy(trusted_test_pki):
    report = validate_document(data=xades_signed(trusted_test_pki, "agency"), filename="hoso.xml")
    (signature,) = report.signatures
    assert (signature.format, signature.indication) == ("XAdES", Indication.TOTAL_PASSED)
    assert signature.hierarchy == "government"
    assert "000.00.00.G12" in signature.signer.identifiers
    assert signature.claimed_signing_time


def test_an_xml_changed_after_signing_fails_the_hash(trusted_test_pki):
    signed = xades_signed(trusted_test_pki, "citizen").replace(b"TEST</chuHoSo>", b"FAKE</chuHoSo>")
    (signature,) = validate_document(data=signed, filename="hoso.xml").signatures
    assert (signature.indication, signature.sub_indication) == (
        Indication.TOTAL_FAILED,
        "HASH_FAILURE",
    )
    assert signature.modified_after_signing is True


def test_an_xml_signed_under_an_unknown_root_is_indeterminate(db, test_pki):
    (signature,) = validate_document(
        data=xades_signed(test_pki, "citizen"), filename="x.xml"
    ).signatures
    assert signature.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"


def test_xml_with_entities_is_not_expanded(db):
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><x>&b;</x>'
    )
    report = validate_document(data=bomb, filename="bomb.xml")
    assert report.signatures == []
    assert report.indication != Indication.TOTAL_PASSED


def cades(pki, label: str, data: bytes, *, detached: bool) -> bytes:
    signer = signer_for(pki, label)
    signed = asyncio.run(signer.async_sign_general_data(data, "sha256", detached=detached))
    return signed.dump()


def test_a_detached_cades_signature_passes_with_its_data(trusted_test_pki):
    data = b"to khai TEST"
    p7s = cades(trusted_test_pki, "business", data, detached=True)
    report = validate_document(data=p7s, filename="tokhai.p7s", detached=data)
    (signature,) = report.signatures
    assert (signature.format, signature.indication) == ("CAdES", Indication.TOTAL_PASSED)
    assert "MST:0100000001" in signature.signer.identifiers


def test_a_detached_signature_without_its_data_asks_for_it(trusted_test_pki):
    p7s = cades(trusted_test_pki, "business", b"x", detached=True)
    (signature,) = validate_document(data=p7s, filename="x.p7s").signatures
    assert signature.sub_indication == "SIGNED_DATA_NOT_FOUND"
    assert signature.reasons[0].code == "detached_data_required"


def test_a_signature_over_other_data_fails_the_hash(trusted_test_pki):
    p7s = cades(trusted_test_pki, "business", b"original", detached=True)
    (signature,) = validate_document(data=p7s, filename="x.p7s", detached=b"other").signatures
    assert (signature.indication, signature.sub_indication) == (
        Indication.TOTAL_FAILED,
        "HASH_FAILURE",
    )


def test_an_attached_cades_signature_passes(trusted_test_pki):
    p7s = cades(trusted_test_pki, "officer", b"attached TEST", detached=False)
    assert cms.ContentInfo.load(p7s)["content"]["encap_content_info"]["content"].native
    (signature,) = validate_document(data=p7s, filename="x.p7s").signatures
    assert signature.indication == Indication.TOTAL_PASSED, (
        signature.sub_indication,
        signature.reasons,
    )


def test_a_pem_armoured_signature_is_read_too(trusted_test_pki):
    from asn1crypto import pem

    data = b"armoured TEST"
    armoured = pem.armor("PKCS7", cades(trusted_test_pki, "citizen", data, detached=True))
    (signature,) = validate_document(data=armoured, filename="x.p7s", detached=data).signatures
    assert signature.indication == Indication.TOTAL_PASSED
