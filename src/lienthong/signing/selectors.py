"""Reads of the signing app. A user sees their own credentials and tokens only."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from lienthong.signing.models import AccessToken, CredentialStatus, SigningCredential


def credentials_of(user: Any) -> QuerySet[SigningCredential]:
    if user is None or not user.is_authenticated:
        return SigningCredential.objects.none()
    return SigningCredential.objects.filter(user=user).order_by("created_at", "pk")


def usable_credentials_of(user: Any) -> list[SigningCredential]:
    """What ``credentials/list`` names: active, with a certificate valid now."""
    now = timezone.now()
    return [
        c for c in credentials_of(user).filter(status=CredentialStatus.ACTIVE) if c.is_usable(now)
    ]


def credential_for(user: Any, credential_id: str) -> SigningCredential | None:
    """The user's credential of that ID; None when absent or someone else's (the same answer)."""
    if not isinstance(credential_id, str) or not credential_id:
        return None
    return credentials_of(user).filter(credential_id=credential_id).first()


def live_tokens_of(user: Any) -> QuerySet[AccessToken]:
    return AccessToken.objects.filter(
        user=user, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).order_by("-created_at", "-pk")


def pending_for(user: Any, reference: str, purpose: str | None = None):
    """The user's pending signature of that reference (made for ``purpose`` when it is
    given); None when absent, someone else's or made for something else."""
    from lienthong.signing.models import PendingSignature

    if user is None or not getattr(user, "pk", None) or not isinstance(reference, str):
        return None
    if not reference or len(reference) > 64:
        return None
    pending = PendingSignature.objects.filter(user=user, reference=reference).first()
    if pending is not None and purpose is not None and pending.purpose != purpose:
        return None
    return pending


def not_answered_yet(pending) -> str:
    """What the signer reads on continuing before the answer came: from the phone, or,
    for a signature authorised at an external service (CSC oauth2code, no phone
    request), from that service."""
    if not (pending.context or {}).get("approval_id"):
        return gettext(
            "The signing service has not authorised the signature yet. Approve it there first."
        )
    return gettext("Your phone has not answered yet. Approve the request on it first.")
