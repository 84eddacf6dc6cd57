"""Users' accounts at the external CSC service: linking them, their sealed tokens, refreshing.

With ``LIENTHONG_SIGNING_PROVIDER=csc`` the users' keys are at another CSC
API v2 service (a licensed CA's remote signing, or another Liên Thông node),
and every call there carries the user's own access token for it. A user
links their account once, on /account/signing/, in one of two ways
(``LIENTHONG_SIGNING_CSC_LINK``):

- ``oauth2`` — the service's OAuth 2.0 authorization-code flow (CSC API v2
  ``oauth2/authorize`` and ``oauth2/token``, with PKCE): the user signs in at
  the service and comes back with a code, exchanged here for an access token
  and a refresh token. Expired access tokens are refreshed when needed;
- ``token`` — a token the service handed the user (as this node's own
  /account/signing/ does), entered once and checked at the service before it
  is kept.

Tokens are sealed at rest like the keys (``keys.seal``), bound to the user,
the service and the link, and never shown again. Linking, refreshing and
unlinking are audited (never the tokens). ``access_token_for`` is what
``providers.get_provider`` calls for each request to the service.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from lienthong.audit import services as audit
from lienthong.signing import keys, providers
from lienthong.signing.errors import SigningRefused
from lienthong.signing.models import ProviderLink

SOURCE = "signing"
# An access token this close to its end is refreshed before use.
REFRESH_MARGIN = timedelta(seconds=60)
# How long the user may take at the service's sign-in page.
OAUTH_STATE_SECONDS = 10 * 60
MAX_TOKEN_LENGTH = 4096


def _refused(code: str, vi: str, en: str, *, status: int = 400, csc_error: str = "access_denied"):
    return SigningRefused(code, vi, en, csc_error=csc_error, status=status)


def not_linked() -> SigningRefused:
    return _refused(
        "provider_not_linked",
        "Bạn chưa liên kết tài khoản tại dịch vụ ký số từ xa. Hãy liên kết ở "
        "Tài khoản → Chữ ký số.",
        "Your account at the remote signing service is not linked yet. Link it under "
        "Your account → Digital signature.",
        status=409,
    )


def link_expired() -> SigningRefused:
    return _refused(
        "provider_link_expired",
        "Liên kết với dịch vụ ký số từ xa đã hết hạn; hãy liên kết lại ở Tài khoản → Chữ ký số.",
        "The link to the remote signing service has expired; link it again under "
        "Your account → Digital signature.",
        status=409,
    )


def service_url() -> str:
    return (settings.SIGNING_CSC_URL or "").rstrip("/")


def _oauth_endpoint(name: str) -> str:
    base = (getattr(settings, "SIGNING_CSC_OAUTH_URL", "") or service_url()).rstrip("/")
    return f"{base}/oauth2/{name}"


def link_method() -> str:
    return getattr(settings, "SIGNING_CSC_LINK", "token")


def live_link(user: Any) -> ProviderLink | None:
    """The user's live link to the configured service, or None."""
    if not getattr(user, "pk", None) or not service_url():
        return None
    return ProviderLink.objects.filter(
        user=user, service_url=service_url(), revoked_at__isnull=True
    ).first()


def _binding(link: ProviderLink, kind: str) -> str:
    """What a sealed token is bound to: opened for another user, service or link, it fails."""
    return json.dumps(
        ["provider-link", kind, link.user_id, link.service_url, link.created_at.isoformat()],
        separators=(",", ":"),
    )


def _seal(link: ProviderLink, kind: str, token: str) -> bytes:
    return keys.seal(token.encode(), context=_binding(link, kind)) if token else b""


def _unseal(link: ProviderLink, kind: str, sealed: bytes) -> str:
    sealed = bytes(sealed or b"")
    return keys.unseal(sealed, context=_binding(link, kind)).decode() if sealed else ""


def _store(
    *,
    user: Any,
    method: str,
    access_token: str,
    refresh_token: str,
    expires_in: Any,
    source: str,
) -> ProviderLink:
    """Keep a new link (sealed), ending the user's previous one; audited."""
    now = timezone.now()
    link = ProviderLink(
        user=user,
        service_url=service_url(),
        method=method,
        created_at=now,
        expires_at=_expiry(now, expires_in),
    )
    link.sealed_access_token = _seal(link, "access", access_token)
    link.sealed_refresh_token = _seal(link, "refresh", refresh_token)
    with transaction.atomic():
        replaced = ProviderLink.objects.filter(
            user=user, service_url=link.service_url, revoked_at__isnull=True
        ).update(revoked_at=now, sealed_access_token=b"", sealed_refresh_token=b"")
        link.save()
        audit.record(
            actor=user,
            action="provider_linked",
            obj=link,
            changes={
                "service": link.service_url,
                "method": method,
                "expires_at": link.expires_at.isoformat() if link.expires_at else None,
                "refreshable": bool(refresh_token),
                "replaced": replaced,
            },
            source=source,
        )
    return link


