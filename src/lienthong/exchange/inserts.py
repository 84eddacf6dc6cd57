"""New rows of the exchange's busiest tables (received envelopes, log records) in one
``INSERT … RETURNING``, its SQL built once per model, database and row count; and
``any_row``, the worker's cheap look before a claim.

What ``QuerySet.bulk_create`` does for these models (every concrete field but the
automatic key, each value through the field's ``pre_save`` and ``get_db_prep_save``,
the keys set on the instances), without compiling the statement again on every call:
on one envelope per request that compilation was a good part of the receiver's and
the sender's CPU time. Anything this does not cover goes to ``bulk_create``.
"""

from __future__ import annotations

from django.db import connections, router
from django.db.models import AutoField, Model

_statements: dict[tuple, str] = {}


def insert(objs: list[Model]) -> list[Model]:
    """Insert ``objs`` (new instances of one model, no key set) in order; ``objs`` with
    their keys, as ``bulk_create`` returns them."""
    if not objs:
        return objs
    model = type(objs[0])
    alias = router.db_for_write(model)
    connection = connections[alias]
    if (
        not connection.features.can_return_rows_from_bulk_insert
        or any(type(obj) is not model or obj.pk is not None for obj in objs)
        or any(f.generated or f.has_db_default() for f in model._meta.concrete_fields)
    ):
        return model.objects.using(alias).bulk_create(objs)
    fields = [f for f in model._meta.concrete_fields if not isinstance(f, AutoField)]
    size = connection.ops.bulk_batch_size(fields, objs) or len(objs)
    for start in range(0, len(objs), size):
        chunk = objs[start : start + size]
        sql = _statement(model, connection, fields, len(chunk))
        params = [
            field.get_db_prep_save(field.pre_save(obj, True), connection)
            for obj in chunk
            for field in fields
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            keys = cursor.fetchall()
        for obj, (key,) in zip(chunk, keys, strict=True):
            obj.pk = key
            obj._state.adding = False
            obj._state.db = alias
    return objs


def _statement(model, connection, fields, rows: int) -> str:
    key = (model, connection.alias, connection.vendor, rows)
    sql = _statements.get(key)
    if sql is None:
        quote = connection.ops.quote_name
        row = f"({', '.join(['%s'] * len(fields))})"
        sql = (
            f"INSERT INTO {quote(model._meta.db_table)} "  # noqa: S608 (names from the model)
            f"({', '.join(quote(f.column) for f in fields)}) "
            f"VALUES {', '.join([row] * rows)} RETURNING {quote(model._meta.pk.column)}"
        )
        _statements[key] = sql
    return sql


def any_row(model: type[Model], where: str, params: list) -> bool:
    """Whether a row of ``model`` matches ``where`` (SQL over its columns, ``%s`` for
    ``params``): ``SELECT 1 … LIMIT 1`` without the ORM. A worker woken for every
    arriving request looks whether anything waits for it before claiming; compiling
    those looks as querysets cost it several times the statements themselves."""
    connection = connections[router.db_for_read(model)]
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table} WHERE {where} LIMIT 1", params)  # noqa: S608
        return cursor.fetchone() is not None
