"""Signed documents in every format, for the validation matrix and the property tests.

Two ways to sign. A TEST PKI persona (``citizen``, ``agency``, …) signs with
the platform's own signer, ``lienthong.trust.signing``, through a key imported
from its PKCS#12 file — what a node really produces. A key the keystore would
refuse (expired, RSA 1024, a SHA-1 digest) signs with pyHanko, signxml and
joserfc directly, writing what ``signing`` writes in every other respect.

The platform's signer writes audit records and needs a ``SigningKey`` row, so
session- and module-scoped fixtures sign inside ``rolled_back``: the bytes
stay, the rows go.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import io
import time
from dataclasses import dataclass, field

import rfc8785
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.db import transaction
from joserfc import jws
from joserfc.jwk import ECKey, RSAKey
from lxml import etree
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore
from signxml import SignatureMethod
from signxml.xades import XAdESSigner

from lienthong.trust import keystore, signing
from lienthong.trust.tests import certs, documents

FORMATS = ("PAdES", "XAdES", "CAdES", "JWS")
XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<HoSo xmlns="urn:lienthong:test"><MaHoSo>000.00.00.G12-261128-0001</MaHoSo>'
    "<ChuHoSo>TEST Nguyễn Văn An</ChuHoSo><SoTien>150000</SoTien></HoSo>"
).encode()
CADES_DATA = "Tờ khai TEST: 150000 đồng".encode()
PAYLOAD = {
    "id": "01890a5d-ac96-774b-bcce-b302099a8057",
    "type": "dossier.handoff",
    "sender": "VN:GOV:000.00.00.G12:node",
    "payload": {"chu_ho_so": "TEST Nguyễn Văn An", "so_tien": 150000},
}


@contextlib.contextmanager
def rolled_back(django_db_blocker):
    """Database access for a wider-scoped fixture, undone at the end."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield
        transaction.set_rollback(True)


@dataclass(frozen=True)
class Signed:
    """What validate_document is given: the file, its name, the detached data if any."""

    data: bytes
    filename: str
    detached: bytes | None = None

    def kwargs(self) -> dict:
        return {"data": self.data, "filename": self.filename, "detached": self.detached}


@dataclass(frozen=True)
class Signer:
    """A private key, its certificate and the issuers above it (nearest first)."""

    certificate: x509.Certificate
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...] = field(default=())

    @classmethod
    def from_pki(cls, pki, label: str) -> Signer:
        return cls(
            certificate=_pyca(pki.certificate(label)),
            key=serialization.load_pem_private_key(pki.key_path(label).read_bytes(), None),
            chain=tuple(_pyca(c) for c in pki.chain(label)),
        )

    @classmethod
    def from_issued(cls, issued: certs.Issued, *issuers: x509.Certificate) -> Signer:
        return cls(certificate=issued.certificate, key=issued.key, chain=issuers)

    def as_issuer(self) -> certs.Issued:
        """For ``certs.issue(..., issuer=...)``: a certificate of our own under this CA."""
        return certs.Issued(self.certificate, self.key)

    @property
    def everything(self) -> list[x509.Certificate]:
        return [self.certificate, *self.chain]


