"""Synchronous queries: a system calls another agency's service through its node.

One node hosts both agencies (conftest ``node``); the client's node reaches the
provider's node through the real API (WSGI transport), and the provider
system's backend is an httpx mock that records what it was asked.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json

import httpx
import pytest
import time_machine

from lienthong.exchange import adapter, log, queries
from lienthong.exchange import envelope as envelopes
from lienthong.exchange.models import AccessRight, LogRecord, QueryRecord, QueryService
from lienthong.exchange.tests.conftest import MINISTRY, OFFICE
from lienthong.trust import signing

PROVIDER = f"VN:GOV:{OFFICE}:registry"
SERVICE_URL = f"/api/v1/exchange/query/{PROVIDER}/birth_records"


class Backend:
    """The provider system: answers from ``reply`` and keeps every request it got."""

    def __init__(self):
        self.requests: list[httpx.Request] = []
        self.reply = lambda request: httpx.Response(
            200, json={"record": request.url.path, "query": request.url.query.decode()}
        )

    def handler(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.reply(request)


@pytest.fixture
def backend(node, monkeypatch):
    backend = Backend()
    backend_http = httpx.Client(transport=httpx.MockTransport(backend.handler))
    monkeypatch.setattr(queries, "node_client", lambda: node.http)
    monkeypatch.setattr(queries, "backend_client", lambda: backend_http)
    QueryService.objects.create(
        agency=node.office,
        subsystem="registry",
        code="birth_records",
        backend_url="http://registry.test/api",
        timeout_seconds=5,
    )
    AccessRight.objects.create(
        provider=node.office, message_type="query.birth_records", consumer=node.ministry
    )
    _, token = adapter.add_system(
        actor="test", agency=node.ministry, subsystem="dossiers", name="TEST one-stop system"
    )
    backend.token = token
    yield backend
    backend_http.close()


def ask(node, backend, method="GET", url=SERVICE_URL + "/records/42?year=2026", **kwargs):
    headers = {"Authorization": f"Bearer {backend.token}", **kwargs.pop("headers", {})}
    return node.http.request(method, url, headers=headers, **kwargs)


def signed_request(node, **changes) -> str:
    """A query as the ministry's node would sign it (for the provider-side checks)."""
    body = b""
    request = {
        "type": queries.QUERY_TYPE,
        "id": envelopes.uuid7(),
        "client": f"VN:GOV:{MINISTRY}:dossiers",
        "provider": PROVIDER,
        "service": "birth_records",
        "method": "GET",
        "path": "/records/42",
        "query": "",
        "content_type": "",
        "body": "",
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "correlation_id": "",
        "created_at": envelopes.format_time(dt.datetime.now(dt.UTC)),
        **changes,
    }
    return signing.sign_jws(
        actor="test", key=node.keys[MINISTRY], payload=request, source="test", audit=False
    )


def provider_answer(node, token: str) -> dict:
    reply = node.http.post("/api/v1/exchange/queries", json={"request": token})
    assert reply.status_code == 200, reply.text
    return envelopes.unverified_payload(reply.json()["response"])


def test_a_query_reaches_the_provider_system_and_its_answer_comes_back(node, backend):
    reply = ask(node, backend, headers={"X-Lienthong-Correlation-Id": "000.00.00.G12-261201-0001"})

    assert reply.status_code == 200, reply.text
    assert reply.json() == {"record": "/api/records/42", "query": "year=2026"}
    assert reply.headers["content-type"] == "application/json"
    [forwarded] = backend.requests
    assert forwarded.method == "GET"
    assert forwarded.headers["X-Lienthong-Client"] == f"VN:GOV:{MINISTRY}:dossiers"
    assert forwarded.headers["X-Lienthong-Query-Id"] == reply.headers["X-Lienthong-Query-Id"]
    assert forwarded.headers["X-Lienthong-Correlation-Id"] == "000.00.00.G12-261201-0001"
    assert "authorization" not in forwarded.headers


