"""Envelopes from one agency to another: outbox, delivery, the receiver's checks, receipts, log."""

from __future__ import annotations

import base64
import datetime as dt
import json

import httpx
import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from lienthong.exchange import delivery, log, services
from lienthong.exchange import envelope as envelopes
from lienthong.exchange.models import AccessRight, InboundMessage, LogRecord, OutboundMessage
from lienthong.exchange.tests.conftest import MINISTRY, NODE_URL, OFFICE, in_process_app
from lienthong.trust import signing, testpki
from lienthong.trust.models import TrustedCertificate

SENDER = f"VN:GOV:{MINISTRY}:dossiers"
RECIPIENT = f"VN:GOV:{OFFICE}:dossiers"


def send(correlation="000.00.00.G12-261128-0001", type="dossier.status", **payload):
    return services.send(
        actor="test",
        type=type,
        sender=SENDER,
        recipient=RECIPIENT,
        correlation_id=correlation,
        payload=payload or {"status": 2},
    )


def body(token: str) -> dict:
    segment = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def signed_envelope(node, *, key=None, **changes) -> str:
    """An envelope signed directly (not queued), with any member changed."""
    data = envelopes.new(
        type="dossier.status",
        sender=SENDER,
        recipient=RECIPIENT,
        correlation_id="X-1",
        payload={"status": 4},
    ).as_dict()
    data.update(changes)
    return signing.sign_jws(actor="test", key=key or node.keys[MINISTRY], payload=data)


def test_a_queued_envelope_is_delivered_once_with_a_signed_receipt(node):
    message = send()
    assert message.state == OutboundMessage.State.QUEUED

    outcome = delivery.deliver_due(node.http)

    assert (outcome.claimed, outcome.delivered) == (1, 1)
    message.refresh_from_db()
    assert message.state == OutboundMessage.State.DELIVERED
    receipt = body(message.receipt.token)
    assert receipt["type"] == "exchange.receipt"
    assert receipt["entries"] == [
        {
            "envelope_id": message.envelope_id,
            "envelope_sha256": message.token_sha256,
            "status": "accepted",
            "reason": None,
        }
    ]
    received = InboundMessage.objects.get(envelope_id=message.envelope_id)
    assert received.payload == {"status": 2}
    assert received.sender == SENDER
    # Nothing left to do.
    assert delivery.deliver_due(node.http).claimed == 0


def test_the_same_envelope_twice_is_stored_once_and_accepted_again(node):
    token = signed_envelope(node)
    first = services.receive(token)
    second = services.receive(token)
    assert first.accepted and second.accepted
    assert second.duplicate and not first.duplicate
    assert InboundMessage.objects.count() == 1
    # Twice in one batch: stored once as well.
    other = signed_envelope(node)
    outcome = services.receive_batch([other, other])
    assert [e.accepted for e in outcome.entries] == [True, True]
    assert InboundMessage.objects.filter(envelope_id=body(other)["id"]).count() == 1


def test_one_batch_one_receipt_naming_every_envelope(node):
    good, bad = signed_envelope(node), signed_envelope(node, type="tax.declaration")
    outcome = services.receive_batch([good, "garbage", bad])
    entries = body(outcome.receipt)["entries"]
    assert [(e["status"], e["reason"]) for e in entries] == [
        ("accepted", None),
        ("refused", "malformed"),
        ("refused", "forbidden"),
    ]
    assert entries[0]["envelope_id"] == body(good)["id"]
    assert entries[2]["message_en"] == "The sending agency may not send this type of message"
    assert InboundMessage.objects.count() == 1


def test_order_is_kept_per_correlation_id(node):
    first, second = send(correlation="A-1"), send(correlation="A-1")
    other = send(correlation="B-1")

    assert delivery.deliver_due(node.http).delivered == 3  # one batch, in order
    received = list(InboundMessage.objects.order_by("pk").values_list("envelope_id", flat=True))
    assert received.index(first.envelope_id) < received.index(second.envelope_id)
    assert other.envelope_id in received


def test_a_dossier_waits_behind_its_message_that_waits(node):
    """The first message of A-1 is backing off: the later ones of A-1 wait for it,
    other dossiers go."""
    first, second = send(correlation="A-1"), send(correlation="A-1")
    other = send(correlation="B-1")
    later = first.created_at + dt.timedelta(hours=1)
    OutboundMessage.objects.filter(pk=first.pk).update(next_attempt_at=later)

    assert [m.envelope_id for m in delivery.claim(10)] == [other.envelope_id]
    OutboundMessage.objects.filter(pk=first.pk).update(next_attempt_at=first.created_at)
    claimed = [m.envelope_id for m in delivery.claim(10)]
    assert claimed == [first.envelope_id, second.envelope_id]


