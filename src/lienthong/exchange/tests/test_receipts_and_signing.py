"""What makes an envelope cheaper without weakening it: receipts stored once, the
signing key's state kept per process, the log head advanced in one statement,
and which ids are stored asked only when it matters."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lienthong.exchange import delivery, facts, log, services
from lienthong.exchange.models import (
    InboundMessage,
    LogHead,
    LogRecord,
    OutboundMessage,
    Receipt,
)
from lienthong.exchange.tests.conftest import MINISTRY, OFFICE, import_issued
from lienthong.exchange.tests.test_exchange import body, send, signed_envelope
from lienthong.trust import keystore, signing
from lienthong.trust.models import SigningKey


def header(token: str) -> dict:
    """The protected header of a compact JWS."""
    return body("." + token.split(".", 1)[0])


# --- Receipts stored once ----------------------------------------------------------------


def test_a_batch_receipt_is_stored_once_and_every_message_points_to_it(node):
    sent = [send(correlation=f"R-{n}") for n in range(3)]
    assert delivery.deliver_due(node.http).delivered == 3
    (receipt,) = Receipt.objects.all()
    assert receipt.sha256 == hashlib.sha256(receipt.token.encode()).hexdigest()
    ids = {m.envelope_id for m in sent}
    assert {e["envelope_id"] for e in body(receipt.token)["entries"]} == ids
    # Both sides (one node hosting both agencies here) point to the one row.
    assert set(OutboundMessage.objects.values_list("receipt", flat=True)) == {receipt.pk}
    assert set(InboundMessage.objects.values_list("receipt", flat=True)) == {receipt.pk}
    # The log records it once per side: given, and received.
    recorded = LogRecord.objects.filter(kind__startswith="receipt").values_list(
        "kind", "content_sha256"
    )
    assert sorted(recorded) == [
        ("receipt-received", receipt.sha256),
        ("receipt-sent", receipt.sha256),
    ]
    assert log.verify().intact


def test_a_refused_message_points_to_its_negative_receipt(node):
    message = send(type="tax.declaration")  # no access right for this type
    assert delivery.deliver_due(node.http).refused == 1
    message.refresh_from_db()
    assert (message.state, message.refusal_code) == (OutboundMessage.State.REFUSED, "forbidden")
    (entry,) = body(message.receipt.token)["entries"]
    assert (entry["envelope_id"], entry["reason"]) == (message.envelope_id, "forbidden")
    assert not InboundMessage.objects.exists()


def test_two_batches_have_two_receipts(node):
    services.receive(signed_envelope(node))
    services.receive(signed_envelope(node))
    assert Receipt.objects.count() == 2
    assert InboundMessage.objects.values("receipt").distinct().count() == 2


def test_purging_messages_drops_the_receipts_nobody_points_to(node):
    from django.core.management import call_command

    services.receive(signed_envelope(node, correlation_id="P-1"))
    services.receive(signed_envelope(node, correlation_id="P-2"))
    InboundMessage.objects.filter(correlation_id="P-1").update(
        acknowledged_at=dt.datetime.now(dt.UTC)
    )
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(days=400)):
        call_command("exchange", "purge-messages")
    kept = InboundMessage.objects.get()  # not acknowledged: kept, with its receipt
    assert kept.correlation_id == "P-2"
    assert list(Receipt.objects.all()) == [kept.receipt]
    assert LogRecord.objects.filter(kind="receipt-sent").count() == 2  # the log keeps both


# --- Which ids are stored: asked only when it matters ----------------------------------------


def test_an_accepted_batch_does_not_look_up_stored_ids(node):
    tokens = [signed_envelope(node, correlation_id=f"L-{n}") for n in range(3)]
    with CaptureQueriesContext(connection) as queries:
        outcome = services.receive_batch(tokens)
    assert all(e.accepted for e in outcome.entries)
    # (PostgreSQL's bulk insert reads its rows FROM UNNEST: an INSERT, not a look-up.)
    looked_up = [
        q["sql"] for q in queries
        if q["sql"].lstrip().startswith("SELECT") and "inboundmessage" in q["sql"]
    ]  # fmt: skip
    assert not looked_up


def test_a_stored_envelope_that_now_fails_a_check_is_still_a_duplicate(node, settings):
    token, unsent = signed_envelope(node), signed_envelope(node, correlation_id="X-2")
    assert services.receive(token).accepted
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=settings.EXCHANGE_REPLAY_WINDOW + 60)
    with time_machine.travel(later):
        again = services.receive(token)  # expired by now: but it was stored
        fresh = services.receive(unsent)
    assert (again.accepted, again.duplicate, again.code) == (True, True, None)
    assert (fresh.accepted, fresh.code) == (False, "expired")
    assert InboundMessage.objects.count() == 1


def test_a_batch_resent_after_a_lost_answer_is_accepted_and_stored_once(node):
    tokens = [signed_envelope(node, correlation_id=f"D-{n}") for n in range(2)]
    services.receive_batch(tokens)
    new = signed_envelope(node, correlation_id="D-new")
    outcome = services.receive_batch([*tokens, new])  # taken ids: judged again, looked up
    assert [(e.accepted, e.duplicate) for e in outcome.entries] == [
        (True, True),
        (True, True),
        (True, False),
    ]
    assert InboundMessage.objects.count() == 3
    assert log.verify().intact


# --- The log head in one statement ------------------------------------------------------------


def _append(n: int) -> None:
    from django.db import transaction

    with transaction.atomic():
        log.append(kind="envelope-sent", envelope_id="", correlation_id=f"H-{n}", content=f"c{n}")


def test_the_log_head_moves_in_one_statement_when_this_process_wrote_it(db):
    _append(0)
    with CaptureQueriesContext(connection) as queries:
        _append(1)
    head = [q["sql"] for q in queries if "loghead" in q["sql"]]
    assert len(head) == 1 and head[0].lstrip().startswith("UPDATE")
    assert log.verify().intact


def test_a_head_another_process_moved_is_read_and_followed(db):
    _append(0)
    stale = dict(log._heads)
    log._heads.clear()  # another process: it does not know this one's head
    _append(1)
    _append(2)
    log._heads.update(stale)  # this process, two records behind
    with CaptureQueriesContext(connection) as queries:
        _append(3)
    assert len([q for q in queries if "loghead" in q["sql"]]) == 2  # read (locked), then moved
    assert list(LogRecord.objects.values_list("sequence", flat=True)) == [1, 2, 3, 4]
    assert log.verify().intact
    assert LogHead.objects.get().sequence == 4


def test_a_rolled_back_append_leaves_no_false_head(db):
    from django.db import transaction

    _append(0)
    with pytest.raises(RuntimeError), transaction.atomic():
        log.append(kind="envelope-sent", envelope_id="", correlation_id="gone", content="x")
        raise RuntimeError("the message's transaction fails")
    # The cached head (after the rolled-back record) is wrong: found out, not followed.
    _append(1)
    assert log.verify().intact
    assert list(LogRecord.objects.values_list("correlation_id", flat=True)) == ["H-0", "H-1"]


# --- The signing key's state, per process -----------------------------------------------------


def test_the_key_state_is_not_read_again_for_every_signature(node):
    key = node.keys[OFFICE]
    signing.sign_jws(actor="test", key=key, payload={"a": 1}, audit=False)
    with CaptureQueriesContext(connection) as queries:
        signing.sign_jws(actor="test", key=key, payload={"a": 2}, audit=False)
    assert len(queries) == 0


def test_a_rotated_key_is_not_used_after_the_rotation(node):
    old = node.keys[OFFICE]
    first = services.receive(signed_envelope(node))
    assert header(first.receipt)["kid"] == old.fingerprint_sha256
    # Rotation: the agency's new key imported, the old one disabled (in this process).
    new = import_issued(node.pki, node.office, "TEST Văn phòng Chính phủ 2", days=4000)
    keystore.set_enabled(actor="test", key=old, enabled=False, source="test")
    second = services.receive(signed_envelope(node))
    assert header(second.receipt)["kid"] == new.fingerprint_sha256
    with pytest.raises(signing.SigningRefused) as refused:
        signing.sign_jws(actor="test", key=old, payload={"a": 1}, audit=False)
    assert refused.value.code == "key_disabled"


def test_a_disabled_key_the_facts_still_offer_is_passed_over(node):
    key = node.keys[OFFICE]
    assert facts.signing_key(OFFICE) == key  # kept by the facts
    signing.sign_jws(actor="test", key=key, payload={"a": 1}, audit=False)  # state kept
    # Disabled by another process: neither this process's facts nor its key state know.
    SigningKey.objects.filter(pk=key.pk).update(is_enabled=False)
    clock = signing._clock()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(signing, "_clock", lambda: clock + signing.KEY_STATE_SECONDS + 1)
        outcome = services.receive(signed_envelope(node))
    # The receipt is signed by the other agency this node hosts, not by the disabled key.
    assert outcome.accepted
    assert header(outcome.receipt)["kid"] == node.keys[MINISTRY].fingerprint_sha256


def test_a_change_made_elsewhere_counts_within_the_key_state_time(node):
    key = node.keys[OFFICE]
    signing.sign_jws(actor="test", key=key, payload={"a": 1}, audit=False)
    SigningKey.objects.filter(pk=key.pk).update(is_enabled=False)  # no signal: elsewhere
    signing.sign_jws(actor="test", key=key, payload={"a": 2}, audit=False)  # still kept
    clock = signing._clock()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(signing, "_clock", lambda: clock + signing.KEY_STATE_SECONDS + 1)
        with pytest.raises(signing.SigningRefused) as refused:
            signing.sign_jws(actor="test", key=key, payload={"a": 3}, audit=False)
    assert refused.value.code == "key_disabled"


# --- Canonical JSON --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {"b": 1, "a": [True, False, None, "x"], "c": {"z": "", "y": -(2**53) + 1}},
        {"text": 'Nguyễn Văn An \u2028 \x00\x1f\x7f \b\t\n\f\r "\\/ 😀', "n": 2**53 - 1},
        {"\ue000": 1, "\u00e9": 2, "a": 3},
        {"entries": [{"envelope_id": "x", "reason": None}] * 3},
    ],
)
def test_the_fast_canonical_form_is_rfc_8785(payload):
    import rfc8785

    assert signing._plain(payload)
    assert signing.canonical_json(payload) == rfc8785.dumps(payload)


@pytest.mark.parametrize(
    "payload",
    [
        {"f": 1.5},
        {"n": 2**53},
        {"\U0001f600": 1, "\ue000": 2},  # sorted by UTF-16 code units, not code points
        {"t": (1, 2)},
    ],
)
def test_what_the_fast_form_might_write_otherwise_goes_to_rfc_8785(payload):
    import rfc8785

    assert not signing._plain(payload)
    try:
        expected = rfc8785.dumps(payload)
    except rfc8785.CanonicalizationError:
        with pytest.raises(rfc8785.CanonicalizationError):
            signing.canonical_json(payload)
    else:
        assert signing.canonical_json(payload) == expected


def test_a_lone_surrogate_is_refused_as_before(node):
    with pytest.raises(signing.SigningRefused) as refused:
        signing.sign_jws(actor="test", key=node.keys[OFFICE], payload={"a": "\ud800"})
    assert refused.value.code == "not_canonical_json"


# --- The migration ---------------------------------------------------------------------------


@pytest.fixture
def scratch_database(tmp_path, django_db_blocker):
    """A database of its own, migrated from nothing (the test database's data and
    schema stay as they are): its connection."""
    from django.db import connections

    alias = "exchange-migration"
    connections.settings[alias] = {
        **connections.settings["default"],
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(tmp_path / "scratch.sqlite3"),
        "TEST": {},
    }
    with django_db_blocker.unblock():
        yield connections[alias]
        connections[alias].close()
    del connections[alias]
    del connections.settings[alias]


def test_the_migration_moves_the_copies_into_one_row_per_receipt_and_back(scratch_database):
    from django.db.migrations.executor import MigrationExecutor

    connection = scratch_database
    before, after = (
        [("exchange", "0010_log_leaf_hashes")],
        [("exchange", "0012_receipt_copies_dropped")],
    )
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    Outbound = apps.get_model("exchange", "OutboundMessage")
    Inbound = apps.get_model("exchange", "InboundMessage")
    now = dt.datetime.now(dt.UTC)
    common = {"type": "dossier.status", "sender": "s", "recipient": "r", "correlation_id": "M-1",
              "created_at": now, "token": "t", "token_sha256": "0" * 64}  # fmt: skip
    for n, receipt in enumerate(["batch-a", "batch-a", "batch-b", ""]):
        Outbound.objects.using(connection.alias).create(envelope_id=f"o{n}", endpoint="http://x", next_attempt_at=now,
                                receipt=receipt, **common)  # fmt: skip
    for n, receipt in enumerate(["batch-a", "batch-c"]):
        Inbound.objects.using(connection.alias).create(envelope_id=f"i{n}", received_at=now, payload={},
                               receipt=receipt, **common)  # fmt: skip

    executor = MigrationExecutor(connection)
    executor.migrate(after)
    apps = executor.loader.project_state(after).apps
    rows = {
        r.token: r for r in apps.get_model("exchange", "Receipt").objects.using(connection.alias)
    }
    assert sorted(rows) == ["batch-a", "batch-b", "batch-c"]  # once each, deduplicated
    assert rows["batch-a"].sha256 == hashlib.sha256(b"batch-a").hexdigest()
    Outbound = apps.get_model("exchange", "OutboundMessage")
    Inbound = apps.get_model("exchange", "InboundMessage")
    pointed = dict(
        Outbound.objects.using(connection.alias).values_list("envelope_id", "receipt__token")
    )
    assert pointed == {"o0": "batch-a", "o1": "batch-a", "o2": "batch-b", "o3": None}
    assert dict(
        Inbound.objects.using(connection.alias).values_list("envelope_id", "receipt__token")
    ) == {
        "i0": "batch-a",
        "i1": "batch-c",
    }

    executor = MigrationExecutor(connection)
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    Outbound = apps.get_model("exchange", "OutboundMessage")
    assert dict(Outbound.objects.using(connection.alias).values_list("envelope_id", "receipt")) == {
        "o0": "batch-a", "o1": "batch-a", "o2": "batch-b", "o3": ""
    }  # fmt: skip
