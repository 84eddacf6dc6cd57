"""Synchronous queries between systems, in the manner of X-Road's REST services.

A system connected to its node (``SystemClient``, adapter.py) calls::

    {METHOD} /api/v1/exchange/query/VN:GOV:{agency}:{subsystem}/{service}/{path}?{query}

Its node (the client's node) signs the request as the system's agency and
posts it to the provider agency's node (``POST /api/v1/exchange/queries``).
The provider's node checks it exactly as it checks an envelope — signature,
chain to a trusted root of either hierarchy, revocation, the client agency in
the directory and the signer its own, the provider agency hosted here, clock
skew, an access right of type ``query.{service}`` (or ``query.*``), replay —
then forwards it to the provider system's registered backend
(``QueryService``), and answers with a response signed by the provider agency
that carries the SHA-256 of the signed request. The client's node verifies
that response (signature, signer, request hash, body hash) before handing the
backend's status, content type and body to the calling system.

Both sides log the signed request and the signed response in their message
log (log.py) and keep one ``QueryRecord`` each; the provider's record is
written before its backend is called, under a unique (id, side) constraint,
so a replayed request never reaches a backend twice.

A refusal is a signed response too: ``status`` is the HTTP status the client's
node answers with and ``error`` a stable code (``ERRORS``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from lienthong.audit import services as audit
from lienthong.audit.models import AuditRecord
from lienthong.directory.models import Agency
from lienthong.exchange import delivery, facts, log, services, tls
from lienthong.exchange import envelope as envelopes
from lienthong.exchange.models import LogRecord, QueryRecord, QueryService, SystemClient
from lienthong.trust import signing
from lienthong.trust.validation.jws import verify_jws
from lienthong.trust.validation.report import Indication

QUERY_TYPE = "exchange.query"
RESPONSE_TYPE = "exchange.query-response"
NODE_PATH = "/api/v1/exchange/queries"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
SERVICE_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")
# A path below the service: RFC 3986 path characters, percent-encoded as needed.
PATH_RE = re.compile(r"(?:/[A-Za-z0-9._~!$&'()*+,;=:@%-]*)*")
QUERY_STRING_RE = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*")
CONTENT_TYPE_RE = re.compile(
    r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}"
    r"(?:\s*;\s*[A-Za-z0-9_.-]+=[A-Za-z0-9_.\"-]+){0,4}"
)
REQUEST_MEMBERS = {
    "type",
    "id",
    "client",
    "provider",
    "service",
    "method",
    "path",
    "query",
    "content_type",
    "body",
    "body_sha256",
    "correlation_id",
    "created_at",
}

# code: (HTTP status the client's node answers with, Vietnamese, English)
ERRORS: dict[str, tuple[int, str, str]] = {
    "invalid_provider": (
        400,
        "Mã thành viên cung cấp dịch vụ không hợp lệ",
        "The provider member identifier is not valid",
    ),
    "invalid_service": (400, "Mã dịch vụ không hợp lệ", "The service code is not valid"),
    "invalid_path": (
        400,
        "Đường dẫn hoặc tham số truy vấn không hợp lệ",
        "The path or query string is not valid",
    ),
    "invalid_correlation_id": (
        400,
        "Mã tương quan (mã hồ sơ) không hợp lệ",
        "The correlation id (dossier code) is not valid",
    ),
    "body_too_large": (
        413,
        "Nội dung yêu cầu vượt quá giới hạn cho phép",
        "The request body is larger than allowed",
    ),
    "unknown_provider": (
        404,
        "Danh bạ không có nút của cơ quan cung cấp dịch vụ",
        "The directory lists no node for the providing agency",
    ),
    "no_signing_key": (
        503,
        "Nút không giữ khóa ký nào đang dùng được của cơ quan",
        "The node holds no enabled signing key of the agency",
    ),
    "directory_expired": (
        503,
        "Bản danh bạ của nút đã hết hạn; tạm ngừng trao đổi",
        "The node's copy of the directory has expired; exchange is paused",
    ),
    "provider_unreachable": (
        502,
        "Không kết nối được tới nút của cơ quan cung cấp dịch vụ",
        "The provider's node cannot be reached",
    ),
    "provider_timeout": (
        504,
        "Nút của cơ quan cung cấp dịch vụ không trả lời kịp",
        "The provider's node did not answer in time",
    ),
    "response_invalid": (
        502,
        "Trả lời của nút cung cấp không có chữ ký hợp lệ hoặc không khớp yêu cầu",
        "The provider node's answer is not validly signed or does not match the request",
    ),
    # Refusals by the provider's node (carried in its signed response).
    "malformed": (
        502,
        "Nút cung cấp không đọc được yêu cầu",
        "The provider's node could not read the request",
    ),
    "unknown_recipient": (
        404,
        "Cơ quan cung cấp dịch vụ không thuộc nút này",
        "The providing agency is not hosted by that node",
    ),
    "unknown_service": (
        404,
        "Cơ quan không cung cấp dịch vụ này",
        "The agency provides no such service",
    ),
    "forbidden": (
        403,
        "Hệ thống gọi không có quyền dùng dịch vụ này",
        "The calling agency may not use this service",
    ),
    "replayed": (409, "Yêu cầu này đã được gửi trước đó", "This request was already sent"),
    "expired": (
        502,
        "Yêu cầu đã quá hạn khi tới nút cung cấp",
        "The request was too old when it arrived",
    ),
    "backend_unavailable": (
        502,
        "Hệ thống cung cấp dịch vụ không trả lời",
        "The providing system does not answer",
    ),
    "backend_timeout": (
        504,
        "Hệ thống cung cấp dịch vụ không trả lời kịp",
        "The providing system did not answer in time",
    ),
    "response_too_large": (
        502,
        "Trả lời của hệ thống cung cấp vượt quá giới hạn",
        "The providing system's answer is larger than allowed",
    ),
}
for _code in (
    "signature_invalid",
    "untrusted_chain",
    "certificate_revoked",
    "revocation_unknown",
    "signature_indeterminate",
    "unknown_sender",
    "sender_mismatch",
    "clock_skew",
):
    ERRORS[_code] = (502, *services.REFUSALS[_code])


class QueryFailed(Exception):
    """The client's node cannot carry the query; ``code`` is in ``ERRORS``."""

    def __init__(self, code: str, detail: str = ""):
        self.code, self.detail = code, detail
        self.status, self.message_vi, self.message_en = ERRORS[code]
        super().__init__(f"{code}: {detail}" if detail else code)


