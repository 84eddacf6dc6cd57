"""Site-wide pages: the node's home page, and health and readiness probes."""

from __future__ import annotations

from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_safe
from django.views.defaults import page_not_found

from lienthong.directory import selectors
from lienthong.node import this_node


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    identity = this_node()
    return render(
        request,
        "home.html",
        {"node": identity, "hosted": identity.hosted_agencies(), "counts": selectors.counts()},
    )


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches nothing else, so a slow database
    does not get a healthy process restarted."""
    return JsonResponse({"status": "ok"})


_migrations_applied = False


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database answers and every migration is applied.

    Loading the migration graph is costly, so once a process has seen every
    migration applied it only checks the database on later probes.
    """
    global _migrations_applied
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
        if not _migrations_applied:
            executor = MigrationExecutor(connection)
            pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
            _migrations_applied = not pending
        checks["migrations"] = "ok" if _migrations_applied else "pending"
    except Exception as exc:  # any failure means "not ready", with the reason
        checks["database"] = f"error: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values()) and "migrations" in checks
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """404: for the JSON API a body with a stable code, like its other errors; for
    pages Django's own answer."""
    if request.path_info.startswith("/api/"):
        from lienthong.errors import ApiError

        error = ApiError(
            404,
            "not_found",
            "Không có địa chỉ này trong API.",
            "There is no such address in the API.",
        )
        return JsonResponse(error.body(), status=404)
    return page_not_found(request, exception)
