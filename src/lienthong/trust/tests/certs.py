"""Certificates made on the spot for the trust-list tests, all named TEST.

Keys are cached per kind (key generation is the slow part); certificates are
cheap and made fresh, so each test gets its own fingerprints.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from dataclasses import dataclass

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID

_serials = itertools.count(1000)


@functools.cache
def private_key(kind: str = "p256"):
    """``rsa2048``, ``rsa1024``, ``rsa3072``, ``p256``, ``p384``, ``p192``, ``dsa2048`` or ``ed25519``."""
    match kind:
        case "rsa1024" | "rsa2048" | "rsa3072":
            return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
        case "p256":
            return ec.generate_private_key(ec.SECP256R1())
        case "p384":
            return ec.generate_private_key(ec.SECP384R1())
        case "p192":
            return ec.generate_private_key(ec.SECP192R1())
        case "dsa2048":
            return dsa.generate_private_key(2048)
        case "ed25519":
            return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(kind)


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    key: object

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def asn1(self) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(self.der)

    @property
    def fingerprint(self) -> str:
        return self.certificate.fingerprint(hashes.SHA256()).hex()


def name(common_name: str, user_id: str | None = None) -> x509.Name:
    """``user_id`` carries an agency's electronic identifier (UID), as agency certificates do."""
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Liên Thông TEST"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ]
    if user_id:
        attributes.append(x509.NameAttribute(NameOID.USER_ID, user_id))
    return x509.Name(attributes)


def issue(
    common_name: str,
    *,
    key: str = "p256",
    issuer: Issued | None = None,
    ca: bool = True,
    key_cert_sign: bool | None = None,
    valid_from: dt.datetime | None = None,
    days: int = 3650,
    subject_key: object | None = None,
    user_id: str | None = None,
) -> Issued:
    """A certificate for ``common_name``, self-signed unless ``issuer`` is given.

    ``subject_key`` certifies an existing key (a cross-certificate certifies
    another root's key under that root's name).
    """
    subject_private = subject_key or private_key(key)
    signer = issuer.key if issuer else subject_private
    now = dt.datetime.now(dt.UTC)
    start = valid_from or now - dt.timedelta(days=1)
    key_cert_sign = ca if key_cert_sign is None else key_cert_sign
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(common_name, user_id))
        .issuer_name(issuer.certificate.subject if issuer else name(common_name))
        .public_key(subject_private.public_key())
        .serial_number(next(_serials))
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=not ca,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=key_cert_sign,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(subject_private.public_key()),
            critical=False,
        )
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return Issued(builder.sign(signer, algorithm), subject_private)


def resigned(issued: Issued, digest: str) -> bytes:
    """The same self-signed RSA certificate signed again with ``sha1`` or ``md5``.

    cryptography refuses to sign with these any more, so the signature is
    made by hand over a TBS that names the old algorithm.
    """
    algorithm = {
        "sha1": ("sha1_rsa", hashes.SHA1()),  # noqa: S303 (the weakness under test)
        "md5": ("md5_rsa", hashes.MD5()),  # noqa: S303
    }[digest]
    parsed = asn1_x509.Certificate.load(issued.der)
    tbs = parsed["tbs_certificate"].copy()
    tbs["signature"] = asn1_x509.SignedDigestAlgorithm({"algorithm": algorithm[0]})
    tbs_der = tbs.dump(force=True)
    signature = issued.key.sign(tbs_der, padding.PKCS1v15(), algorithm[1])
    return asn1_x509.Certificate(
        {
            "tbs_certificate": asn1_x509.TbsCertificate.load(tbs_der),
            "signature_algorithm": {"algorithm": algorithm[0]},
            "signature_value": signature,
        }
    ).dump()


def tampered(issued: Issued) -> bytes:
    """The certificate with one bit of its signature flipped."""
    der = bytearray(issued.der)
    der[-1] ^= 0x01
    return bytes(der)