def test_the_response_carries_the_hash_of_the_signed_request_and_both_sides_log_both(node, backend):
    reply = ask(node, backend)
    query_id = reply.headers["X-Lienthong-Query-Id"]

    records = {r.kind: r for r in LogRecord.objects.filter(envelope_id=query_id)}
    assert set(records) == {
        LogRecord.Kind.QUERY_SENT,
        LogRecord.Kind.QUERY_RECEIVED,
        LogRecord.Kind.RESPONSE_SENT,
        LogRecord.Kind.RESPONSE_RECEIVED,
    }
    request_token = records[LogRecord.Kind.QUERY_SENT].content
    response_token = records[LogRecord.Kind.RESPONSE_RECEIVED].content
    assert records[LogRecord.Kind.QUERY_RECEIVED].content == request_token
    assert records[LogRecord.Kind.RESPONSE_SENT].content == response_token
    request_sha256 = hashlib.sha256(request_token.encode()).hexdigest()
    response = envelopes.unverified_payload(response_token)
    assert (
        response["request_sha256"] == request_sha256 == reply.headers["X-Lienthong-Request-Sha256"]
    )
    assert response["provider"] == PROVIDER
    assert json.loads(base64.b64decode(response["body"])) == reply.json()
    sides = {q.side: q for q in QueryRecord.objects.filter(query_id=query_id)}
    assert set(sides) == {"sent", "received"}
    assert sides["sent"].status == sides["received"].status == 200
    assert sides["received"].request_sha256 == request_sha256
    assert log.verify().intact


def test_a_posted_body_and_its_content_type_reach_the_backend(node, backend):
    backend.reply = lambda request: httpx.Response(
        201, content=request.content[::-1], headers={"Content-Type": "text/plain"}
    )

    reply = ask(
        node,
        backend,
        "POST",
        SERVICE_URL,
        content="Nguyễn Văn A".encode(),
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )

    assert reply.status_code == 201
    assert reply.content == "Nguyễn Văn A".encode()[::-1]
    assert backend.requests[0].headers["Content-Type"] == "text/plain; charset=utf-8"
    assert backend.requests[0].url.path == "/api"


def test_the_providers_error_status_is_passed_through(node, backend):
    backend.reply = lambda request: httpx.Response(404, json={"detail": "no such record"})

    reply = ask(node, backend)

    assert reply.status_code == 404
    assert reply.json() == {"detail": "no such record"}


def test_a_caller_without_an_access_right_is_refused_and_the_backend_never_called(node, backend):
    AccessRight.objects.filter(message_type="query.birth_records").delete()

    reply = ask(node, backend)

    assert reply.status_code == 403
    assert reply.json()["code"] == "forbidden"
    assert backend.requests == []
    assert QueryRecord.objects.get(side="sent").error == "forbidden"
    assert not QueryRecord.objects.filter(side="received").exists()


def test_a_family_right_covers_every_query_service(node, backend):
    AccessRight.objects.filter(message_type="query.birth_records").update(message_type="query.*")

    assert ask(node, backend).status_code == 200


def test_an_unknown_service_is_refused(node, backend):
    reply = ask(node, backend, url=f"/api/v1/exchange/query/{PROVIDER}/death_records/1")

    assert reply.status_code == 404
    assert reply.json()["code"] == "unknown_service"


def test_a_disabled_service_is_unknown(node, backend):
    QueryService.objects.update(is_enabled=False)

    assert ask(node, backend).json()["code"] == "unknown_service"


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("/api/v1/exchange/query/VN:GOV:bad:registry/birth_records", "invalid_provider"),
        (f"/api/v1/exchange/query/{PROVIDER}/Birth-Records", "invalid_service"),
        (f"/api/v1/exchange/query/VN:GOV:{OFFICE.replace('G22', 'G99')}:x/s", "unknown_provider"),
    ],
)
def test_a_bad_address_gets_a_clear_client_error(node, backend, url, code):
    reply = ask(node, backend, url=url)

    assert reply.json()["code"] == code
    assert 400 <= reply.status_code < 500
    assert reply.json()["message_vi"] and reply.json()["message_en"]


