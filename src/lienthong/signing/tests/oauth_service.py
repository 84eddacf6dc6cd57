"""A stand-in for an external CSC API v2 service whose credentials authorise by OAuth.

``OAuthCodeService`` is an httpx transport answering as a CA's remote signing
service would: ``info``, ``credentials/list`` and ``credentials/info`` for
the holder's access token (``authMode`` "oauth2code", or "explicit" with an
OTP it sends itself), ``credentials/sendOTP``, ``oauth2/token`` and
``signatures/signHash`` — which signs only with an access token of scope
"credential" issued for exactly those hashes, once. What the user does at
the service's ``oauth2/authorize`` page is ``authorize(url)``: it reads the
query as the service would and answers with the redirect back to the node.
The key is a TEST PKI credential of this node (``keys.load_private_key``),
so the signatures validate.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from lienthong.signing import keys, links, providers

SERVICE = "http://localhost:8443"
USER_TOKEN = "user-token-at-the-service"
CREDENTIAL_ID = "ext-credential-1"


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class OAuthCodeService(httpx.BaseTransport):
    def __init__(self, credential, *, auth_mode: str = "oauth2code", otp: dict | None = None):
        self.credential = credential  # a SigningCredential of this node: its key and certificate
        self.auth_mode = auth_mode
        self.otp = otp  # CSC 1.0's OTP object, e.g. {"type": "online"}
        self.calls: list[tuple[str, dict, str]] = []  # (path, body or form, bearer)
        self.codes: dict[str, dict] = {}
        self.tokens: dict[str, dict] = {}
        self.otp_sent = 0

    # --- The user at the service's oauth2/authorize page ---

    def authorize(self, url: str, *, deny: bool = False) -> str:
        """The user authorises (or denies) what ``url`` asks; the redirect back."""
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == SERVICE and parts.path == "/oauth2/authorize"
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        back = {"state": query["state"]}
        if deny:
            back["error"] = "access_denied"
        else:
            code = secrets.token_urlsafe(16)
            self.codes[code] = query
            back["code"] = code
        return f"{query['redirect_uri']}?{urlencode(back)}"

    # --- HTTP ---

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if path.startswith("/oauth2/"):
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            self.calls.append((path, form, ""))
            return self._token(form)
        body = json.loads(request.content or b"{}")
        self.calls.append((path, body, bearer))
        endpoint = path.removeprefix("/csc/v2/")
        if endpoint == "info":
            return httpx.Response(200, json={"specs": "2.0.0.2", "methods": self._methods()})
        if endpoint == "signatures/signHash":
            return self._sign(body, bearer)
        if bearer != USER_TOKEN:
            return httpx.Response(401, json={"error": "invalid_token"})
        if endpoint == "credentials/list":
            return httpx.Response(200, json={"credentialIDs": [CREDENTIAL_ID]})
        if endpoint == "credentials/info":
            if body.get("credentialID") != CREDENTIAL_ID:
                return httpx.Response(400, json={"error": "invalid_request"})
            return httpx.Response(200, json=self._info())
        if endpoint == "credentials/sendOTP":
            self.otp_sent += 1
            return httpx.Response(200, json={})
        return httpx.Response(404, json={"error": "invalid_request"})

    def _methods(self) -> list[str]:
        methods = ["credentials/list", "credentials/info", "signatures/signHash"]
        if self.auth_mode == "explicit":
            methods += ["credentials/authorize", "credentials/sendOTP"]
        return methods

    def _info(self) -> dict:
        certificate = base64.b64encode(bytes(self.credential.certificate)).decode("ascii")
        answer = {
            "description": "Khóa tại dịch vụ",
            "key": {"status": "enabled", "algo": [keys.ECDSA_WITH_SHA256], "len": 256},
            "cert": {"status": "valid", "certificates": [certificate, *self.credential.chain]},
            "authMode": self.auth_mode,
            "SCAL": "2",
            "multisign": 1,
        }
        if self.otp is not None:
            answer["OTP"] = self.otp
        elif self.auth_mode == "explicit":
            answer["auth"] = {"mode": "explicit", "objects": [{"type": "OTP", "id": "otp"}]}
        return answer

    def _token(self, form: dict) -> httpx.Response:
        query = self.codes.pop(form.get("code", ""), None)
        challenge = base64.urlsafe_b64encode(
            hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        ).rstrip(b"=")
        if (
            form.get("grant_type") != "authorization_code"
            or query is None
            or challenge.decode() != query["code_challenge"]
            or form.get("redirect_uri") != query["redirect_uri"]
            or form.get("client_id") != query["client_id"]
        ):
            return httpx.Response(400, json={"error": "invalid_grant"})
        token = secrets.token_urlsafe(16)
        self.tokens[token] = {
            "credentialID": query["credentialID"],
            "hashes": [b64url_decode(h) for h in query["hashes"].split(",")],
            "numSignatures": int(query["numSignatures"]),
            "hashAlgorithmOID": query["hashAlgorithmOID"],
        }
        return httpx.Response(
            200, json={"access_token": token, "token_type": "Bearer", "expires_in": 300}
        )

    def _sign(self, body: dict, bearer: str) -> httpx.Response:
        grant = self.tokens.pop(bearer, None)  # once
        digests = [base64.b64decode(h) for h in body.get("hashes", [])]  # CSC v2 names
        if grant is None or "SAD" in body:
            return httpx.Response(401, json={"error": "invalid_token"})
        if body.get("credentialID") != grant["credentialID"] or not set(digests) <= set(
            grant["hashes"]
        ):
            return httpx.Response(400, json={"error": "invalid_request"})
        key = keys.load_private_key(self.credential)
        signatures = [key.sign(d, ec.ECDSA(Prehashed(hashes.SHA256()))) for d in digests]
        return httpx.Response(
            200, json={"signatures": [base64.b64encode(s).decode("ascii") for s in signatures]}
        )

    def paths(self) -> list[str]:
        return [path for path, _body, _bearer in self.calls]


def use_service(settings, monkeypatch, credential, **options) -> OAuthCodeService:
    """Point this node at the stand-in service (``LIENTHONG_SIGNING_PROVIDER=csc``)."""
    settings.SIGNING_PROVIDER = "csc"
    settings.SIGNING_CSC_URL = SERVICE
    settings.SIGNING_CSC_CLIENT_ID = "lienthong-node"
    settings.SIGNING_CSC_CLIENT_SECRET = "s3cret"
    transport = OAuthCodeService(credential, **options)
    monkeypatch.setattr(providers, "http_client", lambda: httpx.Client(transport=transport))
    return transport


def link(user) -> None:
    links.link_with_token(user=user, token=USER_TOKEN, source="test")