@dataclass
class Answer:
    """What the client's node hands the calling system."""

    query_id: str
    status: int
    content_type: str
    body: bytes
    request_sha256: str
    response_sha256: str
    error: str | None = None


def _sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("body is not a string")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError("body is not base64") from exc


# --- Services a node provides ---------------------------------------------------------------


def register_service(
    *,
    actor: Any,
    agency: Agency,
    subsystem: str,
    code: str,
    backend_url: str,
    timeout_seconds: int = 20,
    enabled: bool = True,
) -> QueryService:
    """Provide (or change) ``VN:GOV:{agency}:{subsystem}/{code}``, forwarded to
    ``backend_url``; audited. Raises ``ValueError`` for a bad code or URL."""
    envelopes.Member.parse(f"VN:GOV:{agency.identifier}:{subsystem}", "subsystem")
    if not SERVICE_RE.fullmatch(code):
        raise ValueError(f"not a service code (lower case, digits, underscores): {code}")
    url = httpx.URL(backend_url)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"not an http(s) URL: {backend_url}")
    if not 1 <= timeout_seconds <= 300:
        raise ValueError("the timeout must be between 1 and 300 seconds")
    with transaction.atomic():
        service, created = QueryService.objects.select_for_update().get_or_create(
            agency=agency,
            subsystem=subsystem,
            code=code,
            defaults={
                "backend_url": backend_url,
                "timeout_seconds": timeout_seconds,
                "is_enabled": enabled,
            },
        )
        before = audit.snapshot(service)
        if not created:
            service.backend_url, service.timeout_seconds = backend_url, timeout_seconds
            service.is_enabled = enabled
            service.save()
        audit.record(
            actor=actor,
            action=AuditRecord.Action.CREATE if created else AuditRecord.Action.UPDATE,
            obj=service,
            changes=audit.diff({} if created else before, audit.snapshot(service)),
            source="exchange",
        )
    return service


