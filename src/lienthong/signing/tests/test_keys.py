"""Users' keys: made on the node, sealed at rest, certified along the CSR path."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.db import connection

from lienthong.signing import keys
from lienthong.signing import services as signing
from lienthong.signing.errors import SigningRefused
from lienthong.signing.models import CredentialStatus, SigningCredential


def raw_column(credential, column: str) -> bytes:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column} FROM signing_signingcredential WHERE id = %s",  # noqa: S608
            [credential.pk],
        )
        return bytes(cursor.fetchone()[0])


def test_the_private_key_is_sealed_in_the_database(mai):
    credential = signing.create_credential(actor="test", user=mai, source="test")
    stored = raw_column(credential, "sealed_private_key")
    private_key = keys.load_private_key(credential)

    scalar = private_key.private_numbers().private_value.to_bytes(32, "big")
    pkcs8 = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert scalar not in stored
    assert pkcs8 not in stored
    assert stored.startswith(b"LTK1")
    assert keys.spki(private_key.public_key()) == bytes(credential.public_key)


def test_a_sealed_key_copied_to_another_credential_does_not_open(mai, binh):
    mine = signing.create_credential(actor="test", user=mai, source="test")
    theirs = signing.create_credential(actor="test", user=binh, source="test")
    SigningCredential.objects.filter(pk=theirs.pk).update(
        sealed_private_key=mine.sealed_private_key
    )
    theirs.refresh_from_db()
    with pytest.raises(SigningRefused) as refused:
        keys.load_private_key(theirs)
    assert refused.value.code == "key_unavailable"


def test_the_request_names_the_citizen_by_personal_id(mai):
    credential = signing.create_credential(actor="test", user=mai, source="test")
    request = x509.load_pem_x509_csr(keys.request_pem(credential).encode())
    assert request.is_signature_valid
    assert request.subject.rfc4514_string() == "UID=CCCD:001190012345,CN=Nguyễn Thị Mai,C=VN"
    assert credential.status == CredentialStatus.AWAITING_CERTIFICATE
    assert not credential.is_usable()


def test_an_officer_is_certified_by_the_government_ca(db, trusted_test_pki):
    from lienthong.identity import services

    hung = services.create_account(
        actor="test",
        kind="officer",
        display_name="Trần Văn Hùng",
        username="hung.officer",
        password=None,
        source="test",
    ).user
    credential = signing.create_credential(actor="test", user=hung, source="test")
    credential = signing.issue_test_certificate(
        actor="test", credential=credential, pki=trusted_test_pki, source="test"
    )
    assert credential.issuer.startswith("CN=TEST Government CA")
    assert credential.is_usable()
    assert len(credential.chain) == 2  # the CA, its root


def test_a_certificate_for_another_key_is_refused(mai, mai_key, trusted_test_pki):
    pending = signing.create_credential(actor="test", user=mai, source="test")
    pem = x509.load_der_x509_certificate(bytes(mai_key.certificate)).public_bytes(
        serialization.Encoding.PEM
    )
    with pytest.raises(SigningRefused) as refused:
        signing.import_certificate(actor="test", credential=pending, data=pem, source="test")
    assert refused.value.code == "certificate_mismatch"
    pending.refresh_from_db()
    assert pending.certificate is None


def test_garbage_is_not_a_certificate(mai):
    pending = signing.create_credential(actor="test", user=mai, source="test")
    with pytest.raises(SigningRefused) as refused:
        signing.import_certificate(actor="test", credential=pending, data=b"nope", source="test")
    assert refused.value.code == "not_a_certificate"
