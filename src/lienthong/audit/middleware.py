from __future__ import annotations

import uuid

import structlog
from django.conf import settings

from lienthong.audit import context


def client_address(request) -> str | None:
    """The client's IP: REMOTE_ADDR, unless that is a trusted proxy (LIENTHONG_TRUSTED_PROXIES).

    Then the rightmost X-Forwarded-For address that is not itself a trusted
    proxy is the client. Anything left of it was written by the client and is
    not believed, so nobody can put an address of their choice in the audit trail.
    """
    remote = request.META.get("REMOTE_ADDR")
    trusted = settings.TRUSTED_PROXIES
    if not trusted or remote not in trusted:
        return remote
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for address in reversed([a for a in forwarded if a]):
        if address not in trusted:
            return address
    return remote


def client_key(request) -> str:
    """A rate limit's subject (identity.throttle.rate_exceeded): the client address as
    the audit trail sees it."""
    return client_address(request) or "unknown"


class AuditContextMiddleware:
    """Binds the client address and a request id for audit records and logs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request.headers.get("X-Request-ID", "")[:64] or uuid.uuid4().hex
        token = context.bind(
            context.AuditContext(ip_address=client_address(request), request_id=request_id)
        )
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            response = self.get_response(request)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
            context.reset(token)
        response["X-Request-ID"] = request_id
        return response