# --- HTTP clients (pooled per process, keep-alive) ------------------------------------------

_clients = threading.local()


def node_client() -> httpx.Client:
    """The client's node → the provider's node (mutual TLS when configured)."""
    client = getattr(_clients, "node", None)
    if client is None:
        client = _clients.node = delivery.client(timeout=settings.EXCHANGE_QUERY_TIMEOUT)
    return client


def backend_client() -> httpx.Client:
    """The provider's node → its own backends (timeouts are per service)."""
    client = getattr(_clients, "backend", None)
    if client is None:
        client = _clients.backend = httpx.Client(follow_redirects=False)
    return client


def forget_clients() -> None:
    """Drop this thread's pooled clients (tests swap the transports)."""
    for name in ("node", "backend"):
        client = getattr(_clients, name, None)
        if client is not None:
            client.close()
            delattr(_clients, name)


# --- The client's node -----------------------------------------------------------------------


def _provider_endpoint(provider: envelopes.Member) -> tuple[str, str]:
    """The provider node's query endpoint and its pinned TLS certificate (if listed)."""
    node = services.receiving_node(provider.agency)
    if node is None:
        raise QueryFailed("unknown_provider", provider.agency)
    return node.exchange_endpoint + NODE_PATH, node.tls_certificate_sha256


def call(
    *,
    system: SystemClient,
    provider: str,
    service: str,
    method: str,
    path: str = "",
    query: str = "",
    body: bytes = b"",
    content_type: str = "",
    correlation_id: str = "",
) -> Answer:
    """Carry one query of ``system`` to ``provider``'s ``service`` and return the
    provider's verified answer (or raise ``QueryFailed``)."""
    try:
        provider_member = envelopes.Member.parse(provider, "provider")
    except envelopes.EnvelopeError as exc:
        raise QueryFailed("invalid_provider", provider[:120]) from exc
    if not SERVICE_RE.fullmatch(service):
        raise QueryFailed("invalid_service", service[:60])
    method = method.upper()
    if method not in METHODS or len(path) > 500 or not PATH_RE.fullmatch(path):
        raise QueryFailed("invalid_path", path[:120])
    if len(query) > 2000 or not QUERY_STRING_RE.fullmatch(query):
        raise QueryFailed("invalid_path", query[:120])
    if correlation_id and not envelopes.CORRELATION_RE.fullmatch(correlation_id):
        raise QueryFailed("invalid_correlation_id", correlation_id[:120])
    if len(body) > settings.EXCHANGE_QUERY_MAX_BYTES:
        raise QueryFailed("body_too_large", str(len(body)))
    content_type = content_type.strip()[:200]
    if content_type and not CONTENT_TYPE_RE.fullmatch(content_type):
        content_type = "application/octet-stream"
    if facts.expired_copy():
        raise QueryFailed("directory_expired")
    endpoint, pin = _provider_endpoint(provider_member)
    try:
        key = services.agency_key(system.agency.identifier)
    except services.ExchangeRefused as exc:
        raise QueryFailed("no_signing_key", system.agency.identifier) from exc
    started = timezone.now()
    clock = time.perf_counter()
    request = {
        "type": QUERY_TYPE,
        "id": envelopes.uuid7(),
        "client": system.member,
        "provider": str(provider_member),
        "service": service,
        "method": method,
        "path": path,
        "query": query,
        "content_type": content_type,
        "body": _b64(body),
        "body_sha256": _sha256(body),
        "correlation_id": correlation_id,
        "created_at": envelopes.format_time(started),
    }
    token = signing.sign_jws(
        actor="exchange", key=key, payload=request, source="exchange", audit=False
    )
    record = QueryRecord(
        query_id=request["id"],
        side=QueryRecord.Side.SENT,
        client=system.member,
        provider=str(provider_member),
        service=service,
        method=method,
        path=path[:500],
        correlation_id=correlation_id,
        started_at=started,
        request_sha256=_sha256(token),
    )
    try:
        answer = _exchange(endpoint, pin, token, request, provider_member)
    except QueryFailed as failed:
        record.error, record.status = failed.code, failed.status
        record.duration_ms = (time.perf_counter() - clock) * 1000
        with transaction.atomic():
            record.save()
            log.append(
                kind=LogRecord.Kind.QUERY_SENT,
                envelope_id=request["id"],
                correlation_id=correlation_id,
                content=token,
            )
        raise
    response_token, answer = answer
    record.status, record.error = answer.status, answer.error or ""
    record.response_sha256 = answer.response_sha256
    record.duration_ms = (time.perf_counter() - clock) * 1000
    with transaction.atomic():
        record.save()
        log.append_many(
            [
                (LogRecord.Kind.QUERY_SENT, request["id"], correlation_id, token),
                (LogRecord.Kind.RESPONSE_RECEIVED, request["id"], correlation_id, response_token),
            ]
        )
    return answer


