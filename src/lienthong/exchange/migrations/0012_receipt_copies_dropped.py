"""Receipts stored once, second step: the copies in the messages dropped (0011 moved them).

A migration of its own: on PostgreSQL the rows 0011 changed leave deferred
foreign-key checks pending until its transaction ends, and a table with
pending checks cannot be altered in the same transaction.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("exchange", "0011_receipts_stored_once"),
    ]

    operations = [
        migrations.RemoveField(model_name="inboundmessage", name="receipt"),
        migrations.RemoveField(model_name="outboundmessage", name="receipt"),
        migrations.RenameField(
            model_name="inboundmessage", old_name="receipt_ref", new_name="receipt"
        ),
        migrations.RenameField(
            model_name="outboundmessage", old_name="receipt_ref", new_name="receipt"
        ),
        migrations.AlterField(
            model_name="inboundmessage",
            name="receipt",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="inbound_messages",
                to="exchange.receipt",
                verbose_name="receipt (JWS)",
            ),
        ),
        migrations.AlterField(
            model_name="outboundmessage",
            name="receipt",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="outbound_messages",
                to="exchange.receipt",
                verbose_name="receipt (JWS)",
            ),
        ),
    ]
