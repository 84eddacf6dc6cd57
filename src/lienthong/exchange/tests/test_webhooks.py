"""Signed webhooks: envelopes pushed to the connected system they are addressed to."""

from __future__ import annotations

import datetime as dt
import io
import json
import time

import httpx
import pytest
import time_machine
from django.core.management import call_command

from lienthong.exchange import adapter, delivery, services, webhooks
from lienthong.exchange.models import InboundMessage, WebhookDelivery
from lienthong.exchange.tests.conftest import MINISTRY, OFFICE

HOOK = "https://records.office.test/lienthong"


class Receiver:
    """The office's records system: answers with ``status`` and keeps what it got."""

    def __init__(self):
        self.status = 200
        self.posts: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.posts.append(request)
        return httpx.Response(self.status)


@pytest.fixture
def office_system(node):
    system, token = adapter.add_system(
        actor="test", agency=node.office, subsystem="records", name="TEST records system"
    )
    return system, token


@pytest.fixture
def receiver():
    return Receiver()


def hooks_client(receiver: Receiver) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(receiver.handler))


def send_and_deliver(node, n: int = 1, correlation: str = "000.00.00.G12-261201-0009") -> list:
    ids = [
        services.send(
            actor="test",
            type="dossier.status",
            sender=f"VN:GOV:{MINISTRY}:dossiers",
            recipient=f"VN:GOV:{OFFICE}:records",
            correlation_id=correlation,
            payload={"status": i},
        ).envelope_id
        for i in range(n)
    ]
    delivery.deliver_due(node.http)
    return ids


def test_an_accepted_envelope_is_posted_signed_and_acknowledged(node, office_system, receiver):
    _, token = office_system
    answer = node.http.put(
        "/api/v1/exchange/webhook",
        json={"url": HOOK},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text
    secret = answer.json()["secret"]

    [envelope_id] = send_and_deliver(node)
    assert webhooks.deliver_due(hooks_client(receiver)) == 1

    [post] = receiver.posts
    assert str(post.url) == HOOK
    assert webhooks.verify(secret, post.headers["X-Lienthong-Signature"], post.content)
    content = json.loads(post.content)
    assert content["event"] == "envelope.received"
    assert content["envelope_id"] == envelope_id == post.headers["X-Lienthong-Event-Id"]
    assert content["payload"] == {"status": 0}
    assert content["token"].count(".") == 2
    assert InboundMessage.objects.get(envelope_id=envelope_id).acknowledged_at is not None
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.DELIVERED


def test_a_forged_or_stale_signature_does_not_verify(node, office_system, receiver):
    system, _ = office_system
    secret = webhooks.set_webhook(actor="test", system=system, url=HOOK)
    content = b'{"event":"envelope.received"}'
    header = webhooks.signature(secret, int(time.time()), content)

    assert webhooks.verify(secret, header, content)
    assert not webhooks.verify(secret, header, content + b" ")
    assert not webhooks.verify(secret, header.replace("v1=", "v1=0"), content)
    assert not webhooks.verify("00" * 32, header, content)
    assert not webhooks.verify(secret, header, content, now=time.time() + 301)
    assert not webhooks.verify(secret, "nonsense", content)


def test_a_new_secret_replaces_the_old_one(node, office_system):
    system, _ = office_system

    first = webhooks.set_webhook(actor="test", system=system, url=HOOK)
    second = webhooks.set_webhook(actor="test", system=system, url=HOOK)

    assert first != second
    system.refresh_from_db()
    assert webhooks.secret(system) == second


def test_a_failing_receiver_is_retried_in_order_and_nothing_is_lost(
    node, office_system, receiver, settings
):
    system, token = office_system
    webhooks.set_webhook(actor="test", system=system, url=HOOK)
    ids = send_and_deliver(node, 3)
    receiver.status = 503

    webhooks.deliver_due(hooks_client(receiver))

    assert len(receiver.posts) == 1  # the later two wait behind the first
    first = WebhookDelivery.objects.order_by("pk").first()
    assert first.attempts == 1 and "503" in first.last_error
    assert [d.attempts for d in WebhookDelivery.objects.order_by("pk")][1:] == [0, 0]
    # Still in the pull inbox meanwhile.
    inbox = node.http.get("/api/v1/exchange/inbox", headers={"Authorization": f"Bearer {token}"})
    assert [m["envelope_id"] for m in inbox.json()] == ids

    receiver.status = 200
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(hours=2), tick=False):
        webhooks.deliver_due(hooks_client(receiver))

    posted = [json.loads(p.content)["envelope_id"] for p in receiver.posts[1:]]
    assert posted == ids
    assert not InboundMessage.objects.filter(acknowledged_at__isnull=True).exists()


def test_after_the_last_attempt_a_delivery_is_a_dead_letter(
    node, office_system, receiver, settings
):
    settings.EXCHANGE_MAX_ATTEMPTS = 2
    system, _ = office_system
    webhooks.set_webhook(actor="test", system=system, url=HOOK)
    [envelope_id] = send_and_deliver(node)
    receiver.status = 500

    for hours in (0, 2):
        with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours), tick=False):
            webhooks.deliver_due(hooks_client(receiver))

    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.DEAD
    assert InboundMessage.objects.get(envelope_id=envelope_id).acknowledged_at is None

    receiver.status = 200
    assert webhooks.replay(actor="test", deliveries=list(WebhookDelivery.objects.all())) == 1
    webhooks.deliver_due(hooks_client(receiver))
    assert WebhookDelivery.objects.get().state == WebhookDelivery.State.DELIVERED


def test_without_a_webhook_nothing_is_queued(node, office_system):
    send_and_deliver(node)

    assert not WebhookDelivery.objects.exists()


def test_removing_the_webhook_drops_what_is_queued_but_keeps_the_inbox(node, office_system):
    system, _ = office_system
    webhooks.set_webhook(actor="test", system=system, url=HOOK)
    send_and_deliver(node)

    webhooks.remove_webhook(actor="test", system=system)

    assert not WebhookDelivery.objects.exists()
    assert InboundMessage.objects.filter(acknowledged_at__isnull=True).count() == 1


def test_a_webhook_that_is_not_http_is_refused(node, office_system):
    _, token = office_system

    answer = node.http.put(
        "/api/v1/exchange/webhook",
        json={"url": "file:///etc/passwd"},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert answer.status_code == 422
    assert answer.json()["code"] == "invalid_webhook_url"


def test_the_operator_sets_a_webhook_from_the_command_line(node, office_system):
    output = io.StringIO()

    call_command("exchange", "set-webhook", OFFICE, "records", HOOK, stdout=output)

    assert "secret (shown once" in output.getvalue()
    system, _ = office_system
    system.refresh_from_db()
    assert system.webhook_url == HOOK