def _exchange(
    endpoint: str, pin: str, token: str, request: dict[str, Any], provider: envelopes.Member
) -> tuple[str, Answer]:
    try:
        reply = node_client().post(endpoint, json={"request": token})
        tls.check_pin(reply, pin)
    except httpx.TimeoutException as exc:
        raise QueryFailed("provider_timeout", str(exc)) from exc
    except httpx.HTTPError as exc:
        raise QueryFailed("provider_unreachable", str(exc)) from exc
    try:
        response_token = reply.json()["response"]
        if not isinstance(response_token, str):
            raise TypeError("response is not a string")
    except (ValueError, KeyError, TypeError) as exc:
        raise QueryFailed("provider_unreachable", f"HTTP {reply.status_code}") from exc
    request_sha256 = _sha256(token)
    try:
        claimed = envelopes.unverified_payload(response_token)
        if not isinstance(claimed, dict) or claimed.get("type") != RESPONSE_TYPE:
            raise ValueError("not a query response")
        if claimed.get("id") != request["id"] or claimed.get("request_sha256") != request_sha256:
            raise ValueError("the response answers another request")
        body = _unb64(claimed.get("body", ""))
        if claimed.get("body_sha256") != _sha256(body):
            raise ValueError("the body does not match its digest")
        status = claimed.get("status")
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError("no HTTP status")
        error = claimed.get("error")
        if error is not None and error not in ERRORS:
            raise ValueError(f"unknown error code {error!r}")
    except ValueError as exc:
        raise QueryFailed("response_invalid", str(exc)) from exc
    verified = verify_jws(response_token)
    if verified.indication != Indication.TOTAL_PASSED:
        raise QueryFailed("response_invalid", f"{verified.indication}/{verified.sub_indication}")
    if verified.signer is None or provider.agency not in verified.signer.identifiers:
        raise QueryFailed("response_invalid", "not signed by the providing agency")
    return response_token, Answer(
        query_id=request["id"],
        status=status,
        content_type=str(claimed.get("content_type") or ""),
        body=body,
        request_sha256=request_sha256,
        response_sha256=_sha256(response_token),
        error=error,
    )


# --- The provider's node ---------------------------------------------------------------------


# One refusal for every signed message: services.authenticate raises it too.
_Refused = services._Refusal


