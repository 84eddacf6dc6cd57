"""Where users' keys live: this node (the default) or an external CSC API v2 service.

Both sit behind one interface, ``RemoteSigningProvider``: list the user's
credentials, describe one, authorise hashes (one-time code or phone
approval), sign authorised hashes. lienthong.signing.pdf signs PDFs through
whichever ``get_provider()`` returns, chosen by ``LIENTHONG_SIGNING_PROVIDER``:

- ``local`` — ``LocalProvider``: the keys this node holds (services.py);
- ``csc`` — ``CscHttpProvider``: a CSC API v2 service at
  ``LIENTHONG_SIGNING_CSC_URL`` (a licensed CA's remote signing, or another
  Liên Thông node), called with the user's access token for that service:
  the one their linked account holds (lienthong.signing.links), refreshed
  when it expired.

The documents' signing paths ask here for the user's credentials
(``usable_credentials``, ``credential_for``): this node's rows with ``local``,
the service's credentials (``RemoteCredential``) with ``csc``.

To add one: a class with these four methods, its tests, and a name in
``get_provider`` (docs/signing.md, "Adding a provider").
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Protocol

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from django.conf import settings
from django.utils import timezone

from lienthong.signing import keys, selectors, services
from lienthong.signing.errors import SigningRefused, no_credential


def unreachable(exc: Exception) -> SigningRefused:
    """The external service did not answer (``provider_unreachable``, 502)."""
    return SigningRefused(
        "provider_unreachable",
        "Không kết nối được dịch vụ ký số từ xa.",
        f"The remote signing service cannot be reached: {type(exc).__name__}.",
        csc_error="temporarily_unavailable",
        status=502,
    )


@dataclass(frozen=True)
class CredentialDetails:
    credential_id: str
    certificate: bytes  # DER
    chain: list[bytes]  # DER, the issuers
    sign_algorithms: list[str]  # OIDs
    multisign: int
    description: str
    # How the service authorises this credential's signatures (CSC ``authMode``):
    # "explicit" (a code sent to credentials/authorize), "oauth2code" (the user
    # authorises the hashes at the service's oauth2/authorize, scope "credential")
    # or "implicit".
    auth_mode: str = "explicit"
    # The service sends the one-time code itself (CSC credentials/sendOTP).
    otp_sent_by_service: bool = False


@dataclass(frozen=True)
class Activation:
    sad: str
    expires_in: int


class RemoteSigningProvider(Protocol):
    def list_credentials(self, *, user: Any) -> list[str]: ...

    def credential_info(self, *, user: Any, credential_id: str) -> CredentialDetails: ...

    def authorize(
        self,
        *,
        user: Any,
        credential_id: str,
        digests: list[bytes],
        otp: str | None = None,
        otp_method: str | None = None,
        approval_id: str | None = None,
        description: str = "",
        address: str | None = None,
    ) -> Activation: ...

    def sign_hashes(
        self,
        *,
        user: Any,
        credential_id: str,
        sad: str | None,
        digests: list[bytes],
        credential_token: str | None = None,
    ) -> list[bytes]: ...


def no_credential_token() -> SigningRefused:
    """A credential-scoped access token (CSC oauth2code) for this node's own keys."""
    return SigningRefused(
        "unsupported_authorization",
        "Khóa ký trên máy chủ này không được cấp quyền qua dịch vụ ký số từ xa.",
        "This node's keys are not authorised through a remote signing service.",
        csc_error="invalid_request",
    )


