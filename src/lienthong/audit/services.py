"""Writing audit records. Every state-changing service calls ``record``."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

from django.db import models, transaction
from django.forms.models import model_to_dict

from lienthong.audit import context
from lienthong.audit.models import AuditRecord

ACTION_MAX_LENGTH = AuditRecord._meta.get_field("action").max_length
SOURCE_MAX_LENGTH = AuditRecord._meta.get_field("source").max_length


def actor_label(actor: Any) -> str:
    """A readable name for whoever acted: a user, or a system process named as a string."""
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    return actor.get_username()


def actor_user(actor: Any) -> Any | None:
    """The user who acted, for a foreign key; None for a system process named as a
    string, or nobody."""
    if actor is None or isinstance(actor, str) or not actor.pk:
        return None
    return actor


def snapshot(instance: models.Model) -> dict[str, Any]:
    """The instance's concrete field values, JSON-ready, for before/after comparison."""
    return {key: _jsonable(value) for key, value in model_to_dict(instance).items()}


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for every field whose value changed."""
    keys = before.keys() | after.keys()
    return {k: [before.get(k), after.get(k)] for k in sorted(keys) if before.get(k) != after.get(k)}


def record(
    *,
    actor: Any,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    changes: dict[str, Any] | None = None,
    source: str,
) -> AuditRecord:
    """Append one audit record in the caller's transaction.

    Must run inside the transaction of the change it describes: if the change
    rolls back, so does its record, and a committed change always has one.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit.record() must be called inside the change's transaction")
    if len(action) > ACTION_MAX_LENGTH or len(source) > SOURCE_MAX_LENGTH:
        # SQLite would store it; PostgreSQL refuses it mid-transaction.
        raise ValueError(f"audit action {action!r} or source {source!r} is too long")
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        object_repr = object_repr or str(obj)[:255]
    ctx = context.current()
    return AuditRecord.objects.create(
        actor=actor_user(actor),
        actor_label=actor_label(actor),
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr,
        changes=changes or {},
        source=source,
        ip_address=ctx.ip_address,
        request_id=ctx.request_id,
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    return value
