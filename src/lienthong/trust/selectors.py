"""Reads from the trust list, including what path validation is given.

A pyhanko-certvalidator ``ValidationContext`` wants two lists:
``trust_roots=anchors()`` and ``other_certs=other_certificates()``. Only
enabled roots are anchors; intermediates and cross-certificates are merely
offered for path building, so a path through a cross-certificate still ends
at a root of one hierarchy or the other, and ``hierarchy_of`` says which.
"""

from __future__ import annotations

import datetime as dt

from asn1crypto import x509 as asn1_x509
from django.db.models import QuerySet
from django.utils import timezone

from lienthong.trust import fingerprints
from lienthong.trust.models import CertificateKind, TrustedCertificate


def trust_list(
    hierarchy: str | None = None, enabled: bool | None = None
) -> QuerySet[TrustedCertificate]:
    """The list as an operator reads it: by hierarchy, kind, then name."""
    queryset = TrustedCertificate.objects.all()
    if hierarchy is not None:
        queryset = queryset.filter(hierarchy=hierarchy)
    if enabled is not None:
        queryset = queryset.filter(is_enabled=enabled)
    return queryset.order_by("hierarchy", "kind", "name", "pk")


def by_fingerprint(prefix_or_full: str) -> TrustedCertificate:
    """The certificate whose SHA-256 fingerprint starts with the given digits.

    Case and colons do not matter; at least 8 digits are needed. Like
    ``QuerySet.get``: raises ``TrustedCertificate.DoesNotExist`` or
    ``TrustedCertificate.MultipleObjectsReturned`` (a prefix shared by several),
    and ValueError when the text is not a fingerprint at all.
    """
    value = fingerprints.normalise(prefix_or_full)
    return TrustedCertificate.objects.get(fingerprint_sha256__startswith=value)


def anchors(*, at: dt.datetime | None = None) -> list[asn1_x509.Certificate]:
    """Enabled roots valid at ``at`` (now by default), ready to be ``trust_roots``."""
    at = at or timezone.now()
    roots = TrustedCertificate.objects.filter(
        kind=CertificateKind.ROOT, is_enabled=True, not_before__lte=at, not_after__gte=at
    )
    return [_asn1(der) for der in roots.order_by("pk").values_list("der", flat=True)]


def other_certificates() -> list[asn1_x509.Certificate]:
    """Enabled intermediates and cross-certificates, ready to be ``other_certs``.

    Expired ones are kept: whether a certificate was valid when it was used
    is the validator's question (a past validation time), not the list's.
    """
    others = TrustedCertificate.objects.filter(is_enabled=True).exclude(kind=CertificateKind.ROOT)
    return [_asn1(der) for der in others.order_by("pk").values_list("der", flat=True)]


def hierarchy_of(certificate: asn1_x509.Certificate) -> str | None:
    """The hierarchy of a root on the list (``'public'``/``'government'``), or None."""
    return (
        TrustedCertificate.objects.filter(
            kind=CertificateKind.ROOT, fingerprint_sha256=certificate.sha256.hex()
        )
        .values_list("hierarchy", flat=True)
        .first()
    )


def _asn1(der: bytes | memoryview) -> asn1_x509.Certificate:
    # PostgreSQL hands BinaryField values back as memoryview, SQLite as bytes.
    return asn1_x509.Certificate.load(bytes(der))