class LocalProvider:
    """The node's own keys, through the service layer (no HTTP)."""

    def __init__(self, *, source: str = "web"):
        self.source = source

    def list_credentials(self, *, user: Any) -> list[str]:
        return [c.credential_id for c in selectors.usable_credentials_of(user)]

    def credential_info(self, *, user: Any, credential_id: str) -> CredentialDetails:
        credential = selectors.credential_for(user, credential_id)
        if credential is None or credential.certificate is None:
            raise no_credential()
        return CredentialDetails(
            credential_id=credential.credential_id,
            certificate=bytes(credential.certificate),
            chain=[base64.b64decode(c) for c in credential.chain],
            sign_algorithms=[keys.ECDSA_WITH_SHA256],
            multisign=settings.SIGNING_MAX_BATCH,
            description=credential.label or credential.subject,
        )

    def authorize(
        self,
        *,
        user,
        credential_id,
        digests,
        otp=None,
        otp_method=None,
        approval_id=None,
        description="",
        address=None,
    ) -> Activation:
        issued = services.authorize(
            user=user,
            credential_id=credential_id,
            digests=digests,
            num_signatures=len(digests),
            otp=otp,
            otp_method=otp_method,
            approval_id=approval_id,
            description=description,
            address=address,
            source=self.source,
        )
        return Activation(sad=issued.sad, expires_in=issued.expires_in)

    def sign_hashes(
        self, *, user, credential_id, sad, digests, credential_token=None
    ) -> list[bytes]:
        if credential_token is not None or sad is None:
            raise no_credential_token()
        return services.sign_hashes(
            user=user, credential_id=credential_id, sad=sad, digests=digests, source=self.source
        )