def _expiry(now, expires_in: Any):
    try:
        seconds = int(expires_in)
    except (TypeError, ValueError):
        return None
    return now + timedelta(seconds=seconds) if seconds > 0 else None


# --- Linking with a token the service gave the user ---------------------------------


def link_with_token(*, user: Any, token: str, source: str = SOURCE) -> ProviderLink:
    """Link ``user``'s account with a token of the service, checked there first
    (``credentials/list``): a token the service refuses is not kept
    (``provider_token_refused``)."""
    token = (token or "").strip()
    if not token or len(token) > MAX_TOKEN_LENGTH or any(c.isspace() for c in token):
        raise _refused(
            "provider_token_invalid",
            "Mã truy cập không hợp lệ.",
            "The access token is not valid.",
            csc_error="invalid_request",
        )
    with providers.http_client() as client:
        service = providers.CscHttpProvider(service_url(), access_token=token, client=client)
        try:
            service.list_credentials(user=user)
        except SigningRefused as exc:
            if exc.status >= 500:
                raise
            with transaction.atomic():
                audit.record(
                    actor=user,
                    action="provider_refused",
                    object_type="signing.providerlink",
                    changes={"service": service_url(), "method": "token", "refused": exc.code},
                    source=source,
                )
            raise _refused(
                "provider_token_refused",
                "Dịch vụ ký số từ xa không chấp nhận mã truy cập này.",
                "The remote signing service does not accept this access token.",
            ) from exc
    return _store(
        user=user,
        method=ProviderLink.Method.TOKEN,
        access_token=token,
        refresh_token="",
        expires_in=None,
        source=source,
    )


# --- Linking with the service's OAuth 2.0 authorization-code flow -------------------


def _client_credentials() -> dict[str, str]:
    client_id = getattr(settings, "SIGNING_CSC_CLIENT_ID", "")
    if not client_id:
        raise _refused(
            "provider_not_configured",
            "Chưa cấu hình ứng dụng tại dịch vụ ký số từ xa (LIENTHONG_SIGNING_CSC_CLIENT_ID).",
            "No client is configured at the remote signing service "
            "(LIENTHONG_SIGNING_CSC_CLIENT_ID).",
            status=500,
            csc_error="server_error",
        )
    form = {"client_id": client_id}
    secret = getattr(settings, "SIGNING_CSC_CLIENT_SECRET", "")
    if secret:
        form["client_secret"] = secret
    return form


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def start_oauth(*, redirect_uri: str) -> tuple[str, dict]:
    """Where to send the user to sign in at the service, and what the session keeps
    until they come back (``state``, the PKCE verifier, the redirect URI, when)."""
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    query = {
        "response_type": "code",
        "client_id": _client_credentials()["client_id"],
        "redirect_uri": redirect_uri,
        "scope": "service",
        "state": state,
        "code_challenge": _b64url(hashlib.sha256(verifier.encode()).digest()),
        "code_challenge_method": "S256",
        "lang": "vi-VN",
    }
    kept = {
        "state": state,
        "verifier": verifier,
        "redirect_uri": redirect_uri,
        "service": service_url(),
        "at": timezone.now().timestamp(),
    }
    return f"{_oauth_endpoint('authorize')}?{urlencode(query)}", kept


def bad_state() -> SigningRefused:
    return _refused(
        "provider_link_state",
        "Phiên liên kết đã hết hạn hoặc không hợp lệ; hãy bắt đầu lại.",
        "The linking has expired or is not valid; start again.",
        csc_error="invalid_request",
    )


def finish_oauth(
    *, user: Any, kept: dict | None, state: str, code: str, error: str = "", source: str = SOURCE
) -> ProviderLink:
    """The user came back from the service: check ``state`` against what the session
    ``kept`` (once: the caller removed it), exchange ``code`` for the tokens, link."""
    if (
        not isinstance(kept, dict)
        or not state
        or not secrets.compare_digest(str(kept.get("state", "")).encode(), state.encode())
        or kept.get("service") != service_url()
        or timezone.now().timestamp() - float(kept.get("at", 0)) > OAUTH_STATE_SECONDS
    ):
        raise bad_state()
    if error or not code:
        with transaction.atomic():
            audit.record(
                actor=user,
                action="provider_refused",
                object_type="signing.providerlink",
                changes={"service": service_url(), "method": "oauth2", "refused": error[:100]},
                source=source,
            )
        raise _refused(
            "provider_link_refused",
            "Dịch vụ ký số từ xa không cho phép liên kết.",
            "The remote signing service did not allow the link.",
        )
    data = token_request(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": kept["redirect_uri"],
            "code_verifier": kept["verifier"],
        }
    )
    return _store(
        user=user,
        method=ProviderLink.Method.OAUTH2,
        access_token=data["access_token"],
        refresh_token=str(data.get("refresh_token") or ""),
        expires_in=data.get("expires_in"),
        source=source,
    )


