"""Received envelopes this node already applied carry the exchange's ``applied`` mark,
which ``interconnection.apply_pending`` now looks for instead of comparing the inbox
with every applied envelope."""

from django.db import migrations


def mark(apps, schema_editor):
    InboundMessage = apps.get_model("exchange", "InboundMessage")
    AppliedEnvelope = apps.get_model("dossiers", "AppliedEnvelope")
    InboundMessage.objects.filter(
        envelope_id__in=AppliedEnvelope.objects.values("envelope_id")
    ).update(applied=True)


class Migration(migrations.Migration):
    dependencies = [
        ("dossiers", "0006_payment_attempts_staged_uploads"),
        ("exchange", "0014_inbound_applied_mark"),
    ]

    operations = [migrations.RunPython(mark, migrations.RunPython.noop)]
