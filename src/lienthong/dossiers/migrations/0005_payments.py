# The fee asked in status 6 ("payment requested") and how it was paid.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('dossiers', '0004_queue_indexes_receiving_agency'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Payment',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('amount', models.PositiveBigIntegerField(verbose_name='amount (VND)')),
                ('reason', models.TextField(verbose_name='what it is for')),
                ('requested_at', models.DateTimeField(verbose_name='requested at')),
                ('backend', models.CharField(blank=True, max_length=60, verbose_name='payment backend')),
                ('reference', models.CharField(blank=True, max_length=100, verbose_name='payment reference')),
                ('started_at', models.DateTimeField(blank=True, null=True, verbose_name='payment started at')),
                ('paid_at', models.DateTimeField(blank=True, null=True, verbose_name='paid at')),
                ('receipt', models.CharField(blank=True, max_length=100, verbose_name='receipt number')),
                ('dossier', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='payments', to='dossiers.dossier')),
                ('recorded_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='recorded by')),
                ('requested_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='requested by')),
            ],
            options={
                'verbose_name': 'payment',
                'verbose_name_plural': 'payments',
                'ordering': ['requested_at', 'id'],
                'constraints': [
                    models.UniqueConstraint(condition=models.Q(('paid_at__isnull', True)), fields=('dossier',), name='dossiers_one_unpaid_payment'),
                    models.UniqueConstraint(condition=models.Q(('reference', ''), _negated=True), fields=('backend', 'reference'), name='dossiers_payment_reference_unique'),
                ],
            },
        ),
    ]