def _parse_request(claimed: Any) -> dict[str, Any]:
    """The request's members, strictly: anything unexpected is ``malformed``."""
    if not isinstance(claimed, dict) or set(claimed) != REQUEST_MEMBERS:
        raise _Refused("malformed", "members")
    if claimed["type"] != QUERY_TYPE or not envelopes._is_uuid7(claimed["id"]):
        raise _Refused("malformed", "type or id")
    try:
        client = envelopes.Member.parse(claimed["client"], "client")
        provider = envelopes.Member.parse(claimed["provider"], "provider")
        created_at = envelopes.parse_time(claimed["created_at"])
    except envelopes.EnvelopeError as exc:
        raise _Refused("malformed", exc.code) from exc
    checks = [
        isinstance(claimed["service"], str) and SERVICE_RE.fullmatch(claimed["service"]),
        claimed["method"] in METHODS,
        isinstance(claimed["path"], str) and PATH_RE.fullmatch(claimed["path"]),
        isinstance(claimed["query"], str) and QUERY_STRING_RE.fullmatch(claimed["query"]),
        isinstance(claimed["content_type"], str) and len(claimed["content_type"]) <= 200,
        isinstance(claimed["correlation_id"], str)
        and (
            not claimed["correlation_id"]
            or envelopes.CORRELATION_RE.fullmatch(claimed["correlation_id"])
        ),
    ]
    if not all(checks):
        raise _Refused("malformed", "fields")
    try:
        body = _unb64(claimed["body"])
    except ValueError as exc:
        raise _Refused("malformed", str(exc)) from exc
    if claimed["body_sha256"] != _sha256(body):
        raise _Refused("malformed", "body digest")
    return {
        **claimed,
        "client": client,
        "provider": provider,
        "created_at": created_at,
        "body": body,
    }


def answer(token: Any) -> str:
    """Judge a signed query, forward it to the backend if every check passes, and
    return the signed response (a refusal is a signed response with an error code)."""
    now = timezone.now()
    request_sha256 = _sha256(token) if isinstance(token, str) else ""
    request: dict[str, Any] | None = None
    try:
        if not isinstance(token, str) or len(token) > max_request_chars():
            raise _Refused("malformed", "too large or not text")
        try:
            claimed = envelopes.unverified_payload(token)
        except ValueError as exc:
            raise _Refused("malformed", str(exc)) from exc
        request = _parse_request(claimed)
        service = _admit(token, request, now)
        record = _register(request, request_sha256, now)
    except _Refused as refused:
        return _refusal(refused.code, request, request_sha256)
    return _forward(token, request, service, record)


def max_request_chars() -> int:
    # Base64 of the body in JSON inside base64url JWS: about 1.8 times the body, plus headers.
    return settings.EXCHANGE_QUERY_MAX_BYTES * 2 + 64 * 1024


def _admit(token: str, request: dict[str, Any], now: dt.datetime) -> QueryService:
    """The provider's checks, in the order of services.py's receiver, then the service."""
    if facts.expired_copy(now):
        raise _Refused("directory_expired")
    directory = services._Directory()
    provider: envelopes.Member = request["provider"]
    sender, hosted = services.authenticate(
        token, sender=request["client"].agency, recipient=provider.agency, directory=directory
    )
    # A query is answered at once: its creation time must be near ours either way.
    skew = dt.timedelta(seconds=settings.EXCHANGE_MAX_CLOCK_SKEW)
    if request["created_at"] > now + skew:
        raise _Refused("clock_skew")
    if request["created_at"] < now - skew:
        raise _Refused("expired")
    service = facts.query_service(hosted, provider.subsystem, request["service"])
    if service is None:
        raise _Refused("unknown_service", request["service"])
    if not directory.allowed(sender, hosted, f"query.{request['service']}"):
        raise _Refused("forbidden")
    return service


