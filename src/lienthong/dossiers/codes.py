"""Dossier codes from the per-agency, per-day counter."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from lienthong.catalog.working_days import VIETNAM
from lienthong.directory.models import Agency
from lienthong.dossiers.models import DossierCounter, format_code


def allocate_code(*, agency: Agency, at: dt.datetime) -> str:
    """The next dossier code of ``agency`` for the day of ``at`` (Vietnam time).

    Must run in the submission's transaction. The counter row is locked
    (SELECT ... FOR UPDATE on PostgreSQL) until that transaction ends, so two
    submissions to one agency on one day queue here and get consecutive
    numbers; if the submission rolls back, so does its number. SQLite has no
    row locks: there the node's IMMEDIATE transactions (settings.DATABASES)
    already let one writer in at a time.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("allocate_code() must run inside the submission's transaction")
    day = at.astimezone(VIETNAM).date()
    # One statement: the day's first submission makes the row, every later one
    # adds one to it; the row stays locked (written) until the transaction ends.
    # Under a race the loser of the INSERT waits for the winner's row and
    # updates it (ON CONFLICT), on PostgreSQL and SQLite (3.35+) alike.
    table = DossierCounter._meta.db_table
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (agency_id, day, last) VALUES (%s, %s, 1)"  # noqa: S608
            f" ON CONFLICT (agency_id, day) DO UPDATE SET last = {table}.last + 1"
            " RETURNING last",
            [agency.pk, day],
        )
        (number,) = cursor.fetchone()
    return format_code(agency.identifier, day, number)
