"""Users' signing keys: made on the node, sealed at rest, certified by a CA.

The node generates an ECDSA P-256 key (ES256) for the user and a PKCS#10
certificate request for it. In production a licensed CA certifies the
request and the operator imports what it issued
(``lienthong signing import-certificate``); for the demo and the tests the
TEST PKI's CA certifies it (``issue_test_certificate``), along the same path.

Sealing reuses the signing-key encryption of lienthong.trust.keystore
(AES-256-GCM under a key derived from the node's ``KEY_ENCRYPTION_KEY``).
Its associated data is the SHA-256 of the credential ID and the public
key, so a sealed key copied onto another credential — another user's — fails
to open instead of signing for them.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from lienthong.identity.models import Account, AccountKind
from lienthong.signing.errors import SigningRefused
from lienthong.trust import keystore

# CSC: ecdsa-with-SHA256, and the key algorithm with SHA-256 named apart.
ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2"
EC_PUBLIC_KEY = "1.2.840.10045.2.1"
SHA256 = "2.16.840.1.101.3.4.2.1"
P256 = "1.2.840.10045.3.1.7"


def new_credential_id() -> str:
    return "lt-" + secrets.token_urlsafe(18)


def _aad(credential_id: str, spki: bytes) -> str:
    return hashlib.sha256(
        b"lienthong signing credential v1\0" + credential_id.encode() + b"\0" + spki
    ).hexdigest()


def spki(public_key) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@sensitive_variables("private_key", "pkcs8")
def generate(credential_id: str) -> tuple[bytes, bytes, ec.EllipticCurvePrivateKey]:
    """A new P-256 key: (public key DER, sealed private key, the key itself, for the CSR)."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    public = spki(private_key.public_key())
    pkcs8 = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    sealed = keystore.encrypt_private_key(pkcs8, fingerprint=_aad(credential_id, public))
    return public, sealed, private_key


@sensitive_variables("pkcs8")
def load_private_key(credential) -> ec.EllipticCurvePrivateKey:
    """Open the sealed key, in memory only, for the signatures about to be made."""
    try:
        pkcs8 = keystore.decrypt_private_key(
            credential.sealed_private_key,
            fingerprint=_aad(credential.credential_id, bytes(credential.public_key)),
        )
    except keystore.KeyRefused as exc:
        raise SigningRefused(
            "key_unavailable", exc.message_vi, exc.message_en, csc_error="server_error", status=500
        ) from exc
    return serialization.load_der_private_key(pkcs8, password=None)


def seal(data: bytes, *, context: str) -> bytes:
    """Seal other data kept for a signature (a pending signature's state) as keys are
    sealed; ``context`` binds it to its row: opened elsewhere, it fails."""
    return keystore.encrypt_private_key(data, fingerprint=_context(context))


def unseal(sealed: bytes, *, context: str) -> bytes:
    """What ``seal`` sealed with this ``context``, or SigningRefused."""
    try:
        return keystore.decrypt_private_key(bytes(sealed), fingerprint=_context(context))
    except keystore.KeyRefused as exc:
        raise SigningRefused(
            "key_unavailable", exc.message_vi, exc.message_en, csc_error="server_error", status=500
        ) from exc


def _context(context: str) -> str:
    return hashlib.sha256(b"lienthong signing sealed v1\0" + context.encode()).hexdigest()


def subject_for(user: Any) -> x509.Name:
    """The name a CA is asked to certify: the account's name and the number the State knows.

    Vietnamese CAs write the identity number into UID as ``CCCD:…`` (a
    person) or ``MST:…`` (a tax code); the CA checks it against the
    applicant's papers before issuing.
    """
    account = Account.objects.filter(user=user).first()
    name = account.display_name if account else user.get_username()
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.COMMON_NAME, name[:64]),
    ]
    if account and account.kind == AccountKind.CITIZEN and account.personal_id:
        attributes.append(x509.NameAttribute(NameOID.USER_ID, f"CCCD:{account.personal_id}"))
    elif account and account.kind == AccountKind.BUSINESS and account.tax_code:
        attributes.append(x509.NameAttribute(NameOID.USER_ID, f"MST:{account.tax_code}"))
    return x509.Name(attributes)


@sensitive_variables("private_key")
def certificate_request(private_key: ec.EllipticCurvePrivateKey, subject: x509.Name) -> bytes:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(private_key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.DER)


def request_pem(credential) -> str:
    csr = x509.load_der_x509_csr(bytes(credential.certificate_request))
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


# --- Certificates ------------------------------------------------------------


