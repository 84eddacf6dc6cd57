"""System checks: a remote-signing configuration that cannot work stops the node at start."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security)
def check_signing(app_configs, **kwargs):
    errors = []
    if settings.SIGNING_PROVIDER == "csc":
        url = urlsplit(settings.SIGNING_CSC_URL or "")
        local = url.hostname in ("localhost", "127.0.0.1", "::1")
        if url.scheme != "https" and not (url.scheme == "http" and local):
            errors.append(
                Error(
                    "LIENTHONG_SIGNING_PROVIDER=csc needs LIENTHONG_SIGNING_CSC_URL, an https:// "
                    "address of the CSC service (http:// only on loopback).",
                    id="lienthong.signing.E001",
                )
            )
        if getattr(settings, "SIGNING_CSC_LINK", "token") == "oauth2" and not getattr(
            settings, "SIGNING_CSC_CLIENT_ID", ""
        ):
            errors.append(
                Error(
                    "LIENTHONG_SIGNING_CSC_LINK=oauth2 needs LIENTHONG_SIGNING_CSC_CLIENT_ID (and "
                    "usually LIENTHONG_SIGNING_CSC_CLIENT_SECRET): the node's registration at "
                    "the signing service.",
                    id="lienthong.signing.E003",
                )
            )
    if not 30 <= settings.SIGNING_SAD_SECONDS <= 3600:
        errors.append(
            Error(
                "LIENTHONG_SIGNING_SAD_SECONDS must be between 30 and 3600: a signature "
                "authorisation is meant to be used at once.",
                id="lienthong.signing.E002",
            )
        )
    return errors
