"""Rows of the trust list made directly, for what real certificates cannot arrange."""

import datetime as dt

from django.utils import timezone

from lienthong.trust.models import TrustedCertificate


def listed(fingerprint: str, name: str) -> TrustedCertificate:
    """A bare row with a chosen fingerprint: two real ones never share 8 digits."""
    now = timezone.now()
    return TrustedCertificate.objects.create(
        name=name,
        hierarchy="public",
        kind="root",
        der=b"",
        fingerprint_sha256=fingerprint,
        subject=f"CN={name}",
        issuer=f"CN={name}",
        serial_number="01",
        not_before=now,
        not_after=now + dt.timedelta(days=1),
        key_description="RSA 2048",
    )