def test_a_message_held_elsewhere_keeps_the_rest_of_its_dossier_back(node):
    """What SKIP LOCKED leaves out (held by another worker) cuts its dossier's line."""
    first, second, third = (send(correlation="A-1") for _ in range(3))
    other = send(correlation="B-1")
    candidates = list(OutboundMessage.objects.exclude(pk=first.pk).order_by("pk"))
    kept = [m.envelope_id for m in delivery._in_line(candidates)]
    assert kept == [other.envelope_id]
    assert second.envelope_id not in kept and third.envelope_id not in kept


def test_after_a_refusal_the_rest_of_its_dossier_waits(node):
    bad = signed_envelope(node, type="tax.declaration")  # refused: forbidden
    good = signed_envelope(node)  # the same dossier (correlation X-1), after it
    elsewhere = signed_envelope(node, correlation_id="X-2")
    outcome = services.receive_batch([bad, good, elsewhere])
    assert [(e.accepted, e.code) for e in outcome.entries] == [
        (False, "forbidden"),
        (False, "out_of_order"),
        (True, None),
    ]


def test_an_unreachable_receiver_means_retries_with_backoff_then_a_dead_letter(node, settings):
    settings.EXCHANGE_MAX_ATTEMPTS = 3
    message = send()
    down = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(503)))
    outcome = delivery.deliver_due(down)
    assert outcome.retried == 1
    message.refresh_from_db()
    assert message.state == OutboundMessage.State.QUEUED
    assert message.attempts == 1 and "503" in message.last_error
    assert message.next_attempt_at > message.last_attempt_at  # backed off
    for _ in range(2):
        OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=message.created_at)
        delivery.deliver_due(down)
    message.refresh_from_db()
    assert message.state == OutboundMessage.State.DEAD
    # The operator replays it once the receiver is back: delivered, once.
    assert delivery.replay(actor="operator", envelope_ids=[message.envelope_id]) == 1
    assert delivery.deliver_due(node.http).delivered == 1
    assert InboundMessage.objects.filter(envelope_id=message.envelope_id).count() == 1


def test_a_lost_answer_is_retried_and_applied_once(node):
    """The receiver stored the envelope but its answer never came back."""
    message = send()

    def lose_the_answer(request):
        node.http.post(str(request.url.path), content=request.content,
                       headers={"content-type": "application/json"})  # fmt: skip
        raise httpx.ReadTimeout("answer lost")

    flaky = httpx.Client(
        transport=httpx.MockTransport(lose_the_answer), base_url="http://node.test"
    )
    assert delivery.deliver_due(flaky).retried == 1
    OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=message.created_at)
    assert delivery.deliver_due(node.http).delivered == 1
    assert InboundMessage.objects.filter(envelope_id=message.envelope_id).count() == 1


def test_backoff_grows_and_is_capped(settings):
    settings.EXCHANGE_BACKOFF_SECONDS = 2
    settings.EXCHANGE_BACKOFF_CAP_SECONDS = 60
    assert dt.timedelta(seconds=1) <= delivery.backoff(1) <= dt.timedelta(seconds=3)
    assert dt.timedelta(seconds=8) <= delivery.backoff(4) <= dt.timedelta(seconds=24)
    assert delivery.backoff(30) <= dt.timedelta(seconds=90)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"sender": "VN:GOV:999.99.99.X99:dossiers"}, "unknown_sender"),
        ({"recipient": "VN:GOV:000.00.00.G11:dossiers"}, "unknown_recipient"),
        ({"type": "tax.declaration"}, "forbidden"),
        ({"created_at": "2030-01-01T00:00:00.000Z"}, "clock_skew"),
        ({"created_at": "2020-01-01T00:00:00.000Z"}, "expired"),
        ({"id": "not-a-uuid"}, "malformed"),
    ],
)
def test_refusals_have_a_reason_and_change_nothing(node, changes, code):
    outcome = services.receive(signed_envelope(node, **changes))
    assert (outcome.accepted, outcome.code) == (False, code)
    (entry,) = body(outcome.receipt)["entries"]
    assert entry["status"] == "refused" and entry["reason"] == code
    assert entry["message_vi"] and entry["message_en"]
    assert InboundMessage.objects.count() == 0


def test_a_tampered_payload_is_refused(node):
    token = signed_envelope(node)
    header, _, signature = token.split(".")
    data = body(token)
    data["payload"]["status"] = 9
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    outcome = services.receive(f"{header}.{forged}.{signature}")
    assert outcome.code == "signature_invalid"