def _register(request: dict[str, Any], request_sha256: str, now: dt.datetime) -> QueryRecord:
    """The provider's record, committed before the backend is called: a second
    request under the same id (a replay) fails on the unique constraint."""
    try:
        with transaction.atomic():
            return QueryRecord.objects.create(
                query_id=request["id"],
                side=QueryRecord.Side.RECEIVED,
                client=str(request["client"]),
                provider=str(request["provider"]),
                service=request["service"],
                method=request["method"],
                path=request["path"][:500],
                correlation_id=request["correlation_id"],
                started_at=now,
                request_sha256=request_sha256,
            )
    except IntegrityError as exc:
        raise _Refused("replayed") from exc


def _forward(
    token: str, request: dict[str, Any], service: QueryService, record: QueryRecord
) -> str:
    clock = time.perf_counter()
    url = service.backend_url.rstrip("/") + request["path"]
    if request["query"]:
        url += "?" + request["query"]
    headers = {
        "X-Lienthong-Client": str(request["client"]),
        "X-Lienthong-Query-Id": request["id"],
    }
    if request["content_type"]:
        headers["Content-Type"] = request["content_type"]
    if request["correlation_id"]:
        headers["X-Lienthong-Correlation-Id"] = request["correlation_id"]
    error, status, content_type, body = None, 200, "", b""
    try:
        with backend_client().stream(
            request["method"],
            url,
            content=request["body"] or None,
            headers=headers,
            timeout=service.timeout_seconds,
        ) as reply:
            chunks, size = [], 0
            for chunk in reply.iter_bytes():
                size += len(chunk)
                if size > settings.EXCHANGE_QUERY_MAX_BYTES:
                    raise _Refused("response_too_large")
                chunks.append(chunk)
            status = reply.status_code
            content_type = reply.headers.get("content-type", "")[:200]
            body = b"".join(chunks)
    except httpx.TimeoutException:
        error = "backend_timeout"
    except httpx.HTTPError:
        error = "backend_unavailable"
    except _Refused as refused:
        error = refused.code
    if error:
        status, content_type, body = ERRORS[error][0], "", b""
    response = _response_body(
        request["id"], _sha256(token), request["provider"], status, content_type, body, error
    )
    signed = services.sign_as_node(
        response, preferred=[request["provider"].agency], what_vi="trả lời", what_en="answers"
    )
    record.status, record.error = status, error or ""
    record.response_sha256 = _sha256(signed)
    record.duration_ms = (time.perf_counter() - clock) * 1000
    with transaction.atomic():
        record.save(update_fields=["status", "error", "response_sha256", "duration_ms"])
        log.append_many(
            [
                (LogRecord.Kind.QUERY_RECEIVED, request["id"], request["correlation_id"], token),
                (LogRecord.Kind.RESPONSE_SENT, request["id"], request["correlation_id"], signed),
            ]
        )
    return signed


def _response_body(
    query_id: str,
    request_sha256: str,
    provider: Any,
    status: int,
    content_type: str,
    body: bytes,
    error: str | None,
) -> dict[str, Any]:
    return {
        "type": RESPONSE_TYPE,
        "id": query_id,
        "request_sha256": request_sha256,
        "provider": str(provider),
        "status": status,
        "content_type": content_type,
        "body": _b64(body),
        "body_sha256": _sha256(body),
        "error": error,
        "responded_at": envelopes.format_time(timezone.now()),
    }


def _refusal(code: str, request: dict[str, Any] | None, request_sha256: str) -> str:
    """A signed refusal; logged (the response, which names the request's hash) but the
    refused request itself is not stored."""
    query_id = request["id"] if request else ""
    provider = request["provider"] if request else ""
    preferred = [request["provider"].agency] if request else []
    response = _response_body(query_id, request_sha256, provider, ERRORS[code][0], "", b"", code)
    signed = services.sign_as_node(
        response, preferred=preferred, what_vi="trả lời", what_en="answers"
    )
    with transaction.atomic():
        log.append(
            kind=LogRecord.Kind.RESPONSE_SENT,
            envelope_id=query_id,
            correlation_id=request["correlation_id"] if request else "",
            content=signed,
        )
    return signed
