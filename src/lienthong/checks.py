"""System checks that refuse a dangerous configuration when the node starts.

Django runs them before ``migrate``, ``serve`` and the other commands; an
Error stops the command with the message below.
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from lienthong.directory.identifiers import is_valid_identifier
from lienthong.node import NODE_ROLES


def database_engine() -> str:
    return settings.DATABASES["default"]["ENGINE"]


@register(Tags.security, deploy=False)
def check_configuration(app_configs=None, **kwargs):
    problems = []
    if settings.NODE_ROLE not in NODE_ROLES:
        problems.append(
            Error(
                f"LIENTHONG_NODE_ROLE is {settings.NODE_ROLE!r}.",
                hint=f"Use one of: {', '.join(NODE_ROLES)}.",
                id="lienthong.E001",
            )
        )
    bad = [code for code in settings.NODE_AGENCIES if not is_valid_identifier(code)]
    if bad:
        problems.append(
            Error(
                f"LIENTHONG_NODE_AGENCIES holds malformed identifiers: {', '.join(bad)}.",
                hint="Identifiers are dot-separated groups of digits and capital letters (e.g. 000.00.00.G12).",
                id="lienthong.E002",
            )
        )
    carried = settings.EXCHANGE_QUERY_MAX_BYTES * 2 + 64 * 1024
    if carried > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        problems.append(
            Error(
                "LIENTHONG_EXCHANGE_QUERY_MAX_BYTES is too large for LIENTHONG_MAX_REQUEST_BYTES: "
                "a signed query of that size would be refused by the provider's node.",
                hint=f"Raise LIENTHONG_MAX_REQUEST_BYTES to at least {carried} "
                "or lower the query limit.",
                id="lienthong.E003",
            )
        )
    if not settings.PRODUCTION:
        return problems

    if settings.DEBUG:
        problems.append(
            Error(
                "LIENTHONG_DEBUG is on in production: error pages would show settings and code.",
                hint="Unset LIENTHONG_DEBUG.",
                id="lienthong.E010",
            )
        )
    if not settings.ALLOWED_HOSTS or "*" in settings.ALLOWED_HOSTS:
        problems.append(
            Error(
                "LIENTHONG_ALLOWED_HOSTS must name this node's host names in production (no '*').",
                hint="For example LIENTHONG_ALLOWED_HOSTS=lienthong.example.gov.vn",
                id="lienthong.E011",
            )
        )
    if len(settings.SECRET_KEY) < 50 or len(set(settings.SECRET_KEY)) < 5:
        problems.append(
            Error(
                "SECRET_KEY is too short or too simple for production.",
                hint="Unset it to let the node generate one in the data folder, or give 50+ random characters.",
                id="lienthong.E012",
            )
        )
    if not settings.SESSION_COOKIE_SECURE:
        problems.append(
            Error(
                "Cookies would be sent over plain HTTP in production.",
                hint="Serve the node over HTTPS and leave LIENTHONG_SECURE_COOKIES on.",
                id="lienthong.E013",
            )
        )
    if database_engine().endswith("sqlite3"):
        problems.append(
            Warning(
                "Production node on SQLite: one writer at a time, one machine.",
                hint="Set DATABASE_URL to a PostgreSQL database for several web and worker processes.",
                id="lienthong.W001",
            )
        )
    return problems
