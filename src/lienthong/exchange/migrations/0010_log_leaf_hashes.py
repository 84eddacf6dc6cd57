"""Leaf hashes in the message log; the time-stamping authority's state on the head.

Records already written keep their hash rule: they get ``version`` 1 (and no
leaf hash) and go on verifying under it; new records are version 2. The chain
is not recomputed: rewriting every link would void the RFC 3161 tokens already
issued over old heads and the archive files already written, and a migration
that recomputes links would bless a record altered before it ran. The first
version-2 record links to the last version-1 link, so the chain stays one.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("exchange", "0009_attachment_digests"),
    ]

    operations = [
        migrations.AddField(
            model_name="logrecord",
            name="version",
            field=models.PositiveSmallIntegerField(default=1, verbose_name="hash rule version"),
        ),
        migrations.AlterField(
            model_name="logrecord",
            name="version",
            field=models.PositiveSmallIntegerField(default=2, verbose_name="hash rule version"),
        ),
        migrations.AddField(
            model_name="logrecord",
            name="leaf_hash",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddField(
            model_name="logtimestamp",
            name="tsa_certificate",
            field=models.BinaryField(default=b"", verbose_name="authority's certificate (DER)"),
        ),
        migrations.AddField(
            model_name="loghead",
            name="stamp_failures",
            field=models.PositiveIntegerField(default=0, verbose_name="failed timestamp attempts"),
        ),
        migrations.AddField(
            model_name="loghead",
            name="stamp_error",
            field=models.CharField(blank=True, max_length=500, verbose_name="last timestamp error"),
        ),
        migrations.AddField(
            model_name="loghead",
            name="stamp_attempted_at",
            field=models.DateTimeField(
                blank=True, null=True, verbose_name="last timestamp attempt"
            ),
        ),
        migrations.AlterModelOptions(
            name="loghead",
            options={"verbose_name": "message log head", "verbose_name_plural": "message log head"},
        ),
    ]