def _pyca(certificate: asn1_x509.Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(certificate.dump())


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def _pyhanko_signer(signer: Signer) -> signers.SimpleSigner:
    key = asn1_keys.PrivateKeyInfo.load(
        signer.key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return signers.SimpleSigner(
        signing_cert=_asn1(signer.certificate),
        signing_key=key,
        cert_registry=SimpleCertificateStore.from_certs([_asn1(c) for c in signer.chain]),
    )


# --- With any key: pyHanko, signxml, joserfc ------------------------------------------


def pades(signer: Signer, *, digest: str = "sha256", tsa_url: str | None = None) -> Signed:
    writer = IncrementalPdfFileWriter(io.BytesIO(documents.plain_pdf()))
    metadata = signers.PdfSignatureMetadata(
        field_name="Signature1", md_algorithm=digest, subfilter=fields.SigSeedSubFilter.PADES
    )
    out = signers.sign_pdf(
        writer,
        metadata,
        signer=_pyhanko_signer(signer),
        timestamper=HTTPTimeStamper(tsa_url) if tsa_url else None,
    )
    return Signed(out.getvalue(), "van-ban.pdf")


def cades(
    signer: Signer,
    data: bytes = CADES_DATA,
    *,
    digest: str = "sha256",
    tsa_url: str | None = None,
    detached: bool = True,
) -> Signed:
    signed = asyncio.run(
        _pyhanko_signer(signer).async_sign_general_data(
            data,
            digest,
            detached=detached,
            use_cades=True,
            timestamper=HTTPTimeStamper(tsa_url) if tsa_url else None,
        )
    )
    return Signed(signed.dump(), "to-khai.p7s", data if detached else None)


class _AnyDigestXAdESSigner(XAdESSigner):
    """signxml refuses to write SHA-1; the weak-algorithm case needs exactly that."""

    def check_deprecated_methods(self):
        return None


def xades(signer: Signer, xml: bytes = XML, *, digest: str = "sha256") -> Signed:
    is_rsa = isinstance(signer.key, rsa.RSAPrivateKey)
    method = {
        ("sha256", True): SignatureMethod.RSA_SHA256,
        ("sha256", False): SignatureMethod.ECDSA_SHA256,
        ("sha1", True): SignatureMethod.RSA_SHA1,
        ("sha1", False): SignatureMethod.ECDSA_SHA1,
    }[digest, is_rsa]
    signed = _AnyDigestXAdESSigner(signature_algorithm=method, digest_algorithm=digest).sign(
        etree.fromstring(xml),
        key=signer.key,
        cert=[c.public_bytes(serialization.Encoding.PEM).decode() for c in signer.everything],
        always_add_key_value=False,
    )
    return Signed(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"), "ho-so.xml")


def jws_token(signer: Signer, payload: dict = PAYLOAD) -> Signed:
    """A compact JWS with the header ``signing.sign_jws`` writes, for keys it would refuse."""
    certificate = signer.certificate
    alg = signing.jws_algorithm(certificate)
    fingerprint = certificate.fingerprint(hashes.SHA256())
    header = {
        "alg": alg,
        "kid": fingerprint.hex(),
        "x5c": [
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii")
            for c in signer.everything
        ],
        "x5t#S256": base64.urlsafe_b64encode(fingerprint).rstrip(b"=").decode("ascii"),
    }
    jwk = (RSAKey if alg == "RS256" else ECKey).import_key(signer.key)
    token = jws.serialize_compact(
        header, rfc8785.dumps(payload), jwk, registry=signing.jws_registry([alg])
    )
    return Signed(token.encode("ascii"), "phong-bi.jws")


def sign_any(fmt: str, signer: Signer, *, digest: str = "sha256") -> Signed:
    """``fmt`` over the standard content, by a key the keystore need not accept."""
    if fmt == "PAdES":
        return pades(signer, digest=digest)
    if fmt == "CAdES":
        return cades(signer, digest=digest)
    if fmt == "XAdES":
        return xades(signer, digest=digest)
    if fmt == "JWS":
        if digest != "sha256":
            raise ValueError("JWS (RFC 7518) has no SHA-1 algorithm")
        return jws_token(signer)
    raise ValueError(fmt)


# --- With the platform's own signer ---------------------------------------------------


def import_key(pki, label: str):
    return keystore.import_pkcs12(
        actor="test",
        data=pki.p12_path(label).read_bytes(),
        passphrase=pki.p12_passphrase(label),
        name=f"TEST {label} {pki.base_url}",
        source="test",
    )


def sign_as(fmt: str, pki, label: str, *, timestamp: bool = True) -> Signed:
    """``fmt`` signed by persona ``label`` of ``pki`` as a node signs (needs the database).

    PAdES is B-T (B-B without ``timestamp``), CAdES detached with a signature
    timestamp likewise (pyHanko: the platform has no CAdES signer of its own),
    XAdES B-B and JWS as the platform writes them (they carry no timestamp).
    """
    if fmt == "CAdES":
        return cades(Signer.from_pki(pki, label), tsa_url=pki.tsa_url if timestamp else None)
    key = import_key(pki, label)
    try:
        if fmt == "PAdES":
            level = "B-T" if timestamp else "B-B"
            data = signing.sign_pdf(
                actor="test",
                key=key,
                pdf=documents.plain_pdf(),
                level=level,
                timestamp_url=pki.tsa_url if timestamp else None,
            )
            return Signed(data, "van-ban.pdf")
        if fmt == "XAdES":
            return Signed(signing.sign_xml(actor="test", key=key, xml=XML), "ho-so.xml")
        if fmt == "JWS":
            token = signing.sign_jws(actor="test", key=key, payload=PAYLOAD)
            return Signed(token.encode("ascii"), "phong-bi.jws")
    finally:
        key.delete()
    raise ValueError(fmt)


def tampered(fmt: str, signed: Signed) -> Signed:
    """The same signature over content changed after signing."""
    if fmt == "PAdES":
        assert signed.data.count(b"TEST document") == 1
        return Signed(signed.data.replace(b"TEST document", b"FAKE document"), signed.filename)
    if fmt == "XAdES":
        return Signed(signed.data.replace(b"150000", b"950000"), signed.filename)
    if fmt == "CAdES":
        return Signed(signed.data, signed.filename, signed.detached.replace(b"150000", b"950000"))
    if fmt == "JWS":
        header, payload, signature = signed.data.split(b".")
        forged = rfc8785.dumps({**PAYLOAD, "payload": {**PAYLOAD["payload"], "so_tien": 950000}})
        forged_b64 = base64.urlsafe_b64encode(forged).rstrip(b"=")
        assert forged_b64 != payload
        return Signed(b".".join([header, forged_b64, signature]), signed.filename)
    raise ValueError(fmt)


def wait_for_next_second() -> None:
    """Revocation times are whole seconds: make sure one starts after what was just signed."""
    now = dt.datetime.now(dt.UTC)
    time.sleep(1.05 - now.microsecond / 1_000_000)


def with_revocation_pointers(common_name: str, issuer: Signer, base_url: str) -> Signer:
    """A signer under ``issuer`` whose OCSP responder and CRL are at ``base_url``."""
    key = certs.private_key("p256")
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(certs.name(common_name))
        .issuer_name(issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
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
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(f"{base_url}/crl")],
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
                        x509.AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier(f"{base_url}/ocsp"),
                    )
                ]
            ),
            critical=False,
        )
        .sign(issuer.key, hashes.SHA256())
    )
    return Signer(certificate=certificate, key=key, chain=tuple(issuer.everything))