class CscHttpProvider:
    """A CSC API v2 service over HTTPS (httpx).

    ``service_url`` is what precedes ``/csc/v2/`` (as in pyHanko's
    CSCServiceSessionInfo). ``access_token`` is the user's token for that
    service — a string, or a function of the user returning one (the service's
    own OAuth flow issues them; this class does not). Refusals of the service
    come back as SigningRefused with its ``error`` and, when it is a Liên
    Thông node, its stable ``code`` and Vietnamese message.
    """

    def __init__(
        self,
        service_url: str,
        *,
        access_token,
        timeout: float = 30.0,
        client: httpx.Client | None = None,
    ):
        self.base = service_url.rstrip("/") + "/csc/v2/"
        self.access_token = access_token
        self.client = client or httpx.Client(timeout=timeout)
        self._methods: list[str] | None = None

    def _token(self, user: Any) -> str:
        return self.access_token(user) if callable(self.access_token) else self.access_token

    def _post(self, user: Any, endpoint: str, body: dict, *, bearer: str | None = None) -> dict:
        """POST ``body`` to ``endpoint`` with the user's token (or ``bearer``; none
        for ``info``); the answer, or SigningRefused as the service refuses."""
        if endpoint == "info":
            headers = {}
        else:
            headers = {"Authorization": f"Bearer {bearer or self._token(user)}"}
        try:
            response = self.client.post(self.base + endpoint, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise unreachable(exc) from exc
        try:
            data = response.json()
        except ValueError:
            data = {}
        if response.status_code >= 400 or not isinstance(data, dict):
            data = data if isinstance(data, dict) else {}
            description = str(data.get("error_description") or f"HTTP {response.status_code}")
            raise SigningRefused(
                str(data.get("code") or data.get("error") or "provider_error"),
                str(data.get("message_vi") or description),
                description,
                csc_error=str(data.get("error") or "server_error"),
                status=response.status_code if response.status_code >= 400 else 502,
            )
        return data

    def list_credentials(self, *, user: Any) -> list[str]:
        return list(self._post(user, "credentials/list", {}).get("credentialIDs", []))

    def credential_info(self, *, user: Any, credential_id: str) -> CredentialDetails:
        data = self._post(
            user, "credentials/info", {"credentialID": credential_id, "certificates": "chain"}
        )
        try:
            certificates = [base64.b64decode(c) for c in data["cert"]["certificates"]]
            algorithms = list(data["key"]["algo"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SigningRefused(
                "provider_error",
                "Dịch vụ ký số từ xa trả lời không đúng định dạng CSC.",
                "The remote signing service's answer is not in the CSC format.",
                csc_error="server_error",
                status=502,
            ) from exc
        auth = data.get("auth") if isinstance(data.get("auth"), dict) else {}
        mode = str(data.get("authMode") or auth.get("mode") or "explicit")
        return CredentialDetails(
            credential_id=credential_id,
            certificate=certificates[0],
            chain=certificates[1:],
            sign_algorithms=algorithms,
            multisign=int(data.get("multisign", 1)),
            description=str(data.get("description", "")),
            auth_mode=mode,
            otp_sent_by_service=mode == "explicit" and self._otp_sent_by_service(data, auth),
        )

    def _otp_sent_by_service(self, data: dict, auth: dict) -> bool:
        """Does the service send the credential's one-time code itself? CSC 1.0's
        ``OTP.type`` "online" says so; a CSC 2 service says it by an OTP among the
        ``auth`` objects and ``credentials/sendOTP`` among its ``info`` methods."""
        otp = data.get("OTP")
        if isinstance(otp, dict) and otp.get("type") in ("online", "offline"):
            return otp["type"] == "online"
        objects = auth.get("objects") if isinstance(auth.get("objects"), list) else []
        if not any(isinstance(o, dict) and o.get("type") == "OTP" for o in objects):
            return False
        return "credentials/sendOTP" in self.methods()

    def methods(self) -> list[str]:
        """The service's methods (``info``, asked once per provider)."""
        if self._methods is None:
            try:
                methods = self._post(None, "info", {}).get("methods", [])
            except SigningRefused:
                methods = []
            self._methods = [str(m) for m in methods] if isinstance(methods, list) else []
        return self._methods

    def send_otp(self, *, user: Any, credential_id: str) -> None:
        """Ask the service to send the user the one-time code of the credential
        (CSC ``credentials/sendOTP``); SigningRefused as the service refuses."""
        self._post(user, "credentials/sendOTP", {"credentialID": credential_id})

    def authorize(
        self,
        *,
        user,
        credential_id,
        digests,
        otp=None,
        otp_method=None,
        approval_id=None,
        description="",
        address=None,
    ) -> Activation:
        body: dict[str, Any] = {
            "credentialID": credential_id,
            "numSignatures": len(digests),
            **_hash_parameters(digests),
        }
        if otp is not None:
            body["OTP"] = otp
        if otp_method is not None:
            body["OTPMethod"] = otp_method
        if approval_id is not None:
            body["approvalID"] = approval_id
        if description:
            body["description"] = description
        data = self._post(user, "credentials/authorize", body)
        return Activation(sad=str(data.get("SAD", "")), expires_in=int(data.get("expiresIn", 3600)))

    def sign_hashes(
        self, *, user, credential_id, sad, digests, credential_token=None
    ) -> list[bytes]:
        """Sign ``digests`` authorised by ``sad`` or, for an ``oauth2code`` credential,
        by ``credential_token`` — the access token of scope "credential" the
        service issued for exactly these hashes, sent as the bearer (no SAD)."""
        body: dict[str, Any] = {
            "credentialID": credential_id,
            **_hash_parameters(digests),
            "signAlgo": keys.ECDSA_WITH_SHA256,
        }
        if credential_token is None:
            body["SAD"] = sad
        data = self._post(user, "signatures/signHash", body, bearer=credential_token)
        signatures = [base64.b64decode(s) for s in data.get("signatures", [])]
        if len(signatures) != len(digests):
            raise SigningRefused(
                "provider_error",
                "Dịch vụ ký số từ xa trả về số chữ ký không khớp.",
                f"Expected {len(digests)} signatures, got {len(signatures)}.",
                csc_error="server_error",
                status=502,
            )
        return signatures


def _hash_parameters(digests: list[bytes]) -> dict[str, Any]:
    """The hashes as CSC v2 names them (``hashes``, ``hashAlgorithmOID``) and, for
    services still on v1, as v1 did (``hash``, ``hashAlgo``): a service reads its own."""
    encoded = [base64.b64encode(d).decode("ascii") for d in digests]
    return {"hashes": encoded, "hashAlgorithmOID": keys.SHA256, "hash": encoded,
            "hashAlgo": keys.SHA256}  # fmt: skip


TIMEOUT_SECONDS = 30.0


def http_client() -> httpx.Client:
    """The HTTP client for the external service (its CSC API and its OAuth server)."""
    return httpx.Client(timeout=TIMEOUT_SECONDS)


def is_external() -> bool:
    """Are users' keys at an external CSC service (``LIENTHONG_SIGNING_PROVIDER=csc``)?"""
    return settings.SIGNING_PROVIDER == "csc"


def get_provider(*, access_token=None, source: str = "web") -> RemoteSigningProvider:
    """The provider ``LIENTHONG_SIGNING_PROVIDER`` names. For ``csc``, ``access_token``
    (a string or a function of the user) defaults to the user's linked account
    (``links.access_token_for``: SigningRefused ``provider_not_linked`` when
    they have none)."""
    if settings.SIGNING_PROVIDER == "csc":
        if not settings.SIGNING_CSC_URL:
            raise SigningRefused(
                "provider_not_configured",
                "Chưa cấu hình địa chỉ dịch vụ ký số từ xa (LIENTHONG_SIGNING_CSC_URL).",
                "No remote signing service is configured (LIENTHONG_SIGNING_CSC_URL).",
                csc_error="server_error",
                status=500,
            )
        from lienthong.signing import links

        return CscHttpProvider(
            settings.SIGNING_CSC_URL,
            access_token=access_token or links.access_token_for,
            client=http_client(),
        )
    return LocalProvider(source=source)


# --- The user's credentials, wherever they are ---------------------------------------


@dataclass(frozen=True)
class RemoteCredential:
    """A credential of the external service, described as a local ``SigningCredential``
    is to the documents' signing paths (credential_id, label, subject, issuer,
    fingerprint_sha256, certificate, validity, ``is_usable``)."""

    credential_id: str
    label: str
    subject: str
    issuer: str
    fingerprint_sha256: str
    certificate: bytes  # DER
    chain: list[str]  # base64 DER, as SigningCredential.chain
    not_before: Any
    not_after: Any
    auth_mode: str = "explicit"
    otp_sent_by_service: bool = False

    @classmethod
    def from_details(cls, details: CredentialDetails) -> RemoteCredential:
        try:
            leaf = x509.load_der_x509_certificate(details.certificate)
        except ValueError as exc:
            raise SigningRefused(
                "provider_error",
                "Dịch vụ ký số từ xa trả về chứng thư số không đọc được.",
                "The remote signing service returned a certificate that cannot be read.",
                csc_error="server_error",
                status=502,
            ) from exc
        return cls(
            credential_id=details.credential_id,
            label=details.description[:200],
            subject=leaf.subject.rfc4514_string()[:500],
            issuer=leaf.issuer.rfc4514_string()[:500],
            fingerprint_sha256=leaf.fingerprint(hashes.SHA256()).hex(),
            certificate=details.certificate,
            chain=[base64.b64encode(c).decode("ascii") for c in details.chain],
            not_before=leaf.not_valid_before_utc.astimezone(UTC),
            not_after=leaf.not_valid_after_utc.astimezone(UTC),
            auth_mode=details.auth_mode,
            otp_sent_by_service=details.otp_sent_by_service,
        )

    def is_usable(self, at=None) -> bool:
        at = at or timezone.now()
        return self.not_before <= at < self.not_after


def usable_credentials(user: Any, *, provider: RemoteSigningProvider | None = None) -> list:
    """The user's credentials that can sign now, oldest first: this node's
    ``SigningCredential`` rows, or with an external service the credentials its
    ``credentials/list`` names for the user's linked account (SigningRefused as
    the service and the link refuse)."""
    if not getattr(user, "pk", None):
        return []
    provider = provider or get_provider()
    if isinstance(provider, LocalProvider):
        return selectors.usable_credentials_of(user)
    found = []
    for credential_id in provider.list_credentials(user=user):
        credential = RemoteCredential.from_details(
            provider.credential_info(user=user, credential_id=credential_id)
        )
        if credential.is_usable():
            found.append(credential)
    return found


def credential_for(user: Any, credential_id: str, *, provider: RemoteSigningProvider | None = None):
    """The user's credential of that ID — a ``SigningCredential`` or a
    ``RemoteCredential`` — or None when absent or someone else's."""
    if not getattr(user, "pk", None) or not isinstance(credential_id, str) or not credential_id:
        return None
    provider = provider or get_provider()
    if isinstance(provider, LocalProvider):
        return selectors.credential_for(user, credential_id)
    try:
        details = provider.credential_info(user=user, credential_id=credential_id)
    except SigningRefused as exc:
        # A Liên Thông service says unknown_credential; another CSC service only
        # invalid_request ("Invalid parameter credentialID").
        if exc.code in ("unknown_credential", "invalid_request"):
            return None
        raise
    return RemoteCredential.from_details(details)
