"""The worker's round and its idle wait: lanes in flight, wake-ups instead of polling."""

from __future__ import annotations

import datetime as dt
import time
from concurrent.futures import Executor, Future

import pytest
from django.db import connection

from lienthong.exchange import delivery, services, wake
from lienthong.exchange.models import InboundMessage, OutboundMessage
from lienthong.exchange.tests.test_exchange import send, signed_envelope


class Inline(Executor):
    """Runs what is submitted at once, in this thread: the in-process receiver shares
    the test's transaction, which another thread could not see."""

    def submit(self, fn, /, *args, **kwargs):
        future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


@pytest.fixture
def claims(monkeypatch):
    """The dossiers of each claim the pipeline makes, in order."""
    held = []
    real_claim = delivery.claim

    def claim(limit, **options):
        claimed = real_claim(limit, **options)
        held.append([m.correlation_id for m in claimed])
        return claimed

    monkeypatch.setattr(delivery, "claim", claim)
    return held


def test_a_dossier_has_one_request_in_flight_and_keeps_its_order(node, claims):
    sent = [send(correlation=c) for c in ("A", "A", "B", "C", "A")]
    pipeline = delivery.Pipeline(node.http, Inline(), in_flight=4, limit=1)
    held = claims
    steps = [pipeline.step() for _ in range(6)]

    # First fill: A, B, C out together; A's second waits for its first to settle (its
    # lease holds the dossier), though a fourth request could go.
    assert held[:4] == [["A"], ["B"], ["C"], []]
    assert sum(s.delivered for s in steps) == 5 and not pipeline.busy
    received = list(InboundMessage.objects.order_by("pk").values_list("envelope_id", flat=True))
    ids = [m.envelope_id for m in sent if m.correlation_id == "A"]
    assert [r for r in received if r in ids] == ids


def test_a_failed_request_holds_its_dossier_back_and_not_the_others(node):
    first, behind, other = send(correlation="A"), send(correlation="A"), send(correlation="B")
    OutboundMessage.objects.filter(pk=first.pk).update(endpoint="http://unreachable.test/x")
    pipeline = delivery.Pipeline(node.http, Inline(), in_flight=2, limit=1)

    while pipeline.step().claimed or pipeline.busy:
        pass

    states = dict(OutboundMessage.objects.values_list("pk", "state"))
    assert states[other.pk] == OutboundMessage.State.DELIVERED
    assert states[first.pk] == states[behind.pk] == OutboundMessage.State.QUEUED
    first.refresh_from_db()
    behind.refresh_from_db()
    assert (first.attempts, behind.attempts) == (1, 0)  # behind was never claimed


@pytest.fixture
def waiter(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    waiting = wake.Waiter()
    yield waiting
    waiting.close()
    assert not (tmp_path / wake.PORT_FILE).exists()


class Heard:
    """What the worker hears once the transaction commits. On PostgreSQL a NOTIFY is
    delivered at the commit, which the test's own transaction never reaches: there
    the signals sent are what is checked (the channel itself is checked by
    ``test_on_postgresql_a_notify_from_another_connection_wakes_the_worker``)."""

    def __init__(self, waiter, monkeypatch):
        self.waiter, self.sent = waiter, []
        real = wake._send

        def spy(kind: str) -> None:
            self.sent.append(kind)
            real(kind)

        monkeypatch.setattr(wake, "_send", spy)

    def wait(self, timeout: float) -> set[str]:
        if connection.vendor == "postgresql":
            kinds, self.sent = set(self.sent), []
            return kinds
        self.sent = []
        return self.waiter.wait(timeout)


@pytest.fixture
def heard(waiter, monkeypatch):
    return Heard(waiter, monkeypatch)


def test_queuing_wakes_the_worker_once_the_transaction_commits(
    node, waiter, heard, django_capture_on_commit_callbacks
):
    assert waiter.available
    assert heard.wait(0) == set()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        send(correlation="A")
        send(correlation="B")
        assert heard.wait(0) == set()  # not before the commit
    assert len(callbacks) == 1  # one signal per transaction
    assert heard.wait(5) == {wake.OUTBOUND}
    assert heard.wait(0) == set()


def test_storing_inbound_wakes_the_worker_for_its_consumers(
    node, heard, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.receive(signed_envelope(node))
    assert heard.wait(5) == {wake.INBOUND}
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.receive(signed_envelope(node, type="tax.declaration"))  # refused
    assert wake._inbound not in callbacks


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's LISTEN/NOTIFY channel")
def test_on_postgresql_a_notify_from_another_connection_wakes_the_worker(db, waiter):
    assert waiter.available and waiter.wait(0) == set()
    with wake.own_connection() as other:
        other.execute("SELECT pg_notify(%s, %s)", [wake.CHANNEL, wake.INBOUND])
    assert waiter.wait(5) == {wake.INBOUND}
    assert waiter.wait(0) == set()


def test_stopping_interrupts_the_wait(waiter):
    started = time.monotonic()
    wake.interrupt()
    assert waiter.wait(30) == set()
    assert time.monotonic() - started < 5


def test_next_due_is_the_earliest_later_attempt(node):
    assert delivery.next_due_in() is None
    message = send()
    assert delivery.next_due_in() is None  # due now: the round takes it, no wait for it
    OutboundMessage.objects.filter(pk=message.pk).update(
        next_attempt_at=message.created_at + dt.timedelta(hours=1)
    )
    assert 3000 < delivery.next_due_in() <= 3600


def test_a_short_claim_is_not_repeated_until_a_settlement_or_a_wake_up(node, claims):
    """With every busy dossier out, a claim finds nothing but reads the whole queue:
    the pipeline does not claim again until something changes."""

    class Held(Executor):  # requests that stay out
        def submit(self, fn, /, *args, **kwargs):
            return Future()

    pipeline = delivery.Pipeline(node.http, Held(), in_flight=4, limit=10)
    send(correlation="A")
    pipeline._fill(delivery.RoundResult(), look_first=False)
    assert claims == [["A"]] and pipeline.exhausted
    send(correlation="B")
    pipeline._fill(delivery.RoundResult(), look_first=False)
    assert claims == [["A"]]  # not claimed again: nothing said there was more
    pipeline.more()  # what a wake-up does
    pipeline._fill(delivery.RoundResult(), look_first=False)
    assert claims == [["A"], ["B"]]
