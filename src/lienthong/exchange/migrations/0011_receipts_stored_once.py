"""Receipts stored once: a ``Receipt`` row per signed receipt, referenced by the messages.

A batch receipt (one per request, naming every envelope of the batch) used to be
copied into each sent and each received message of its batch. The copies are
moved into ``Receipt`` rows, one per distinct receipt (by SHA-256: a receipt
held by both a sent and a received message of this node becomes one row), each
message pointing to its row (0012 then drops the copies). The message log is
not touched: it records each receipt once already. Backwards, the copies are
written again from the rows.
"""

import hashlib

import django.db.models.deletion
from django.db import migrations, models
from django.utils import timezone

CHUNK = 500


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _move(model, Receipt, moment: str, ids: dict[str, int], db: str) -> None:
    """Each message's copy into a Receipt row (one per digest), by primary-key ranges."""
    last = 0
    while True:
        rows = list(
            model.objects.using(db)
            .filter(pk__gt=last)
            .exclude(receipt="")
            .order_by("pk")
            .values_list("pk", "receipt", *moment.split())[:CHUNK]
        )
        if not rows:
            return
        last = rows[-1][0]
        by_receipt: dict[int, list[int]] = {}
        for pk, token, *times in rows:
            digest = _digest(token)
            receipt_id = ids.get(digest)
            if receipt_id is None:
                at = next((t for t in times if t is not None), None) or timezone.now()
                receipt_id = (
                    Receipt.objects.using(db).create(token=token, sha256=digest, stored_at=at).pk
                )
                ids[digest] = receipt_id
            by_receipt.setdefault(receipt_id, []).append(pk)
        for receipt_id, pks in by_receipt.items():
            model.objects.using(db).filter(pk__in=pks).update(receipt_ref_id=receipt_id)


def forwards(apps, schema_editor):
    Receipt = apps.get_model("exchange", "Receipt")
    db = schema_editor.connection.alias
    ids: dict[str, int] = {}
    _move(apps.get_model("exchange", "InboundMessage"), Receipt, "received_at", ids, db)
    _move(
        apps.get_model("exchange", "OutboundMessage"),
        Receipt,
        "delivered_at last_attempt_at created_at",
        ids,
        db,
    )


def backwards(apps, schema_editor):
    Receipt = apps.get_model("exchange", "Receipt")
    db = schema_editor.connection.alias
    for name in ("InboundMessage", "OutboundMessage"):
        model = apps.get_model("exchange", name)
        for receipt in Receipt.objects.using(db).order_by("pk").iterator(chunk_size=CHUNK):
            model.objects.using(db).filter(receipt_ref_id=receipt.pk).update(receipt=receipt.token)


class Migration(migrations.Migration):
    dependencies = [
        ("exchange", "0010_log_leaf_hashes"),
    ]

    operations = [
        migrations.CreateModel(
            name="Receipt",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("token", models.TextField(verbose_name="receipt (JWS)")),
                ("sha256", models.CharField(max_length=64, unique=True, verbose_name="SHA-256")),
                ("stored_at", models.DateTimeField(verbose_name="time stored")),
            ],
            options={
                "verbose_name": "exchange receipt",
                "verbose_name_plural": "exchange receipts",
                "ordering": ["pk"],
            },
        ),
        # As the sent message's copy: blank allowed (no change in the database), so that
        # going back re-creates the column with "" in it before the copies are written.
        migrations.AlterField(
            model_name="inboundmessage",
            name="receipt",
            field=models.TextField(blank=True, verbose_name="receipt (JWS)"),
        ),
        migrations.AddField(
            model_name="inboundmessage",
            name="receipt_ref",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="exchange.receipt",
            ),
        ),
        migrations.AddField(
            model_name="outboundmessage",
            name="receipt_ref",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="exchange.receipt",
            ),
        ),
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
