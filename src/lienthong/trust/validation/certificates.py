"""Reading what a certificate says about its holder, for reports and policy checks.

Vietnamese certificates carry the holder's identity numbers in the subject:
the personal ID number (CCCD/CMND) or the tax code (MST) in UID or
serialNumber attributes, e.g. ``UID=CCCD:001099000001``; agencies carry their
electronic identifier. Those are what a person reading a report looks for.
"""

from __future__ import annotations

import hashlib

from asn1crypto import x509

from lienthong.trust.validation.report import CertificateInfo

# Circular 15/2025/TT-BKHCN: validation software refuses RSA keys under 2048
# bits and ECDSA keys under 256 bits.
MIN_RSA_BITS = 2048
MIN_EC_BITS = 256
WEAK_DIGESTS = {"md5", "sha1"}
_IDENTIFIER_ATTRIBUTES = ("user_id", "serial_number", "organization_identifier")


def fingerprint(certificate: x509.Certificate) -> str:
    return hashlib.sha256(certificate.dump()).hexdigest()


def key_description(certificate: x509.Certificate) -> str:
    public_key = certificate.public_key
    algorithm = public_key.algorithm
    if algorithm == "ec":
        curve = public_key["algorithm"]["parameters"].chosen.native
        return f"EC {public_key.bit_size} ({curve})"
    return f"{algorithm.upper()} {public_key.bit_size}"


def key_is_weak(certificate: x509.Certificate) -> bool:
    public_key = certificate.public_key
    if public_key.algorithm == "rsa":
        return public_key.bit_size < MIN_RSA_BITS
    if public_key.algorithm == "ec":
        return public_key.bit_size < MIN_EC_BITS
    return public_key.algorithm not in {"ed25519", "ed448"}


def _attribute(name: x509.Name, key: str) -> str:
    value = name.native.get(key, "")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def identifiers(certificate: x509.Certificate) -> list[str]:
    """Identity numbers carried in the subject (CCCD, MST, agency identifier, …)."""
    found: list[str] = []
    for key in _IDENTIFIER_ATTRIBUTES:
        value = certificate.subject.native.get(key)
        for item in value if isinstance(value, list) else [value]:
            if item and str(item) not in found:
                found.append(str(item))
    return found


def describe(certificate: x509.Certificate) -> CertificateInfo:
    return CertificateInfo(
        subject=certificate.subject.human_friendly,
        common_name=_attribute(certificate.subject, "common_name"),
        organisation=_attribute(certificate.subject, "organization_name"),
        identifiers=identifiers(certificate),
        issuer=certificate.issuer.human_friendly,
        serial_number=format(certificate.serial_number, "x"),
        not_before=certificate.not_valid_before.isoformat(),
        not_after=certificate.not_valid_after.isoformat(),
        fingerprint_sha256=fingerprint(certificate),
        key=key_description(certificate),
    )