def test_a_header_decoded_before_vouches_for_nothing_else(node):
    """The verifier keeps decoded headers (every envelope of a key has the same one):
    a known header on another payload is still judged by its signature."""
    from lienthong.trust.validation import jws

    token = signed_envelope(node)
    assert services.receive(token).accepted
    header, _, signature = token.split(".")
    assert header.encode("ascii") in jws._headers
    forged = ".".join([header, signed_envelope(node).split(".")[1], signature])
    outcome = services.receive(forged)
    assert (outcome.accepted, outcome.code) == (False, "signature_invalid")


def test_an_envelope_signed_with_another_agencys_key_is_refused(node):
    outcome = services.receive(signed_envelope(node, key=node.keys[OFFICE]))
    assert outcome.code == "sender_mismatch"


def test_an_envelope_under_a_disabled_root_is_refused(node):
    token = signed_envelope(node)
    testpki.disable_in_trust_list(node.pki, actor="test")
    assert services.receive(token).code == "untrusted_chain"


def test_a_reused_id_with_other_content_is_refused_as_replayed(node):
    first = signed_envelope(node)
    assert services.receive(first).accepted
    again = signed_envelope(node, id=body(first)["id"], payload={"status": 10})
    outcome = services.receive(again)
    assert (outcome.accepted, outcome.code) == (False, "replayed")
    assert InboundMessage.objects.get().payload == {"status": 4}


def test_a_disabled_access_right_stops_delivery(node):
    AccessRight.objects.filter(provider=node.office).update(is_enabled=False)
    message = send()
    assert delivery.deliver_due(node.http).refused == 1
    message.refresh_from_db()
    assert (message.state, message.refusal_code) == (OutboundMessage.State.REFUSED, "forbidden")


def test_the_api_refuses_what_is_not_a_batch(node):
    assert node.http.post("/api/v1/exchange/envelopes", json={"envelopes": []}).status_code == 422
    assert node.http.post("/api/v1/exchange/envelopes", json={"x": 1}).status_code == 422
    answer = node.http.post("/api/v1/exchange/envelopes", json={"envelopes": ["garbage"]})
    assert answer.status_code == 200
    assert body(answer.json()["receipt"])["entries"][0]["reason"] == "malformed"


def test_the_exchange_listener_receives_behind_its_lean_middleware(node, settings):
    """What `serve --exchange` runs (settings.EXCHANGE_MIDDLEWARE): envelopes received,
    security headers, host check and request id kept, no cookie, pages refused."""
    settings.LISTENER = "exchange"
    settings.MIDDLEWARE = settings.EXCHANGE_MIDDLEWARE
    transport = httpx.WSGITransport(app=in_process_app())
    with httpx.Client(transport=transport, base_url=NODE_URL) as http:
        answer = http.post(
            "/api/v1/exchange/envelopes",
            json={"envelopes": [signed_envelope(node)]},
            headers={"X-Request-ID": "exchange-1"},
        )
        assert answer.status_code == 200
        assert body(answer.json()["receipt"])["entries"][0]["status"] == "accepted"
        assert answer.headers["X-Request-ID"] == "exchange-1"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert "set-cookie" not in answer.headers
        page = http.get("/")
        assert (page.status_code, page.json()["code"]) == (404, "not_on_this_listener")
        stranger = http.post(
            "/api/v1/exchange/envelopes", json={"envelopes": ["x"]}, headers={"Host": "evil.test"}
        )
        assert stranger.status_code == 400
    assert InboundMessage.objects.count() == 1


def test_the_message_log_chains_every_envelope_and_receipt(node):
    send()
    delivery.deliver_due(node.http)
    kinds = list(LogRecord.objects.values_list("kind", flat=True))
    assert kinds == ["envelope-sent", "envelope-received", "receipt-sent", "receipt-received"]
    receipts = LogRecord.objects.filter(kind__startswith="receipt").values_list(
        "content", flat=True
    )
    assert len(set(receipts)) == 1  # the same signed receipt, on both sides
    assert log.verify().intact
    call_command("exchange", "verify-log")


def test_an_edited_log_record_is_found(node):
    send()
    delivery.deliver_due(node.http)
    second = LogRecord.objects.get(sequence=2)
    LogRecord.objects.filter(pk=second.pk).update(correlation_id="edited")
    outcome = log.verify()
    assert (outcome.intact, outcome.broken_at, outcome.records) == (False, 2, 1)
    with pytest.raises(CommandError, match="#2"):
        call_command("exchange", "verify-log")


def test_a_removed_last_record_is_found(node):
    send()
    LogRecord.objects.order_by("-sequence").first().delete()
    assert not log.verify().intact


def test_clock_skew_is_judged_by_the_receivers_clock(node):
    token = signed_envelope(node)
    with time_machine.travel(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)):
        assert services.receive(token).code == "clock_skew"


