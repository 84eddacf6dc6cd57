"""The adapter API: a system not built on Liên Thông sends, follows, pulls and acknowledges."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from lienthong.exchange import adapter, delivery
from lienthong.exchange.models import InboundMessage, SystemClient
from lienthong.exchange.tests.conftest import MINISTRY, OFFICE


@pytest.fixture
def systems(node):
    """The ministry's one-stop system sends; the office's records system receives."""
    _, ministry_token = adapter.add_system(
        actor="test", agency=node.ministry, subsystem="dossiers", name="TEST one-stop system"
    )
    _, office_token = adapter.add_system(
        actor="test", agency=node.office, subsystem="dossiers", name="TEST records system"
    )
    return {"ministry": ministry_token, "office": office_token}


def call(node, method, path, token=None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return node.http.request(method, f"/api/v1{path}", headers=headers, **kwargs)


def test_send_follow_pull_and_acknowledge(node, systems):
    sent = call(
        node,
        "POST",
        "/exchange/outbox",
        systems["ministry"],
        json={
            "type": "dossier.status",
            "recipient": f"VN:GOV:{OFFICE}:dossiers",
            "correlation_id": "000.00.00.G12-261128-0007",
            "payload": {"status": 2},
        },
    )
    assert sent.status_code == 201, sent.text
    envelope_id = sent.json()["envelope_id"]
    assert sent.json()["state"] == "queued"

    delivery.deliver_due(node.http)
    followed = call(node, "GET", f"/exchange/outbox/{envelope_id}", systems["ministry"])
    assert followed.json()["state"] == "delivered"

    inbox = call(node, "GET", "/exchange/inbox", systems["office"]).json()
    assert [m["envelope_id"] for m in inbox] == [envelope_id]
    assert inbox[0]["sender"] == f"VN:GOV:{MINISTRY}:dossiers"
    assert inbox[0]["payload"] == {"status": 2}
    assert inbox[0]["token"].count(".") == 2

    acked = call(
        node, "POST", "/exchange/inbox/ack", systems["office"], json={"envelope_ids": [envelope_id]}
    )
    assert acked.json() == {"acknowledged": 1}
    assert call(node, "GET", "/exchange/inbox", systems["office"]).json() == []
    assert InboundMessage.objects.get().acknowledged_at is not None


def test_a_system_sees_only_its_own(node, systems):
    sent = call(
        node,
        "POST",
        "/exchange/outbox",
        systems["ministry"],
        json={
            "type": "dossier.status",
            "recipient": f"VN:GOV:{OFFICE}:dossiers",
            "correlation_id": "X-1",
            "payload": {},
        },
    ).json()
    other = call(node, "GET", f"/exchange/outbox/{sent['envelope_id']}", systems["office"])
    assert other.status_code == 404
    delivery.deliver_due(node.http)
    assert call(node, "GET", "/exchange/inbox", systems["ministry"]).json() == []
    ack = call(
        node,
        "POST",
        "/exchange/inbox/ack",
        systems["ministry"],
        json={"envelope_ids": [sent["envelope_id"]]},
    )
    assert ack.json() == {"acknowledged": 0}


def test_tokens_are_required_and_checked(node, systems):
    for token in (None, "lt_wrong", "not-a-token"):
        answer = call(node, "GET", "/exchange/inbox", token)
        assert answer.status_code == 401
        assert answer.json()["code"] == "unauthenticated"
        assert answer.json()["message_vi"]
    SystemClient.objects.update(is_enabled=False)
    assert call(node, "GET", "/exchange/inbox", systems["office"]).status_code == 401


def test_bad_envelopes_get_a_code(node, systems):
    base = {"type": "dossier.status", "recipient": f"VN:GOV:{OFFICE}:dossiers",
            "correlation_id": "X-2", "payload": {}}  # fmt: skip
    for changes, status, code in (
        ({"recipient": "nobody"}, 422, "invalid_recipient"),
        ({"type": "Not A Type"}, 422, "invalid_type"),
        ({"recipient": "VN:GOV:000.00.00.G11:dossiers"}, 409, "unknown_recipient"),
    ):
        answer = call(
            node, "POST", "/exchange/outbox", systems["ministry"], json={**base, **changes}
        )
        assert (answer.status_code, answer.json()["code"]) == (status, code), answer.text


def test_the_command_prints_the_token_once_and_it_works(node):
    out = io.StringIO()
    call_command("exchange", "add-system", MINISTRY, "motcua", name="TEST Một cửa", stdout=out)
    token = out.getvalue().split("token (shown once; keep it in the system's secret store): ")[1]
    token = token.strip()
    assert call(node, "GET", "/exchange/inbox", token).status_code == 200
    assert not SystemClient.objects.filter(token_sha256=token).exists()  # only its digest
    call_command("exchange", "disable-system", MINISTRY, "motcua", stdout=io.StringIO())
    assert call(node, "GET", "/exchange/inbox", token).status_code == 401
