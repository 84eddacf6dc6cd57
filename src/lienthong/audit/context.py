"""Request facts (IP, request id) that audit records pick up without every
service having to pass them along."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass


@dataclass(frozen=True)
class AuditContext:
    ip_address: str | None = None
    request_id: str = ""


_EMPTY = AuditContext()
_current: contextvars.ContextVar[AuditContext | None] = contextvars.ContextVar(
    "lienthong_audit_context", default=None
)


def current() -> AuditContext:
    return _current.get() or _EMPTY


def bind(context: AuditContext) -> contextvars.Token:
    return _current.set(context)


def reset(token: contextvars.Token) -> None:
    _current.reset(token)