def token_request(
    form: dict[str, str], *, refused: Callable[[], SigningRefused] | None = None
) -> dict:
    """POST to the service's ``oauth2/token``; its answer (with an ``access_token``),
    or SigningRefused: ``provider_unreachable`` (502), what ``refused`` makes when
    the service refused the grant (4xx; by default ``provider_link_refused``),
    ``provider_error`` (not an OAuth answer)."""
    try:
        with providers.http_client() as client:
            response = client.post(
                _oauth_endpoint("token"),
                data={**form, **_client_credentials()},
                headers={"Accept": "application/json"},
            )
    except httpx.HTTPError as exc:
        raise providers.unreachable(exc) from exc
    try:
        data = response.json()
    except ValueError:
        data = None
    if 400 <= response.status_code < 500:
        if refused is not None:
            raise refused()
        raise _refused(
            "provider_link_refused",
            "Dịch vụ ký số từ xa không cho phép liên kết.",
            "The remote signing service did not allow the link.",
        )
    token = data.get("access_token") if isinstance(data, dict) else None
    if response.status_code != 200 or not isinstance(token, str) or not token:
        raise SigningRefused(
            "provider_error",
            "Dịch vụ ký số từ xa trả lời không đúng định dạng OAuth.",
            "The remote signing service's answer is not an OAuth 2.0 token.",
            csc_error="server_error",
            status=502,
        )
    return data


# --- Using the link -------------------------------------------------------------------


def access_token_for(user: Any) -> str:
    """The user's access token for the service, refreshed when it expired (or is about
    to); SigningRefused ``provider_not_linked`` or ``provider_link_expired``."""
    link = live_link(user)
    if link is None:
        raise not_linked()
    if link.expires_at is not None and link.expires_at - REFRESH_MARGIN <= timezone.now():
        link = _refresh(link)
    return _unseal(link, "access", link.sealed_access_token)


def _refresh(link: ProviderLink) -> ProviderLink:
    if not bytes(link.sealed_refresh_token or b""):
        raise link_expired()
    refused = None
    with transaction.atomic():
        current = ProviderLink.objects.select_for_update().filter(pk=link.pk).first()
        if current is None or current.revoked_at is not None:
            raise not_linked()
        now = timezone.now()
        if current.expires_at is not None and current.expires_at - REFRESH_MARGIN > now:
            return current  # another request refreshed it meanwhile
        # Read under the lock: the service may have rotated it at the last refresh.
        refresh_token = _unseal(current, "refresh", current.sealed_refresh_token)
        try:
            data = token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})
        except SigningRefused as exc:
            if exc.code != "provider_link_refused":
                raise  # the service is away: the link stays, try again later
            refused = exc
        else:
            current.sealed_access_token = _seal(current, "access", data["access_token"])
            if data.get("refresh_token"):
                current.sealed_refresh_token = _seal(current, "refresh", str(data["refresh_token"]))
            current.expires_at = _expiry(now, data.get("expires_in"))
            current.refreshed_at = now
            current.save(
                update_fields=[
                    "sealed_access_token",
                    "sealed_refresh_token",
                    "expires_at",
                    "refreshed_at",
                ]
            )
            audit.record(
                actor=current.user,
                action="provider_refreshed",
                obj=current,
                changes={
                    "service": current.service_url,
                    "expires_at": current.expires_at.isoformat() if current.expires_at else None,
                },
                source=SOURCE,
            )
            return current
    # The service refused the refresh token (revoked there, or too old): the link ends.
    _end(current, actor=current.user, reason="refresh_refused", source=SOURCE)
    raise link_expired() from refused


def _end(link: ProviderLink, *, actor: Any, reason: str, source: str, **changes) -> None:
    with transaction.atomic():
        ended = ProviderLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), sealed_access_token=b"", sealed_refresh_token=b""
        )
        if ended:
            audit.record(
                actor=actor,
                action="provider_unlinked",
                obj=link,
                changes={"service": link.service_url, "reason": reason, **changes},
                source=source,
            )


def unlink(*, user: Any, source: str = SOURCE) -> bool:
    """End the user's link: the tokens are wiped here and, for an OAuth link, revoked
    at the service (``oauth2/revoke``, best effort: the answer is audited). False
    when there was no live link."""
    link = live_link(user)
    if link is None:
        return False
    revoked_there = None
    if link.method == ProviderLink.Method.OAUTH2:
        revoked_there = _revoke_at_service(link)
    _end(link, actor=user, reason="by_user", source=source, revoked_at_service=revoked_there)
    return True


def _revoke_at_service(link: ProviderLink) -> bool:
    try:
        form = {"token_type_hint": "refresh_token", **_client_credentials()}
        token = _unseal(link, "refresh", link.sealed_refresh_token)
        if not token:
            form["token_type_hint"] = "access_token"  # noqa: S105 (a name, not a secret)
            token = _unseal(link, "access", link.sealed_access_token)
        with providers.http_client() as client:
            response = client.post(_oauth_endpoint("revoke"), data={**form, "token": token})
        return response.status_code in (200, 204)
    except (SigningRefused, httpx.HTTPError):
        return False