def test_the_operator_sees_messages_by_state_and_replays_a_dead_letter(node, operator, client):
    message = send()
    OutboundMessage.objects.filter(pk=message.pk).update(state=OutboundMessage.State.DEAD)
    client.force_login(operator)

    page = client.get("/admin/exchange/outboundmessage/?state__exact=dead")
    assert page.status_code == 200
    assert message.envelope_id in page.content.decode()
    for model in ("inboundmessage", "logrecord", "accessright"):
        assert client.get(f"/admin/exchange/{model}/").status_code == 200

    answer = client.post(
        "/admin/exchange/outboundmessage/",
        {"action": "replay", "_selected_action": [message.pk]},
        follow=True,
    )
    assert answer.status_code == 200
    message.refresh_from_db()
    assert message.state == OutboundMessage.State.QUEUED
    assert delivery.deliver_due(node.http).delivered == 1


def test_no_evidence_for_an_unknown_dossier(node):
    with pytest.raises(CommandError, match="no message"):
        call_command("exchange", "evidence", "NOPE")


def test_peer_health_and_prometheus_metrics(node, operator, client, settings):
    send()
    delivery.deliver_due(node.http)
    waiting = send(correlation="LATER")
    down = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(502)))
    delivery.deliver_due(down)

    client.force_login(operator)
    page = client.get("/exchange/peers/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "http://node.test/api/v1/exchange/envelopes" in text and "502" in text

    metrics = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert metrics.status_code == 200
    assert metrics["Content-Type"].startswith("text/plain; version=0.0.4")
    body_text = metrics.content.decode()
    assert 'lienthong_exchange_outbound_messages{state="delivered"} 1' in body_text
    assert 'lienthong_exchange_outbound_messages{state="queued"} 1' in body_text
    peer = 'peer="http://node.test/api/v1/exchange/envelopes"'
    assert f"lienthong_exchange_peer_backlog{{{peer}}} 1" in body_text
    assert f"lienthong_exchange_peer_error_ratio{{{peer}}} 0.5" in body_text
    assert "lienthong_exchange_inbound_messages_total 1" in body_text
    assert waiting.envelope_id  # still queued, retrying

    # Not from loopback, no token: refused; with the configured token: answered.
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    settings.METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    answer = client.get(
        "/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer s3cret-token"
    )
    assert answer.status_code == 200


def test_the_peers_page_is_for_staff_only(client, django_user_model):
    assert client.get("/exchange/peers/").status_code == 302  # to the sign-in page
    citizen = django_user_model.objects.create_user(username="an", password="x" * 12)
    client.force_login(citizen)
    assert client.get("/exchange/peers/").status_code == 302


def test_the_log_head_is_timestamped_and_the_token_verified(node):
    from lienthong.exchange.models import LogTimestamp

    send()
    delivery.deliver_due(node.http)
    stamp = log.timestamp_head(node.pki.tsa_url)
    assert stamp.sequence == LogRecord.objects.count() == 4
    assert log.timestamp_head(node.pki.tsa_url) is None  # nothing new since
    outcome = log.verify()
    assert outcome.intact and outcome.timestamps == 1
    call_command("exchange", "verify-log")

    # A token whose authority is no longer trusted proves nothing.
    testpki.disable_in_trust_list(node.pki, actor="test")
    assert "not signed by a trusted authority" in log.verify().problem
    TrustedCertificate.objects.update(is_enabled=True)
    assert log.verify().intact

    # A token that does not prove the digest it is stored with is found.
    LogTimestamp.objects.filter(pk=stamp.pk).update(digest="0" * 64)
    outcome = log.verify()
    assert (outcome.intact, outcome.broken_at) == (False, 4)
    assert "does not cover" in outcome.problem


def test_an_unreachable_authority_is_a_clear_error(node):
    send()
    with pytest.raises(CommandError, match="no timestamp from"):
        call_command("exchange", "timestamp-log", tsa="http://127.0.0.1:9/tsa")
    with pytest.raises(CommandError, match="no time-stamping authority"):
        call_command("exchange", "timestamp-log")


def test_settled_messages_are_purged_after_the_retention(node):
    kept = send(correlation="NEW")
    delivery.deliver_due(node.http)
    InboundMessage.objects.update(acknowledged_at=dt.datetime.now(dt.UTC))
    waiting = send(correlation="QUEUED")
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(days=400)):
        call_command("exchange", "purge-messages")
    assert not OutboundMessage.objects.filter(pk=kept.pk).exists()
    assert OutboundMessage.objects.filter(pk=waiting.pk).exists()  # not settled: kept
    assert not InboundMessage.objects.exists()
    assert LogRecord.objects.count() >= 4  # the log keeps the evidence
