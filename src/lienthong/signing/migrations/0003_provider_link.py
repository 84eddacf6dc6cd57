import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("signing", "0002_pending_signature"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ProviderLink",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("service_url", models.CharField(max_length=300, verbose_name="service")),
                (
                    "method",
                    models.CharField(
                        choices=[
                            ("oauth2", "Signed in at the service"),
                            ("token", "Access token entered"),
                        ],
                        max_length=10,
                        verbose_name="linked by",
                    ),
                ),
                ("sealed_access_token", models.BinaryField(editable=False)),
                (
                    "sealed_refresh_token",
                    models.BinaryField(blank=True, default=b"", editable=False),
                ),
                (
                    "expires_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="token expires"),
                ),
                ("created_at", models.DateTimeField(verbose_name="linked")),
                (
                    "refreshed_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="refreshed"),
                ),
                (
                    "revoked_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="unlinked"),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="signing_provider_links",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="user",
                    ),
                ),
            ],
            options={
                "verbose_name": "signing service link",
                "verbose_name_plural": "signing service links",
                "ordering": ["-created_at", "-id"],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("revoked_at__isnull", True)),
                        fields=("user", "service_url"),
                        name="signing_one_live_link_per_service",
                    )
                ],
            },
        ),
    ]
