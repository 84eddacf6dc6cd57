"""Signing keys held by the node: importing them, keeping them encrypted, loading them to sign.

An agency's key arrives as a PKCS#12 file (what Vietnamese CAs hand out) or
as a PEM private key with its certificate chain. It is checked, re-encrypted
with the node's key-encryption key, and stored; the passphrase it came with
is forgotten at once. It is never written to a log, an audit record or an
error message, and neither is any key material.

Encryption at rest
------------------
The private key is stored as its PKCS#8 DER encoding sealed with AES-256-GCM:

    encrypted_private_key = b"LTK1" || kek_id (8) || nonce (12) || ciphertext+tag
    aes_key = HKDF-SHA256(KEY_ENCRYPTION_KEY, info="lienthong trust signing-key v1")
    kek_id  = SHA-256(aes_key)[:8]
    associated data = b"LTK1" || kek_id || SHA-256 fingerprint of the key's certificate

``KEY_ENCRYPTION_KEY`` is the node's secret (``LIENTHONG_KEY_ENCRYPTION_KEY``,
or generated once into the data folder: lienthong.config). AES-GCM rather
than a password-encrypted PKCS#8 (PBES2): the key-encryption key is already
a random 512-bit secret, so a slow password hash would add nothing, while
GCM authenticates what it decrypts, and the certificate fingerprint as
associated data binds each encrypted key to its own row — a key copied onto
another certificate, or altered in the database, fails to decrypt instead
of signing. ``kek_id`` tells "encrypted under another key-encryption key"
(a node restored without its key) apart from tampering, without revealing
the key. The nonce is random per encryption; a key is encrypted once.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from typing import Any

from asn1crypto import pkcs12 as asn1_pkcs12
from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import pkcs12
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from lienthong.audit import services as audit
from lienthong.audit.models import AuditRecord
from lienthong.trust import services
from lienthong.trust.models import SigningKey

# A PKCS#12 file or a PEM bundle is a few KiB; a long chain stays far below this.
MAX_KEY_FILE_BYTES = 256 * 1024

_FORMAT = b"LTK1"
_KEK_INFO = b"lienthong trust signing-key v1"
_NONCE_BYTES = 12
_KEK_ID_BYTES = 8
# RFC 5280 §4.2.1.3: digitalSignature or nonRepudiation (contentCommitment)
# allows a key to sign documents; a CA or key-agreement key must not.
_SIGNING_USAGES = ("digital_signature", "content_commitment")


class KeyRefused(services.CertificateRefused):
    """The key cannot be imported or used; nothing was written.

    Same shape as CertificateRefused (a stable ``code``, messages in
    Vietnamese and English), so every refusal of the trust app reads alike.
    Messages never contain a passphrase or key material.
    """


@dataclass(frozen=True)
class _KeyMaterial:
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    chain: list[x509.Certificate]


# --- Importing ----------------------------------------------------------------


@sensitive_variables("passphrase", "data")
def import_pkcs12(
    *,
    actor: Any,
    data: bytes,
    passphrase: bytes,
    name: str,
    agency=None,
    holder: str = "",
    source: str = "cli",
) -> SigningKey:
    """Import the key and certificates of a PKCS#12 file (.p12, .pfx) under ``name``.

    Refused (KeyRefused, nothing written) when the file is not PKCS#12
    (``not_pkcs12``), the passphrase is wrong (``wrong_passphrase``), it holds
    no key or no certificate for it (``no_key``, ``no_certificate``), or for
    any reason ``import_pem`` gives.
    """
    return _store(
        actor=actor,
        material=_read_pkcs12(data, passphrase),
        name=name,
        agency=agency,
        holder=holder,
        imported_from="pkcs12",
        source=source,
    )


@sensitive_variables("passphrase", "data")
def check_pkcs12(*, data: bytes, passphrase: bytes) -> None:
    """Every check ``import_pkcs12`` makes, without writing: None, or KeyRefused."""
    material = _read_pkcs12(data, passphrase)
    fingerprint = material.certificate.fingerprint(hashes.SHA256()).hex()
    existing = SigningKey.objects.filter(fingerprint_sha256=fingerprint).first()
    if existing is not None:
        raise _duplicate(existing)


@sensitive_variables("passphrase", "data", "loaded")
def _read_pkcs12(data: bytes, passphrase: bytes) -> _KeyMaterial:
    _check_size(data)
    if not _looks_like_pkcs12(data):
        raise KeyRefused(
            "not_pkcs12",
            "Tệp không phải là tệp PKCS#12 (.p12, .pfx).",
            "The file is not a PKCS#12 file (.p12, .pfx).",
        )
    try:
        loaded = pkcs12.load_pkcs12(data, passphrase or None)
    except ValueError as exc:
        # cryptography cannot tell a wrong passphrase from a damaged file;
        # the structure was checked above, so the passphrase is what is wrong.
        raise _wrong_passphrase() from exc
    except UnsupportedAlgorithm as exc:
        raise KeyRefused(
            "unsupported_encryption",
            "Tệp PKCS#12 được mã hóa bằng thuật toán không được hỗ trợ.",
            "The PKCS#12 file is encrypted with an algorithm that is not supported.",
        ) from exc
    if loaded.key is None:
        raise KeyRefused(
            "no_key",
            "Tệp PKCS#12 không chứa khóa bí mật.",
            "The PKCS#12 file holds no private key.",
        )
    certificates = [loaded.cert.certificate] if loaded.cert else []
    certificates += [c.certificate for c in loaded.additional_certs]
    return _assemble(loaded.key, certificates)


@sensitive_variables("passphrase", "key_pem", "private_key")
def import_pem(
    *,
    actor: Any,
    key_pem: bytes,
    cert_pem_chain: bytes,
    passphrase: bytes | None,
    name: str,
    agency=None,
    holder: str = "",
    source: str = "cli",
) -> SigningKey:
    """Import a PEM private key (PKCS#8 or traditional, encrypted or not) and its certificates.

    ``cert_pem_chain`` holds the key's certificate and, in any order, its
    issuers. Refused (KeyRefused, nothing written) when the passphrase is
    wrong or missing; the key is weak (RSA under 2048 bits, ECDSA under 256:
    Circular 15/2025/TT-BKHCN) or neither RSA nor ECDSA; no certificate
    matches the key; the certificate does not allow signing, has expired, or
    is already held by the node.
    """
    _check_size(key_pem)
    _check_size(cert_pem_chain)
    private_key = _load_pem_key(key_pem, passphrase)
    try:
        certificates = x509.load_pem_x509_certificates(cert_pem_chain)
    except ValueError as exc:
        raise KeyRefused(
            "no_certificate",
            "Không đọc được chứng thư số nào (PEM) trong tệp chứng thư.",
            "No certificate (PEM) could be read from the certificate file.",
        ) from exc
    material = _assemble(private_key, certificates)
    return _store(
        actor=actor,
        material=material,
        name=name,
        agency=agency,
        holder=holder,
        imported_from="pem",
        source=source,
    )


def _check_size(data: bytes) -> None:
    if len(data) > MAX_KEY_FILE_BYTES:
        raise KeyRefused(
            "too_large",
            f"Tệp có {len(data)} byte, quá lớn đối với một khóa và chứng thư (tối đa 256 KiB).",
            f"The file has {len(data)} bytes, too large for a key and its certificates "
            "(at most 256 KiB).",
        )


def _looks_like_pkcs12(data: bytes) -> bool:
    """A DER PFX (RFC 7292): version 3, then the authenticated safe."""
    try:
        pfx = asn1_pkcs12.Pfx.load(data, strict=True)
        return pfx["version"].native == "v3" and pfx["auth_safe"]["content_type"].native == "data"
    except (ValueError, TypeError, KeyError):
        return False


@sensitive_variables("passphrase", "key_pem")
def _load_pem_key(key_pem: bytes, passphrase: bytes | None):
    encrypted = b"ENCRYPTED PRIVATE KEY" in key_pem or b"Proc-Type: 4,ENCRYPTED" in key_pem
    if b"PRIVATE KEY-----" not in key_pem:
        raise _not_a_key()
    if encrypted and not passphrase:
        raise KeyRefused(
            "passphrase_required",
            "Khóa bí mật được mã hóa: hãy nhập mật khẩu bảo vệ của khóa.",
            "The private key is encrypted: give its passphrase.",
        )
    try:
        return serialization.load_pem_private_key(key_pem, passphrase if encrypted else None)
    except ValueError as exc:
        raise (_wrong_passphrase() if encrypted else _not_a_key()) from exc
    except (TypeError, UnsupportedAlgorithm) as exc:
        raise _not_a_key() from exc


def _wrong_passphrase() -> KeyRefused:
    return KeyRefused(
        "wrong_passphrase",
        "Cụm mật khẩu không đúng: không giải mã được khóa bí mật.",
        "Wrong passphrase: the private key cannot be decrypted.",
    )


def _not_a_key() -> KeyRefused:
    return KeyRefused(
        "not_a_key",
        "Tệp không chứa khóa bí mật dạng PEM đọc được.",
        "The file holds no readable PEM private key.",
    )


@sensitive_variables("private_key")
def _assemble(private_key, certificates: list[x509.Certificate]) -> _KeyMaterial:
    """The key, its certificate and the issuers above it, after every check on them.

    The order decides which reason the operator hears first: the key itself
    (Circular 15/2025), then which certificate is its, then what that
    certificate allows, then time, then whether the node holds it already.
    """
    if not isinstance(private_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        kind = type(private_key).__name__.removeprefix("_").replace("PrivateKey", "")
        raise KeyRefused(
            "unsupported_key",
            f"Không chấp nhận khóa {kind}: chỉ chấp nhận khóa RSA và ECDSA.",
            f"{kind} keys are not accepted: only RSA and ECDSA keys are.",
        )
    _check_strength(private_key)
    if not certificates:
        raise KeyRefused(
            "no_certificate",
            "Không có chứng thư số đi kèm khóa bí mật.",
            "No certificate comes with the private key.",
        )
    public = _spki(private_key.public_key())
    matching = [c for c in certificates if _spki(c.public_key()) == public]
    if not matching:
        raise KeyRefused(
            "certificate_mismatch",
            "Không chứng thư số nào khớp với khóa bí mật.",
            "No certificate matches the private key.",
        )
    # Several certificates for one key (a renewal): the one valid longest.
    leaf = max(matching, key=lambda c: c.not_valid_after_utc)
    try:
        services.describe_key(leaf)
        services.check_signature_algorithm(leaf)
    except services.CertificateRefused as exc:
        raise KeyRefused(exc.code, exc.message_vi, exc.message_en) from exc
    _check_signing_usage(leaf)
    not_after = leaf.not_valid_after_utc
    if not_after < timezone.now():
        day = timezone.localtime(not_after).strftime("%d/%m/%Y")
        raise KeyRefused(
            "expired",
            f"Chứng thư số của khóa đã hết hạn ngày {day}.",
            f"The key's certificate expired on {day}.",
        )
    chain = _issuers(leaf, [c for c in certificates if c not in matching])
    return _KeyMaterial(private_key=private_key, certificate=leaf, chain=chain)


def _check_strength(private_key) -> None:
    # Circular 15/2025/TT-BKHCN: RSA at least 2048 bits, ECDSA at least 256.
    if isinstance(private_key, rsa.RSAPrivateKey) and private_key.key_size < services.MIN_RSA_BITS:
        raise KeyRefused(
            "weak_key",
            f"Khóa RSA {private_key.key_size} bit quá yếu: Thông tư 15/2025/TT-BKHCN yêu cầu "
            f"tối thiểu {services.MIN_RSA_BITS} bit.",
            f"The {private_key.key_size}-bit RSA key is too weak: Circular 15/2025/TT-BKHCN "
            f"requires at least {services.MIN_RSA_BITS} bits.",
        )
    if (
        isinstance(private_key, ec.EllipticCurvePrivateKey)
        and private_key.curve.key_size < services.MIN_EC_BITS
    ):
        curve = private_key.curve
        raise KeyRefused(
            "weak_key",
            f"Khóa ECDSA {curve.key_size} bit ({curve.name}) quá yếu: Thông tư 15/2025/TT-BKHCN "
            f"yêu cầu tối thiểu {services.MIN_EC_BITS} bit.",
            f"The {curve.key_size}-bit ECDSA key ({curve.name}) is too weak: Circular "
            f"15/2025/TT-BKHCN requires at least {services.MIN_EC_BITS} bits.",
        )


def _check_signing_usage(certificate: x509.Certificate) -> None:
    usage = _extension(certificate, x509.KeyUsage)
    constraints = _extension(certificate, x509.BasicConstraints)
    if constraints is not None and constraints.ca:
        # A CA key certifies; a document signed with it would be mistaken
        # for a certificate authority's act.
        raise KeyRefused(
            "not_for_signing",
            "Đây là chứng thư số của tổ chức chứng thực (CA), không dùng để ký văn bản.",
            "This is a certificate authority's certificate, not one for signing documents.",
        )
    if usage is None or not any(getattr(usage, name) for name in _SIGNING_USAGES):
        raise KeyRefused(
            "not_for_signing",
            "Chứng thư số không cho phép ký số (KeyUsage thiếu digitalSignature và "
            "nonRepudiation).",
            "The certificate does not allow signing (KeyUsage has neither digitalSignature "
            "nor nonRepudiation).",
        )


def _extension(certificate: x509.Certificate, kind):
    try:
        return certificate.extensions.get_extension_for_class(kind).value
    except (x509.ExtensionNotFound, ValueError):  # absent, or malformed
        return None


def _issuers(leaf: x509.Certificate, others: list[x509.Certificate]) -> list[x509.Certificate]:
    """The issuers of ``leaf`` among ``others``, nearest first, up to a self-signed root.

    Certificates that are not on the way up (a PKCS#12 may carry anything)
    are dropped; a missing issuer only shortens the chain, since validators
    can fetch it through the certificate's AIA.
    """
    chain: list[x509.Certificate] = []
    current = leaf
    remaining = list(others)
    while current.issuer != current.subject or not _signed_by(current, current):
        issuer = next((c for c in remaining if _signed_by(current, c)), None)
        if issuer is None:
            break
        chain.append(issuer)
        remaining.remove(issuer)
        current = issuer
    return chain


def _signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    if certificate.issuer != issuer.subject:
        return False
    try:
        certificate.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _spki(public_key) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@sensitive_variables("material", "pkcs8")
def _store(
    *,
    actor: Any,
    material: _KeyMaterial,
    name: str,
    agency,
    holder: str,
    imported_from: str,
    source: str,
) -> SigningKey:
    certificate = material.certificate
    fingerprint = certificate.fingerprint(hashes.SHA256()).hex()
    pkcs8 = material.private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    key = SigningKey(
        name=_clip(name.strip() or (str(names[0].value) if names else fingerprint), 200),
        agency=agency,
        holder=_clip(holder.strip(), 200),
        certificate=certificate.public_bytes(serialization.Encoding.DER),
        chain=[
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii")
            for c in material.chain
        ],
        encrypted_private_key=encrypt_private_key(pkcs8, fingerprint=fingerprint),
        key_description=services.describe_key(certificate),
        fingerprint_sha256=fingerprint,
        subject=_clip(certificate.subject.rfc4514_string(), 500),
        issuer=_clip(certificate.issuer.rfc4514_string(), 500),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
    )
    with transaction.atomic():
        existing = SigningKey.objects.filter(fingerprint_sha256=fingerprint).first()
        if existing is not None:
            raise _duplicate(existing)
        try:
            # A savepoint, so that losing a race with a concurrent import is a
            # refusal like any other rather than a broken transaction.
            with transaction.atomic():
                key.save()
        except IntegrityError as exc:
            raise _duplicate(key) from exc
        audit.record(
            actor=actor,
            action=AuditRecord.Action.IMPORT,
            obj=key,
            changes={**described(key), "imported_from": imported_from},
            source=source,
        )
    return key


def _duplicate(key: SigningKey) -> KeyRefused:
    return KeyRefused(
        "duplicate",
        f"Nút đã giữ khóa của chứng thư số này ({key.name}).",
        f"The node already holds the key of this certificate ({key.name}).",
    )


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def described(key: SigningKey) -> dict[str, Any]:
    """What an audit reader needs to recognise a key: its certificate's facts, never the key."""
    return {
        "name": key.name,
        "agency": key.agency.identifier if key.agency_id else None,
        "holder": key.holder,
        "fingerprint_sha256": key.fingerprint_sha256,
        "subject": key.subject,
        "issuer": key.issuer,
        "not_before": key.not_before.isoformat(),
        "not_after": key.not_after.isoformat(),
        "key_description": key.key_description,
        "chain_sha256": [hashlib.sha256(base64.b64decode(c)).hexdigest() for c in key.chain],
        "is_enabled": key.is_enabled,
    }


# --- Enabling and disabling ---------------------------------------------------


def set_enabled(*, actor: Any, key: SigningKey, enabled: bool, source: str) -> SigningKey:
    """Enable or disable a key (audited; see services.switch_enabled)."""
    return services.switch_enabled(actor=actor, obj=key, enabled=enabled, source=source)


def signing_keys(*, enabled: bool | None = None) -> QuerySet[SigningKey]:
    """The keys as an operator lists them: by name."""
    queryset = SigningKey.objects.select_related("agency")
    if enabled is not None:
        queryset = queryset.filter(is_enabled=enabled)
    return queryset.order_by("name", "pk")


# --- Encryption at rest -------------------------------------------------------


def _aes_key(key_encryption_key: str | None = None) -> bytes:
    secret = key_encryption_key if key_encryption_key is not None else settings.KEY_ENCRYPTION_KEY
    if not secret:
        raise KeyRefused(
            "no_key_encryption_key",
            "Nút chưa có khóa mã hóa khóa (LIENTHONG_KEY_ENCRYPTION_KEY).",
            "The node has no key-encryption key (LIENTHONG_KEY_ENCRYPTION_KEY).",
        )
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEK_INFO).derive(
        secret.encode("utf-8")
    )


def _kek_id(aes_key: bytes) -> bytes:
    return hashlib.sha256(aes_key).digest()[:_KEK_ID_BYTES]


@sensitive_variables("pkcs8", "aes_key")
def encrypt_private_key(
    pkcs8: bytes, *, fingerprint: str, key_encryption_key: str | None = None
) -> bytes:
    """Seal a PKCS#8 DER private key for the row of the certificate ``fingerprint``."""
    aes_key = _aes_key(key_encryption_key)
    header = _FORMAT + _kek_id(aes_key)
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(aes_key).encrypt(nonce, pkcs8, header + bytes.fromhex(fingerprint))
    return header + nonce + sealed


@sensitive_variables("aes_key")
def decrypt_private_key(
    encrypted: bytes, *, fingerprint: str, key_encryption_key: str | None = None
) -> bytes:
    """The PKCS#8 DER private key, or KeyRefused when it cannot be decrypted here."""
    encrypted = bytes(encrypted)
    aes_key = _aes_key(key_encryption_key)
    header_length = len(_FORMAT) + _KEK_ID_BYTES
    header = encrypted[:header_length]
    if not header.startswith(_FORMAT):
        raise _undecryptable()
    if header[len(_FORMAT) :] != _kek_id(aes_key):
        raise KeyRefused(
            "other_key_encryption_key",
            "Khóa bí mật được mã hóa bằng một khóa mã hóa khóa khác của nút; hãy cấu hình lại "
            "LIENTHONG_KEY_ENCRYPTION_KEY đã dùng khi nhập khóa.",
            "The private key was encrypted under another key-encryption key; configure the "
            "LIENTHONG_KEY_ENCRYPTION_KEY the key was imported with.",
        )
    nonce = encrypted[header_length : header_length + _NONCE_BYTES]
    try:
        return AESGCM(aes_key).decrypt(
            nonce, encrypted[header_length + _NONCE_BYTES :], header + bytes.fromhex(fingerprint)
        )
    except InvalidTag as exc:
        raise _undecryptable() from exc


def _undecryptable() -> KeyRefused:
    return KeyRefused(
        "key_damaged",
        "Khóa bí mật đã lưu không giải mã được: dữ liệu bị thay đổi hoặc không thuộc chứng thư "
        "số này.",
        "The stored private key cannot be decrypted: it was altered or belongs to another "
        "certificate.",
    )


# --- Loading, to sign -----------------------------------------------------------


@sensitive_variables("pkcs8")
def load_private_key(signing_key: SigningKey) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    """Decrypt the key, in memory only, for the signature about to be made.

    Nothing is cached here; the JWS signer (signing.py) keeps the loaded key of
    the exchange's signatures for a minute.
    The RSA consistency check (tens of milliseconds for a 3072- or 4096-bit key)
    ran when the key was imported; AES-GCM proves these are the same bytes, so
    it is not repeated for every signature.
    """
    pkcs8 = decrypt_private_key(
        signing_key.encrypted_private_key, fingerprint=signing_key.fingerprint_sha256
    )
    return serialization.load_der_private_key(
        pkcs8, password=None, unsafe_skip_rsa_key_validation=True
    )


def certificate(signing_key: SigningKey) -> x509.Certificate:
    return x509.load_der_x509_certificate(bytes(signing_key.certificate))


def chain(signing_key: SigningKey) -> list[x509.Certificate]:
    """The issuers of the key's certificate, nearest first (the leaf not included)."""
    return [x509.load_der_x509_certificate(base64.b64decode(c)) for c in signing_key.chain]


def check_signing_usage(certificate: x509.Certificate) -> None:
    """KeyRefused unless ``certificate`` is one for signing documents (not a CA's)."""
    _check_signing_usage(certificate)


def issuers(leaf: x509.Certificate, others: list[x509.Certificate]) -> list[x509.Certificate]:
    """The issuers of ``leaf`` among ``others``, nearest first, up to a self-signed root."""
    return _issuers(leaf, others)
