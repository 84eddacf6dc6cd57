"""exchange/inserts.py stores rows as bulk_create would, with their keys."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction

from lienthong.exchange import inserts
from lienthong.exchange.models import InboundMessage, LogRecord, Receipt

pytestmark = pytest.mark.django_db

MOMENT = dt.datetime(2026, 12, 4, 8, 30, 15, 123000, tzinfo=dt.UTC)


def record(sequence: int) -> LogRecord:
    return LogRecord(
        sequence=sequence,
        kind=LogRecord.Kind.ENVELOPE_SENT,
        envelope_id=f"e-{sequence}",
        correlation_id="HS-1",
        recorded_at=MOMENT,
        content=f"content {sequence}",
        content_sha256="0" * 64,
        previous_digest="1" * 64,
        digest="2" * 64,
    )


def test_rows_are_stored_in_order_with_their_keys_and_defaults(monkeypatch):
    # Two rows a statement: a batch larger than the database takes is cut.
    monkeypatch.setattr(connection.ops, "bulk_batch_size", lambda fields, objs: 2)
    with transaction.atomic():
        stored = inserts.insert([record(n) for n in range(1, 6)])
    rows = list(LogRecord.objects.order_by("pk"))
    assert [r.pk for r in stored] == [r.pk for r in rows]
    assert [r.sequence for r in rows] == [1, 2, 3, 4, 5]
    assert not any(r._state.adding for r in stored)
    assert (rows[2].envelope_id, rows[2].recorded_at, rows[2].version, rows[2].leaf_hash) == (
        "e-3",
        MOMENT,
        2,
        "",
    )


def test_json_and_foreign_keys_round_trip():
    receipt = Receipt.objects.create(token="t", sha256="3" * 64, stored_at=MOMENT)
    (message,) = inserts.insert(
        [
            InboundMessage(
                envelope_id="0193a0b0-0000-7000-8000-000000000001",
                type="dossier.status",
                sender="VN:GOV:A:dossiers",
                recipient="VN:GOV:B:dossiers",
                correlation_id="HS-1",
                created_at=MOMENT,
                received_at=MOMENT,
                token="x.y.z",
                token_sha256="4" * 64,
                payload={"status": 2, "tên": "Hồ sơ", "items": [1, None]},
                receipt=receipt,
            )
        ]
    )
    back = InboundMessage.objects.get(pk=message.pk)
    assert back.payload == {"status": 2, "tên": "Hồ sơ", "items": [1, None]}
    assert back.receipt_id == receipt.pk
    assert back.acknowledged_at is None


def test_an_instance_with_a_key_goes_to_bulk_create():
    row = record(7)
    row.pk = 70
    (stored,) = inserts.insert([row])
    assert LogRecord.objects.get(pk=70).sequence == 7
    assert stored.pk == 70


def test_any_row_answers_as_the_orm_would():
    for sequence in (1, 2):
        record(sequence).save()
    for where, params, orm in (
        ("sequence = %s", [2], LogRecord.objects.filter(sequence=2)),
        ("sequence > %s", [2], LogRecord.objects.filter(sequence__gt=2)),
        (
            "correlation_id = %s AND recorded_at <= %s",
            ["HS-1", connection.ops.adapt_datetimefield_value(MOMENT)],
            LogRecord.objects.filter(correlation_id="HS-1", recorded_at__lte=MOMENT),
        ),
    ):
        assert inserts.any_row(LogRecord, where, params) is orm.exists()