def read_certificates(data: bytes) -> list[x509.Certificate]:
    """PEM (one or more) or a single DER certificate; SigningRefused otherwise."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise SigningRefused(
            "not_a_certificate",
            "Không đọc được chứng thư số (PEM hoặc DER).",
            "No certificate (PEM or DER) could be read.",
        ) from exc


def check_certificate(
    credential, certificates: list[x509.Certificate]
) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """The certificate of the credential's key and its issuers, after the checks of
    lienthong.trust.keystore (signing usage, not a CA, in validity)."""
    public = bytes(credential.public_key)
    leaf = next((c for c in certificates if spki(c.public_key()) == public), None)
    if leaf is None:
        raise SigningRefused(
            "certificate_mismatch",
            "Chứng thư số không khớp với khóa của thông tin ký này.",
            "The certificate does not match this credential's key.",
        )
    try:
        keystore.check_signing_usage(leaf)
    except keystore.KeyRefused as exc:
        raise SigningRefused(exc.code, exc.message_vi, exc.message_en) from exc
    if leaf.not_valid_after_utc <= timezone.now():
        day = timezone.localtime(leaf.not_valid_after_utc).strftime("%d/%m/%Y")
        raise SigningRefused(
            "expired",
            f"Chứng thư số đã hết hạn ngày {day}.",
            f"The certificate expired on {day}.",
        )
    others = [c for c in certificates if c is not leaf]
    return leaf, keystore.issuers(leaf, others + _trusted_issuers())


def _trusted_issuers() -> list[x509.Certificate]:
    """Roots and intermediates of the trust list: a CA's answer often carries the leaf alone."""
    from lienthong.trust import selectors

    found = []
    for certificate in [*selectors.anchors(), *selectors.other_certificates()]:
        der = certificate.dump() if hasattr(certificate, "dump") else bytes(certificate)
        try:
            found.append(x509.load_der_x509_certificate(der))
        except ValueError:
            continue
    return found


def chain_b64(chain: list[x509.Certificate]) -> list[str]:
    return [
        base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii") for c in chain
    ]


# --- The TEST PKI as a CA -------------------------------------------------------

# Citizens and businesses get their certificates from a public CA (NEAC's
# hierarchy), officers from the government CA (Ban Cơ yếu's).
TEST_CA_FOR_KIND = {
    AccountKind.CITIZEN: "public-ca-1",
    AccountKind.BUSINESS: "public-ca-2",
    AccountKind.OFFICER: "government-ca",
}


def test_ca_for(user: Any) -> str:
    account = Account.objects.filter(user=user).first()
    return TEST_CA_FOR_KIND.get(account.kind if account else AccountKind.CITIZEN, "public-ca-1")


def issue_with_test_ca(
    *, pki, ca: str, request_der: bytes, days: int = 365
) -> list[x509.Certificate]:
    """Certify a request with a TEST CA of ``pki``: the certificate, then its issuers.

    What a CA does: check the request's self-signature, certify its key under
    the requested name (marked TEST), for document signing only. The
    certificate points at the CA's CRL and certificate repository; not at its
    OCSP responder, which answers only for certificates certomancer itself made.
    """
    csr = x509.load_der_x509_csr(request_der)
    if not csr.is_signature_valid:
        raise SigningRefused(
            "bad_request_signature",
            "Yêu cầu cấp chứng thư số không có chữ ký hợp lệ.",
            "The certificate request's signature is not valid.",
        )
    issuer_cert = x509.load_der_x509_certificate(pki.certificate(ca).dump())
    issuer_key = serialization.load_der_private_key(pki.private_key(ca).dump(), password=None)
    subject = x509.Name(
        [*csr.subject, x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "TEST")]
    )
    now = timezone.now().replace(microsecond=0)
    not_after = min(now + dt.timedelta(days=days), issuer_cert.not_valid_after_utc)
    issuer_ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(csr.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski),
            critical=False,
        )
        .add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(pki.crl_url(ca))],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier(pki.ca_certificate_url(ca)),
                    )
                ]
            ),
            critical=False,
        )
        .sign(issuer_key, hashes.SHA256())
    )
    chain = [x509.load_der_x509_certificate(c.dump()) for c in pki.chain(ca)]
    return [certificate, issuer_cert, *chain]


def verify_ecdsa(public_key_der: bytes, signature: bytes, digest: bytes) -> bool:
    """For tests and checks: does ``signature`` sign the SHA-256 ``digest``?"""
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    public_key = serialization.load_der_public_key(public_key_der)
    try:
        public_key.verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    except (InvalidSignature, UnsupportedAlgorithm, ValueError):
        return False
    return True
