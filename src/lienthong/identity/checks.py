"""System checks that refuse an identity configuration unsafe in production."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security)
def check_identity_configuration(app_configs=None, **kwargs):
    errors = []
    if settings.PRODUCTION and not settings.IDENTITY_RP_ID:
        errors.append(
            Error(
                "LIENTHONG_IDENTITY_RP_ID is not set: passkeys need the site's domain.",
                id="lienthong.identity.E001",
            )
        )
    if settings.PRODUCTION and not all(
        origin.startswith("https://") for origin in settings.IDENTITY_ORIGINS or ["-"]
    ):
        errors.append(
            Error(
                "LIENTHONG_IDENTITY_ORIGINS must list the https:// origins of the site.",
                id="lienthong.identity.E002",
            )
        )
    if settings.IDENTITY_SESSION_IDLE_SECONDS > settings.IDENTITY_SESSION_ABSOLUTE_SECONDS:
        errors.append(
            Error(
                "LIENTHONG_IDENTITY_SESSION_IDLE_SECONDS is longer than the absolute timeout.",
                id="lienthong.identity.E003",
            )
        )
    backend = settings.CACHES["default"]["BACKEND"]
    if settings.PRODUCTION and backend.endswith((".LocMemCache", ".DummyCache")):
        errors.append(
            Error(
                "LIENTHONG_CACHE_URL=locmem:// keeps a cache per process: rate limits "
                "would not be shared between the node's workers.",
                hint="Use the default (database) or redis://.",
                id="lienthong.identity.E004",
            )
        )
    return errors
