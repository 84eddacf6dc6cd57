from __future__ import annotations

import uuid

import structlog

from lienthong.audit import context


class AuditContextMiddleware:
    """Binds the client address and a request id for audit records and logs.

    REMOTE_ADDR is used as is: behind a proxy the proxy must rewrite it (granian
    and gunicorn can), because trusting X-Forwarded-For from anyone would let a
    client write any address into the audit trail.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request.headers.get("X-Request-ID", "")[:64] or uuid.uuid4().hex
        token = context.bind(
            context.AuditContext(ip_address=request.META.get("REMOTE_ADDR"), request_id=request_id)
        )
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            response = self.get_response(request)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
            context.reset(token)
        response["X-Request-ID"] = request_id
        return response
