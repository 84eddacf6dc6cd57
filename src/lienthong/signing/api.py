"""The Cloud Signature Consortium API v2 of this node, at /csc/v2/.

Separate from the platform's /api/v1/: its shape is the CSC specification's
(version 2.0.0.2), so CSC clients — pyHanko's CSCSigner, the signing apps of
Vietnamese CAs — work unchanged. Every call but ``info`` carries a bearer
token (``Authorization: Bearer …``) issued to a signed-in user
(/account/signing/); it names the user, and a credential is found only
among that user's. Bodies are JSON; so are errors:
``{"error", "error_description", "code", "message_vi", "message_en"}``.

Endpoints: info, credentials/list, credentials/info, credentials/authorize,
credentials/sendOTP, signatures/signHash (docs/signing.md).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.errors import AuthenticationError
from ninja.security import HttpBearer

from lienthong import __version__
from lienthong.identity.sessions import address
from lienthong.signing import keys, selectors, services, tokens
from lienthong.signing.errors import SigningRefused, missing, no_credential

SOURCE = "csc"
SPECS = "2.0.0.2"


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        found = tokens.authenticate_token(token)
        if found is None:
            return None
        request.user = found.user
        return found


api = NinjaAPI(
    title="Liên Thông remote signing (CSC API v2)",
    version=SPECS,
    description=(
        "Remote signing in the shape of the Cloud Signature Consortium API v2: the key stays "
        "on the node, every signature is authorised by its holder with a one-time code or an "
        "approval on the phone (SCAL 2)."
    ),
    urls_namespace="csc-v2",
    auth=BearerToken(),
    docs_url=None,
    openapi_extra={"info": {"x-software-version": __version__}},
)


@api.exception_handler(SigningRefused)
def on_refused(request: HttpRequest, exc: SigningRefused):
    return api.create_response(request, exc.body(), status=exc.status)


def _unauthorized(request: HttpRequest, exc: Exception):
    refusal = SigningRefused(
        "invalid_token",
        "Cần mã truy cập hợp lệ (Authorization: Bearer …).",
        "The access token is missing, invalid or expired.",
        csc_error="invalid_token",
        status=401,
    )
    response = api.create_response(request, refusal.body(), status=401)
    response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


api.add_exception_handler(AuthenticationError, _unauthorized)


def _body(request: HttpRequest) -> dict[str, Any]:
    if not request.body:
        return {}
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SigningRefused(
            "malformed_request",
            "Nội dung yêu cầu không phải JSON hợp lệ.",
            "The request body is not valid JSON.",
        ) from exc
    if not isinstance(body, dict):
        raise SigningRefused(
            "malformed_request",
            "Nội dung yêu cầu phải là một đối tượng JSON.",
            "The request body must be a JSON object.",
        )
    return body


def _string(body: dict, name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise missing(name)
    return value


def _digests(body: dict) -> list[bytes]:
    """The hashes of a request: CSC v2's ``hashes``, or v1's ``hash`` (the name
    pyHanko's CSC client sends)."""
    name = "hashes" if "hashes" in body else "hash"
    values = body.get(name)
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise missing(name, "array")
    try:
        return [base64.b64decode(v, validate=True) for v in values]
    except (binascii.Error, ValueError) as exc:
        raise SigningRefused(
            "invalid_hash",
            f"Tham số {name} chứa giá trị không phải base64.",
            f"Invalid parameter {name}: not base64.",
        ) from exc


def _credential(request: HttpRequest, body: dict):
    credential = selectors.credential_for(request.user, _string(body, "credentialID"))
    if credential is None:
        raise no_credential()
    return credential


@api.post("/info", auth=None, summary="The service and what it offers")
def info(request: HttpRequest):
    return {
        "specs": SPECS,
        "name": f"Liên Thông remote signing — {settings.IDENTITY_RP_NAME}",
        "logo": "",
        "region": "VN",
        "lang": "vi-VN",
        "description": "Ký số từ xa (CSC API v2) / Remote signing (CSC API v2)",
        "authType": ["external"],
        "methods": [
            "credentials/list",
            "credentials/info",
            "credentials/authorize",
            "credentials/sendOTP",
            "signatures/signHash",
        ],
        "signAlgorithms": {"algos": [keys.ECDSA_WITH_SHA256]},
    }


@api.post("/credentials/list", summary="The caller's usable credentials")
def credentials_list(request: HttpRequest):
    body = _body(request)
    credentials = selectors.usable_credentials_of(request.user)
    max_results = body.get("maxResults")
    if isinstance(max_results, int) and max_results > 0:
        credentials = credentials[:max_results]
    answer: dict[str, Any] = {"credentialIDs": [c.credential_id for c in credentials]}
    if body.get("credentialInfo") is True:
        answer["credentialInfos"] = [
            {"credentialID": c.credential_id, **_describe(c, certificates="single", cert_info=True)}
            for c in credentials
        ]
    return answer


def _describe(credential, *, certificates: str, cert_info: bool) -> dict[str, Any]:
    usable = credential.is_usable()
    cert: dict[str, Any] = {"status": "valid" if usable else "invalid"}
    if certificates in ("single", "chain") and credential.certificate is not None:
        chain = [base64.b64encode(bytes(credential.certificate)).decode("ascii")]
        if certificates == "chain":
            chain += list(credential.chain)
        cert["certificates"] = chain
    if cert_info and credential.certificate is not None:
        cert.update(
            issuerDN=credential.issuer,
            serialNumber=credential.serial_number,
            subjectDN=credential.subject,
            validFrom=credential.not_before.strftime("%Y%m%d%H%M%SZ"),
            validTo=credential.not_after.strftime("%Y%m%d%H%M%SZ"),
        )
    return {
        "description": credential.label or credential.subject,
        "key": {
            "status": "enabled" if usable else "disabled",
            "algo": [keys.ECDSA_WITH_SHA256],
            "len": 256,
            "curve": keys.P256,
        },
        "cert": cert,
        "auth": {
            "mode": "explicit",
            "expression": "OTP",
            "objects": [
                {
                    "type": "OTP",
                    "id": "OTP",
                    "format": "N",
                    "generator": "totp",
                    "label": "Mã OTP / One-time code",
                    "description": "Mã từ ứng dụng xác thực hoặc SMS / A code from the "
                    "authenticator app or an SMS",
                }
            ],
        },
        "authMode": "explicit",
        "SCAL": "2",
        "multisign": settings.SIGNING_MAX_BATCH,
        "lang": "vi-VN",
    }


@api.post("/credentials/info", summary="A credential: certificate chain, key, authorisation")
def credentials_info(request: HttpRequest):
    body = _body(request)
    credential = _credential(request, body)
    certificates = body.get("certificates", "single")
    if certificates not in ("none", "single", "chain"):
        raise SigningRefused(
            "invalid_parameter",
            "Tham số certificates phải là none, single hoặc chain.",
            "Invalid parameter certificates (none, single or chain).",
        )
    return _describe(credential, certificates=certificates, cert_info=body.get("certInfo") is True)


@api.post("/credentials/sendOTP", summary="Send an SMS code to the holder's phone")
def credentials_send_otp(request: HttpRequest):
    body = _body(request)
    services.send_otp(user=request.user, credential_id=_string(body, "credentialID"), source=SOURCE)
    return api.create_response(request, {}, status=200)


@api.post("/credentials/authorize", summary="Authorise exactly these hashes: returns a SAD")
def credentials_authorize(request: HttpRequest):
    body = _body(request)
    credential_id = _string(body, "credentialID")
    num_signatures = body.get("numSignatures")
    if (
        not isinstance(num_signatures, int)
        or isinstance(num_signatures, bool)
        or num_signatures < 1
    ):
        raise missing("numSignatures", "integer")
    # SCAL 2: the hashes are part of the authorisation.
    digests = _digests(body)
    otp = body.get("OTP")
    approval_id = body.get("approvalID")
    if otp is not None and not isinstance(otp, str):
        raise missing("OTP")
    if approval_id is not None and not isinstance(approval_id, str):
        raise missing("approvalID")
    issued = services.authorize(
        user=request.user,
        credential_id=credential_id,
        digests=digests,
        num_signatures=num_signatures,
        otp=otp,
        otp_method=body.get("OTPMethod") if isinstance(body.get("OTPMethod"), str) else None,
        approval_id=approval_id,
        description=body.get("description") if isinstance(body.get("description"), str) else "",
        address=address(request),
        source=SOURCE,
    )
    return {"SAD": issued.sad, "expiresIn": issued.expires_in}


@api.post("/signatures/signHash", summary="Sign authorised hashes (DER signatures)")
def signatures_sign_hash(request: HttpRequest):
    body = _body(request)
    credential_id = _string(body, "credentialID")
    sad = _string(body, "SAD")
    digests = _digests(body)
    sign_algo = _string(body, "signAlgo")
    hash_algo = _string(
        body, "hashAlgorithmOID" if "hashAlgorithmOID" in body else "hashAlgo", required=False
    )
    signatures = services.sign_hashes(
        user=request.user,
        credential_id=credential_id,
        sad=sad,
        digests=digests,
        sign_algo=sign_algo,
        hash_algo=hash_algo,
        source=SOURCE,
    )
    return {"signatures": [base64.b64encode(s).decode("ascii") for s in signatures]}