def test_a_body_over_the_limit_is_refused_before_anything_is_signed(node, backend, settings):
    settings.EXCHANGE_QUERY_MAX_BYTES = 1000

    reply = ask(node, backend, "POST", SERVICE_URL, content=b"x" * 1001)

    assert reply.status_code == 413
    assert reply.json()["code"] == "body_too_large"
    assert not LogRecord.objects.exists()


def test_a_query_without_a_system_token_is_unauthenticated(node, backend):
    reply = node.http.get(SERVICE_URL)

    assert reply.status_code == 401


def test_a_replayed_request_is_refused_and_reaches_the_backend_once(node, backend):
    token = signed_request(node)

    first = provider_answer(node, token)
    second = provider_answer(node, token)

    assert first["error"] is None and first["status"] == 200
    assert second["error"] == "replayed"
    assert len(backend.requests) == 1


def test_a_tampered_request_is_refused_with_a_signed_answer(node, backend):
    header, payload, signature = signed_request(node).split(".")
    claimed = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claimed["path"] = "/records/43"
    forged = base64.urlsafe_b64encode(json.dumps(claimed).encode()).rstrip(b"=").decode()

    answer = provider_answer(node, f"{header}.{forged}.{signature}")

    assert answer["error"] == "signature_invalid"
    assert backend.requests == []


def test_a_request_signed_by_another_agency_than_the_client_is_refused(node, backend):
    token = signed_request(node, client=f"VN:GOV:{OFFICE}:dossiers")

    # The office's own right: only the ministry holds one, and the key is the ministry's.
    assert provider_answer(node, token)["error"] == "sender_mismatch"


def test_a_request_older_than_the_clock_skew_is_refused(node, backend, settings):
    token = signed_request(node)

    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=301), tick=False):
        answer = provider_answer(node, token)

    assert answer["error"] == "expired"
    assert backend.requests == []


def test_a_garbled_request_is_malformed(node, backend):
    assert provider_answer(node, "not.a.jws")["error"] == "malformed"
    assert provider_answer(node, signed_request(node, method="TRACE"))["error"] == "malformed"


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        (httpx.ConnectError("refused"), 502, "backend_unavailable"),
        (httpx.ReadTimeout("slow"), 504, "backend_timeout"),
    ],
)
def test_a_backend_that_fails_gets_a_gateway_error(node, backend, failure, status, code):
    def fail(request):
        raise failure

    backend.reply = fail

    reply = ask(node, backend)

    assert reply.status_code == status
    assert reply.json()["code"] == code
    assert QueryRecord.objects.get(side="received").error == code


def test_a_backend_answer_over_the_limit_is_not_carried(node, backend, settings):
    settings.EXCHANGE_QUERY_MAX_BYTES = 100
    backend.reply = lambda request: httpx.Response(200, content=b"x" * 101)

    reply = ask(node, backend)

    assert reply.status_code == 502
    assert reply.json()["code"] == "response_too_large"


def test_a_response_altered_on_the_way_is_refused_by_the_clients_node(node, backend, monkeypatch):
    def tamper(request: httpx.Request) -> httpx.Response:
        reply = node.http.send(request)
        header, payload, signature = reply.json()["response"].split(".")
        claimed = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claimed["status"] = 500
        forged = base64.urlsafe_b64encode(json.dumps(claimed).encode()).rstrip(b"=").decode()
        return httpx.Response(200, json={"response": f"{header}.{forged}.{signature}"})

    monkeypatch.setattr(
        queries, "node_client", lambda: httpx.Client(transport=httpx.MockTransport(tamper))
    )

    reply = ask(node, backend)

    assert reply.status_code == 502
    assert reply.json()["code"] == "response_invalid"


def test_an_unreachable_provider_node_is_a_gateway_error(node, backend, monkeypatch):
    def down(request):
        raise httpx.ConnectError("connection refused")

    monkeypatch.setattr(
        queries, "node_client", lambda: httpx.Client(transport=httpx.MockTransport(down))
    )

    reply = ask(node, backend)

    assert reply.status_code == 502
    assert reply.json()["code"] == "provider_unreachable"
    # The signed request left (or tried to): it is in the client's log.
    assert LogRecord.objects.filter(kind=LogRecord.Kind.QUERY_SENT).count() == 1
