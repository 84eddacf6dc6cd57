"""Authorising a pending signature at the external service: CSC API v2 ``oauth2code``.

A credential of the external CSC service whose ``authMode`` is ``oauth2code``
is not authorised by a code sent to ``credentials/authorize``: the user is sent
to the service's ``oauth2/authorize`` with scope ``credential`` and the exact
hashes to sign (``credentialID``, ``numSignatures``, ``hashes`` — base64url,
comma-separated —, ``hashAlgorithmOID``), authorises them there (often in the
service's own phone app), and comes back with a code; the code, exchanged at
``oauth2/token`` with the PKCE verifier, gives an access token of scope
"credential" that stands for the SAD: the bearer of ``signatures/signHash``
for those hashes only.

Here the hashes are those of a ``PendingSignature`` (lienthong.signing.pdf).
``start`` builds the URL and what the session keeps until the user comes
back — ``state`` (random, at most 10 minutes old, used once), the PKCE
verifier, and the pending signature it is for (reference, purpose,
credential, hashes). ``finish`` checks all of it against the row, exchanges
the code and keeps the token on the row, sealed (``pdf.keep_credential_token``),
for the page that finishes the signature (the back office's result, the
portal's declaration). Every refusal is audited and signs nothing.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import urlencode

from django.db import transaction
from django.utils import timezone

from lienthong.audit import services as audit
from lienthong.signing import keys, links, providers
from lienthong.signing import pdf as signing_pdf
from lienthong.signing.errors import SigningRefused
from lienthong.signing.models import PendingSignature

SOURCE = "signing"
MODE = "oauth2code"
# Where the session keeps the authorisations under way, by their state.
SESSION_KEY = "signing_credential_oauth"
# How long the user may take at the service; how many may be under way at once.
STATE_SECONDS = links.OAUTH_STATE_SECONDS
MAX_UNDER_WAY = 5


def uses_oauth2code(credential: Any) -> bool:
    """Is ``credential`` (a ``RemoteCredential``) authorised at the service by OAuth?"""
    return getattr(credential, "auth_mode", "explicit") == MODE


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def refused(code: str) -> SigningRefused:
    """The refusals of this flow, with their stable codes."""
    vi, en, status = {
        "provider_authorize_state": (
            "Phiên cấp quyền ký đã hết hạn hoặc không hợp lệ; hãy ký lại từ đầu.",
            "The authorisation at the signing service has expired or is not valid; "
            "start signing again.",
            400,
        ),
        "provider_authorize_refused": (
            "Dịch vụ ký số từ xa không cấp quyền ký. Không có gì được ký.",
            "The remote signing service did not authorise the signature. Nothing was signed.",
            400,
        ),
        "provider_other_hashes": (
            "Quyền ký được cấp cho văn bản khác; không có gì được ký.",
            "The authorisation was given for another document; nothing was signed.",
            409,
        ),
        "provider_not_oauth2code": (
            "Khóa ký này được cấp quyền bằng mã xác thực một lần, không phải tại dịch vụ.",
            "This key is authorised with a one-time code, not at the service.",
            409,
        ),
    }[code]
    return SigningRefused(code, vi, en, csc_error="access_denied", status=status)


def _audit_refusal(*, user: Any, code: str, row: PendingSignature | None, source: str, **more):
    with transaction.atomic():
        audit.record(
            actor=user,
            action="pending_refused",
            obj=row,
            object_type="" if row else "signing.pendingsignature",
            changes={
                "refused": code,
                "method": MODE,
                "purpose": row.purpose if row else None,
                **more,
            },
            source=source,
        )


def start(
    *,
    user: Any,
    pending: PendingSignature,
    redirect_uri: str,
    wait_url: str,
    back_url: str,
    description: str = "",
    source: str = SOURCE,
) -> tuple[str, dict]:
    """Where to send ``user`` to authorise ``pending``'s hashes at the service, and
    what the session keeps until they come back (``remember``). ``wait_url`` is
    the page that finishes the signature once authorised, ``back_url`` the one
    that shows a refusal. Refused (SigningRefused) when the node has no client at
    the service (``provider_not_configured``)."""
    client_id = links._client_credentials()["client_id"]
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "credential",
        "credentialID": pending.credential_id,
        "numSignatures": str(len(pending.hashes)),
        "hashes": ",".join(_b64url(base64.b64decode(h)) for h in pending.hashes),
        "hashAlgorithmOID": keys.SHA256,
        "state": state,
        "code_challenge": _b64url(hashlib.sha256(verifier.encode()).digest()),
        "code_challenge_method": "S256",
        "lang": "vi-VN",
    }
    if description:
        query["description"] = description[:500]
    kept = {
        "state": state,
        "verifier": verifier,
        "redirect_uri": redirect_uri,
        "service": links.service_url(),
        "at": timezone.now().timestamp(),
        "user": user.pk,
        "reference": pending.reference,
        "purpose": pending.purpose,
        "credential_id": pending.credential_id,
        "hashes": list(pending.hashes),
        "wait_url": wait_url,
        "back_url": back_url,
    }
    with transaction.atomic():
        audit.record(
            actor=user,
            action="provider_asked",
            obj=pending,
            changes={
                "service": links.service_url(),
                "credential_id": pending.credential_id,
                "hashes": [base64.b64decode(h).hex() for h in pending.hashes],
                "purpose": pending.purpose,
            },
            source=source,
        )
    return f"{links._oauth_endpoint('authorize')}?{urlencode(query)}", kept


def remember(session: Any, kept: dict) -> None:
    """Keep ``kept`` in the session under its state (the newest few, none too old)."""
    now = timezone.now().timestamp()
    under_way = {
        state: entry
        for state, entry in (session.get(SESSION_KEY) or {}).items()
        if isinstance(entry, dict) and now - float(entry.get("at", 0)) <= STATE_SECONDS
    }
    under_way[kept["state"]] = kept
    newest = sorted(under_way.items(), key=lambda item: item[1]["at"])[-MAX_UNDER_WAY:]
    session[SESSION_KEY] = dict(newest)


def take(session: Any, state: str) -> dict | None:
    """What the session kept for ``state``, removed (a state is used once)."""
    under_way = dict(session.get(SESSION_KEY) or {})
    kept = under_way.pop(state, None) if isinstance(state, str) and state else None
    if kept is not None:
        session[SESSION_KEY] = under_way
    return kept if isinstance(kept, dict) else None


def finish(
    *,
    user: Any,
    kept: dict | None,
    state: str,
    code: str,
    error: str = "",
    source: str = SOURCE,
) -> PendingSignature:
    """The user came back from the service: check ``state`` against what the session
    ``kept`` (removed by ``take``), the pending signature it names (the user's,
    live, for the same purpose, credential and hashes), exchange ``code`` with the
    PKCE verifier and keep the credential token on the row; the row.

    Refused (SigningRefused, audited, nothing signed): provider_authorize_state
    (no, forged, replayed or too old ``state``; another user's), pending_not_found,
    pending_used, pending_expired, pending_other_purpose, provider_other_hashes
    (the row no longer has the hashes authorised), provider_authorize_refused (the
    user or the service refused), provider_unreachable, provider_error."""
    if (
        not isinstance(kept, dict)
        or not state
        or not secrets.compare_digest(str(kept.get("state", "")).encode(), state.encode())
        or kept.get("service") != links.service_url()
        or kept.get("user") != getattr(user, "pk", None)
        or timezone.now().timestamp() - float(kept.get("at", 0)) > STATE_SECONDS
    ):
        _audit_refusal(user=user, code="provider_authorize_state", row=None, source=source)
        raise refused("provider_authorize_state")
    row = signing_pdf.check_pending(
        user=user, reference=kept["reference"], purpose=kept["purpose"], source=source
    )
    if row.hashes != kept.get("hashes") or row.credential_id != kept.get("credential_id"):
        _audit_refusal(user=user, code="provider_other_hashes", row=row, source=source)
        raise refused("provider_other_hashes")
    if error or not code:
        _audit_refusal(
            user=user, code="provider_authorize_refused", row=row, source=source, error=error[:100]
        )
        raise refused("provider_authorize_refused")
    try:
        data = links.token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": kept["redirect_uri"],
                "code_verifier": kept["verifier"],
            },
            refused=lambda: refused("provider_authorize_refused"),
        )
    except SigningRefused as exc:
        _audit_refusal(user=user, code=exc.code, row=row, source=source)
        raise
    signing_pdf.keep_credential_token(
        row, token=data["access_token"], expires_in=data.get("expires_in"), source=source
    )
    return row


def send_otp(*, user: Any, credential_id: str, source: str = SOURCE) -> None:
    """Ask the external service to send ``user`` the one-time code of their credential
    (CSC ``credentials/sendOTP``); audited. SigningRefused as the service refuses."""
    provider = providers.get_provider(source=source)
    if not isinstance(provider, providers.CscHttpProvider):
        raise providers.no_credential_token()
    refusal = None
    try:
        provider.send_otp(user=user, credential_id=credential_id)
    except SigningRefused as exc:
        refusal = exc
    with transaction.atomic():
        audit.record(
            actor=user,
            action="provider_send_otp",
            object_type="signing.providerlink",
            changes={
                "service": links.service_url(),
                "credential_id": credential_id,
                "outcome": refusal.code if refusal else "sent",
            },
            source=source,
        )
    if refusal is not None:
        raise refusal
