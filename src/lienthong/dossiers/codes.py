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
    # get_or_create is safe under a race: the loser of the INSERT gets the
    # unique-constraint error inside a savepoint and reads the winner's row.
    DossierCounter.objects.get_or_create(agency=agency, day=day)
    counter = DossierCounter.objects.select_for_update().get(agency=agency, day=day)
    counter.last += 1
    counter.save(update_fields=["last"])
    return format_code(agency.identifier, day, counter.last)
