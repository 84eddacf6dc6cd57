"""Access tokens for the CSC API: issued to a signed-in user for one application.

A token names the user to /csc/v2/; it lists and describes their credentials
and asks for authorisations, but never signs by itself — each authorisation
still needs the user's second factor or phone approval. 256 random bits,
kept only as their SHA-256, short-lived, revocable.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from lienthong.audit import services as audit
from lienthong.signing.models import AccessToken


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def issue_access_token(
    *, user: Any, client_name: str, ttl_seconds: int | None = None, source: str
) -> tuple[str, AccessToken]:
    """A bearer token for ``client_name`` acting for ``user``: (the token, shown once; its row).

    The token lets an application list the user's credentials and ask for
    authorisations; it never signs by itself — each authorisation still
    needs the user's second factor or approval. Kept as its SHA-256 only.
    """
    ttl = ttl_seconds or settings.SIGNING_TOKEN_SECONDS
    ttl = min(ttl, settings.SIGNING_TOKEN_MAX_SECONDS)
    raw = "ltsig_" + secrets.token_urlsafe(32)
    now = timezone.now()
    token = AccessToken.objects.create(
        user=user,
        token_hash=_sha256(raw),
        client_name=client_name.strip()[:100] or "CSC client",
        created_at=now,
        expires_at=now + timedelta(seconds=ttl),
    )
    audit.record(
        actor=user,
        action="token_issued",
        obj=token,
        changes={"client_name": token.client_name, "expires_at": token.expires_at.isoformat()},
        source=source,
    )
    return raw, token


@transaction.atomic
def revoke_access_token(*, actor: Any, token: AccessToken, source: str) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(
            actor=actor,
            action="token_revoked",
            obj=token,
            changes={"client_name": token.client_name},
            source=source,
        )


def authenticate_token(raw: str) -> AccessToken | None:
    """The live token ``raw`` names (its user active), or None."""
    if not raw or len(raw) > 200:
        return None
    token = AccessToken.objects.select_related("user").filter(token_hash=_sha256(raw)).first()
    now = timezone.now()
    if token is None or not token.is_live(now) or not token.user.is_active:
        return None
    # Coarse: one write a minute at most, not one per call.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        AccessToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
