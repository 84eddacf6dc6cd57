"""The operator's page of peers' health, and the Prometheus metrics."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from lienthong.audit.middleware import client_address
from lienthong.exchange import selectors


@staff_member_required
@require_GET
def peers(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "exchange/peers.html",
        {"peers": selectors.peers(), "states": selectors.state_counts()},
    )


def _may_scrape(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    try:
        return ipaddress.ip_address(client_address(request) or "").is_loopback
    except ValueError:
        return False


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format. With LIENTHONG_METRICS_TOKEN, a bearer token is required;
    without it, only loopback clients (a scraper on the node's own host) are answered."""
    if not _may_scrape(request):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    return HttpResponse(
        selectors.prometheus_text(), content_type="text/plain; version=0.0.4; charset=utf-8"
    )
