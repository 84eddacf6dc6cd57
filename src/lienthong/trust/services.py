"""Writes to the trust list: adding certificates, enabling and disabling them.

A certificate enters the list only after every check below passed, and the
checks are the ones the validation software will rely on later: a weak root
accepted here would make every signature under it look valid. Nothing is
ever deleted; a certificate that should no longer be trusted is disabled, so
the list keeps saying what was trusted when.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.db import IntegrityError, transaction
from django.utils import timezone, translation

from lienthong.audit import services as audit
from lienthong.audit.models import AuditRecord
from lienthong.trust import signals
from lienthong.trust.models import CertificateKind, Hierarchy, TrustedCertificate

MAX_CERTIFICATE_BYTES = 64 * 1024  # a CA certificate is 1 to 3 KiB; anything near this is not one

# Circular 15/2025/TT-BKHCN: validation software refuses RSA keys under 2048
# bits and ECDSA keys under 256 bits. Only RSA and ECDSA are recognised there.
MIN_RSA_BITS = 2048
MIN_EC_BITS = 256
# Collisions are practical for these, so a signature over a forged
# certificate could be passed off as the CA's.
WEAK_HASHES = (hashes.MD5, hashes.SHA1)

NIST_CURVES = {
    "secp192r1": "P-192",
    "secp224r1": "P-224",
    "secp256r1": "P-256",
    "secp384r1": "P-384",
    "secp521r1": "P-521",
}


class CertificateRefused(Exception):
    """The certificate cannot enter the trust list; nothing was written.

    ``code`` is stable (API clients and tests branch on it); the messages say
    why in Vietnamese and English, and ``str(exc)`` is the English one.
    """

    def __init__(self, code: str, message_vi: str, message_en: str):
        self.code = code
        self.message_vi = message_vi
        self.message_en = message_en
        super().__init__(message_en)

    def message(self) -> str:
        """The message in the active language (Vietnamese unless English is active)."""
        english = (translation.get_language() or "vi").startswith("en")
        return self.message_en if english else self.message_vi


@dataclass(frozen=True)
class CertificateFacts:
    """What the trust list stores about a certificate, read from the certificate itself."""

    der: bytes
    fingerprint_sha256: str
    subject: str
    issuer: str
    serial_number: str
    not_before: dt.datetime
    not_after: dt.datetime
    key_description: str
    common_name: str

    def as_fields(self) -> dict[str, Any]:
        return {
            "der": self.der,
            "fingerprint_sha256": self.fingerprint_sha256,
            "subject": self.subject,
            "issuer": self.issuer,
            "serial_number": self.serial_number,
            "not_before": self.not_before,
            "not_after": self.not_after,
            "key_description": self.key_description,
        }


# --- Reading and checking ---------------------------------------------------


def load_certificate(data: bytes) -> x509.Certificate:
    """One X.509 certificate from PEM or DER bytes, or CertificateRefused saying what the bytes are."""
    if len(data) > MAX_CERTIFICATE_BYTES:
        raise CertificateRefused(
            "too_large",
            f"Tệp có {len(data)} byte, quá lớn đối với một chứng thư số (tối đa 64 KiB).",
            f"The file has {len(data)} bytes, too large for a certificate (at most 64 KiB).",
        )
    if b"-----BEGIN" in data:
        return _load_pem(data)
    try:
        certificate = x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise _not_a_certificate() from exc
    return _with_readable_extensions(certificate)


def _with_readable_extensions(certificate: x509.Certificate) -> x509.Certificate:
    # Extensions are parsed lazily; a malformed one would otherwise surface
    # as a crash in a later check instead of as a refusal here.
    try:
        certificate.extensions  # noqa: B018
    except ValueError as exc:
        raise _not_a_certificate() from exc
    return certificate


def _load_pem(data: bytes) -> x509.Certificate:
    # Refused rather than ignored: a private key travelling with a CA
    # certificate is an incident the operator must hear about.
    if b"PRIVATE KEY-----" in data:
        raise CertificateRefused(
            "contains_private_key",
            "Tệp có chứa khóa bí mật. Chỉ tải lên chứng thư số, không bao giờ tải khóa bí mật.",
            "The file contains a private key. Upload the certificate only, never a private key.",
        )
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise _not_a_certificate() from exc
    if not certificates:
        raise _not_a_certificate()
    if len(certificates) > 1:
        raise CertificateRefused(
            "several_certificates",
            f"Tệp chứa {len(certificates)} chứng thư số; hãy thêm từng chứng thư một.",
            f"The file holds {len(certificates)} certificates; add them one at a time.",
        )
    return _with_readable_extensions(certificates[0])


def _not_a_certificate() -> CertificateRefused:
    return CertificateRefused(
        "not_a_certificate",
        "Tệp không phải là một chứng thư số X.509 (dạng PEM hoặc DER).",
        "The file is not an X.509 certificate (PEM or DER).",
    )


def describe_key(certificate: x509.Certificate) -> str:
    """``'RSA 3072'`` or ``'EC P-256 (secp256r1)'``; CertificateRefused for a weak or unknown key."""
    try:
        key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise _unsupported_key("?") from exc
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise CertificateRefused(
                "weak_key",
                f"Khóa RSA {key.key_size} bit quá yếu: Thông tư 15/2025/TT-BKHCN yêu cầu "
                f"tối thiểu {MIN_RSA_BITS} bit.",
                f"The {key.key_size}-bit RSA key is too weak: Circular 15/2025/TT-BKHCN "
                f"requires at least {MIN_RSA_BITS} bits.",
            )
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        curve = key.curve
        if curve.key_size < MIN_EC_BITS:
            raise CertificateRefused(
                "weak_key",
                f"Khóa ECDSA {curve.key_size} bit ({curve.name}) quá yếu: Thông tư "
                f"15/2025/TT-BKHCN yêu cầu tối thiểu {MIN_EC_BITS} bit.",
                f"The {curve.key_size}-bit ECDSA key ({curve.name}) is too weak: Circular "
                f"15/2025/TT-BKHCN requires at least {MIN_EC_BITS} bits.",
            )
        return f"EC {NIST_CURVES.get(curve.name, curve.key_size)} ({curve.name})"
    raise _unsupported_key(type(key).__name__.removeprefix("_").replace("PublicKey", ""))


def _unsupported_key(kind: str) -> CertificateRefused:
    return CertificateRefused(
        "unsupported_key",
        f"Không chấp nhận khóa {kind}: chỉ chấp nhận khóa RSA và ECDSA.",
        f"{kind} keys are not accepted: only RSA and ECDSA keys are.",
    )


def check_signature_algorithm(certificate: x509.Certificate) -> None:
    try:
        algorithm = certificate.signature_hash_algorithm
    except UnsupportedAlgorithm as exc:
        raise CertificateRefused(
            "unsupported_signature_algorithm",
            "Không nhận dạng được thuật toán ký của chứng thư số.",
            "The certificate's signature algorithm is not supported.",
        ) from exc
    if isinstance(algorithm, WEAK_HASHES):
        name = algorithm.name.upper().replace("SHA", "SHA-")
        raise CertificateRefused(
            "weak_signature_algorithm",
            f"Chứng thư số được ký với {name}, một hàm băm không còn an toàn.",
            f"The certificate is signed with {name}, a hash function that is no longer safe.",
        )


def check_is_ca(certificate: x509.Certificate) -> None:
    """A certificate of the trust list must be allowed to certify others (RFC 5280 §4.2.1.9, §4.2.1.3)."""
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise CertificateRefused(
            "not_a_ca",
            "Đây không phải chứng thư số của tổ chức chứng thực (CA): thiếu BasicConstraints cA=TRUE.",
            "This is not a CA certificate: it lacks BasicConstraints cA=TRUE.",
        )
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not usage.key_cert_sign:
        raise CertificateRefused(
            "not_a_ca",
            "Chứng thư số không được phép ký chứng thư khác (KeyUsage thiếu keyCertSign).",
            "The certificate may not sign other certificates (KeyUsage lacks keyCertSign).",
        )


def check_self_signed(certificate: x509.Certificate) -> None:
    """A root is its own issuer, and its signature must verify with its own key."""
    if certificate.issuer != certificate.subject:
        raise CertificateRefused(
            "not_self_signed",
            "Chứng thư số gốc phải tự ký, nhưng bên cấp khác chủ thể "
            f"(bên cấp: {certificate.issuer.rfc4514_string()}).",
            "A root must be self-signed, but its issuer differs from its subject "
            f"(issuer: {certificate.issuer.rfc4514_string()}).",
        )
    try:
        certificate.verify_directly_issued_by(certificate)
    except InvalidSignature as exc:
        raise CertificateRefused(
            "not_self_signed",
            "Chữ ký tự ký của chứng thư số gốc không hợp lệ.",
            "The root's self-signature does not verify.",
        ) from exc
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CertificateRefused(
            "unsupported_signature_algorithm",
            "Không kiểm tra được chữ ký tự ký: thuật toán ký không được hỗ trợ.",
            "The self-signature cannot be checked: its algorithm is not supported.",
        ) from exc


def _is_self_signed(certificate: x509.Certificate) -> bool:
    """Signed by its own key. Merely self-issued (same name, another key) is a
    key-rollover link certificate, which is a legitimate intermediate."""
    if certificate.issuer != certificate.subject:
        return False
    try:
        certificate.verify_directly_issued_by(certificate)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def examine(*, data: bytes, kind: str, at: dt.datetime | None = None) -> CertificateFacts:
    """Every check ``add_certificate`` makes, without writing: the facts, or CertificateRefused.

    The order decides which reason an operator hears first when several
    apply: what the file is, then the key and algorithm (Circular 15/2025),
    then the certificate's role, then time, then the list itself.
    """
    if kind not in CertificateKind.values:
        raise CertificateRefused(
            "unknown_kind",
            f"Loại chứng thư '{kind}' không hợp lệ.",
            f"'{kind}' is not a kind of trusted certificate.",
        )
    certificate = load_certificate(data)
    key_description = describe_key(certificate)
    check_signature_algorithm(certificate)
    check_is_ca(certificate)
    if kind == CertificateKind.ROOT:
        check_self_signed(certificate)
    elif _is_self_signed(certificate):
        raise CertificateRefused(
            "self_signed_not_root",
            "Chứng thư số này tự ký: hãy thêm nó với loại «gốc».",
            "This certificate is self-signed: add it as a root.",
        )
    at = at or timezone.now()
    not_after = certificate.not_valid_after_utc
    if not_after < at:
        day = timezone.localtime(not_after).strftime("%d/%m/%Y")
        raise CertificateRefused(
            "expired",
            f"Chứng thư số đã hết hạn ngày {day}.",
            f"The certificate expired on {day}.",
        )
    der = certificate.public_bytes(serialization.Encoding.DER)
    fingerprint = certificate.fingerprint(hashes.SHA256()).hex()
    existing = TrustedCertificate.objects.filter(fingerprint_sha256=fingerprint).first()
    if existing is not None:
        raise _duplicate(existing.name)
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    serial = f"{certificate.serial_number:X}"
    return CertificateFacts(
        der=der,
        fingerprint_sha256=fingerprint,
        subject=_clip(certificate.subject.rfc4514_string(), 500),
        issuer=_clip(certificate.issuer.rfc4514_string(), 500),
        serial_number=serial.zfill(len(serial) + len(serial) % 2),
        not_before=certificate.not_valid_before_utc,
        not_after=not_after,
        key_description=key_description,
        common_name=str(names[0].value) if names else "",
    )


def _duplicate(name: str) -> CertificateRefused:
    return CertificateRefused(
        "duplicate",
        f"Chứng thư số này đã có trong danh sách tin cậy ({name}).",
        f"This certificate is already in the trust list ({name}).",
    )


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


# --- Writing ----------------------------------------------------------------


def add_certificate(
    *,
    actor: Any,
    data: bytes,
    hierarchy: str,
    kind: str,
    name: str = "",
    notes: str = "",
    source: str = "cli",
) -> TrustedCertificate:
    """Put one certificate (PEM or DER) on the trust list, enabled, after every check passed.

    Refused (CertificateRefused, nothing written) when the bytes are not one
    certificate; the key is weak or neither RSA nor ECDSA; it is signed with
    SHA-1 or MD5; it is not a CA; a root is not validly self-signed, or an
    intermediate/cross-certificate is; it has expired; or it is listed already.
    A certificate not yet valid is accepted: a successor root can be listed
    ahead of its start, and ``anchors()`` ignores it until then.
    """
    if hierarchy not in Hierarchy.values:
        raise CertificateRefused(
            "unknown_hierarchy",
            f"Hệ thống chứng thực '{hierarchy}' không hợp lệ.",
            f"'{hierarchy}' is not a PKI hierarchy.",
        )
    with transaction.atomic():
        facts = examine(data=data, kind=kind)
        trusted = TrustedCertificate(
            name=_clip(name.strip() or facts.common_name or facts.subject, 200),
            hierarchy=hierarchy,
            kind=kind,
            notes=notes,
            **facts.as_fields(),
        )
        try:
            # A savepoint, so that losing a race with a concurrent add is a
            # refusal like any other rather than a broken transaction.
            with transaction.atomic():
                trusted.save()
        except IntegrityError as exc:
            raise _duplicate(trusted.name) from exc
        audit.record(
            actor=actor,
            action=AuditRecord.Action.CREATE,
            obj=trusted,
            changes=audit.diff({}, _described(trusted)),
            source=source,
        )
    return trusted


def switch_enabled(*, actor: Any, obj, enabled: bool, source: str):
    """Set ``is_enabled`` on a trust-list certificate or a signing key.

    The row is locked while compared, so two operators switching at once give
    one audited change; asking for the state it already has records nothing.
    """
    model = type(obj)
    with transaction.atomic():
        stored = model.objects.select_for_update().get(pk=obj.pk)
        obj.is_enabled = enabled
        if stored.is_enabled == enabled:
            return obj
        model.objects.filter(pk=obj.pk).update(is_enabled=enabled)
        if model is TrustedCertificate:
            signals.trust_list_changed()  # update() sends no post_save
        else:  # a signing key: its state kept per process (signing.py) is forgotten
            signals.signing_key_changed.send(sender=model, pk=obj.pk)
        audit.record(
            actor=actor,
            action=AuditRecord.Action.UPDATE,
            obj=obj,
            changes={"is_enabled": [stored.is_enabled, enabled]},
            source=source,
        )
    return obj


def set_enabled(
    *, actor: Any, trusted: TrustedCertificate, enabled: bool, source: str
) -> TrustedCertificate:
    """Enable or disable a certificate of the trust list (audited)."""
    return switch_enabled(actor=actor, obj=trusted, enabled=enabled, source=source)


def _described(trusted: TrustedCertificate) -> dict[str, Any]:
    """The facts an audit reader needs to recognise the certificate (the DER stays in the row)."""
    return {
        "name": trusted.name,
        "hierarchy": trusted.hierarchy,
        "kind": trusted.kind,
        "fingerprint_sha256": trusted.fingerprint_sha256,
        "subject": trusted.subject,
        "issuer": trusted.issuer,
        "serial_number": trusted.serial_number,
        "not_before": trusted.not_before.isoformat(),
        "not_after": trusted.not_after.isoformat(),
        "key_description": trusted.key_description,
        "is_enabled": trusted.is_enabled,
        "notes": trusted.notes,
    }


def validate_upload(*, data: bytes, filename: str, detached: bytes | None = None):
    """Validate an uploaded document and keep its report (not the document) for its reader."""
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from lienthong.trust.models import ValidationRecord
    from lienthong.trust.validation.service import validate_document

    report = validate_document(data=data, filename=filename[:255], detached=detached)
    return ValidationRecord.objects.create(
        expires_at=timezone.now() + timedelta(days=settings.TRUST_REPORT_RETENTION_DAYS),
        document_name=report.document_name,
        document_sha256=report.document_sha256,
        indication=report.indication,
        report_data=report.as_dict(),
    )


def purge_expired() -> tuple[int, int]:
    """Delete reports past their retention and revocation answers past nextUpdate."""
    from django.utils import timezone

    from lienthong.trust import revocation
    from lienthong.trust.models import ValidationRecord

    reports, _ = ValidationRecord.objects.filter(expires_at__lte=timezone.now()).delete()
    return reports, revocation.purge_expired()
