"""Reading dossiers, always through the user's scope.

A citizen or business sees the dossiers they are the applicant of; an officer
sees the dossiers their agencies received or hold now; nobody else sees any.
What a user may not see does not exist for them: ``dossier_for`` answers None
for it, exactly as for a code that does not exist.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone

from lienthong.catalog.models import FieldKind, FormField
from lienthong.directory.addresses import Address
from lienthong.directory.models import Agency
from lienthong.dossiers.models import (
    CLOCK_RUNNING,
    Dossier,
    DossierEvent,
    Status,
    due_soon_limit,
)
from lienthong.identity.models import Role
from lienthong.identity.permissions import agencies_for, has_role

OFFICER_ROLES = (Role.ONE_STOP_OFFICER, Role.SPECIALIST, Role.LEADER)
QUEUES = ("new", "due_soon", "overdue", "supplement", "open")


def visible_dossiers(user: Any) -> QuerySet[Dossier]:
    """Every dossier ``user`` may see (their own, and their agencies')."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Dossier.objects.none()
    agencies = agencies_for(user, OFFICER_ROLES)
    return Dossier.objects.filter(
        Q(applicant=user) | Q(current_agency__in=agencies) | Q(receiving_agency__in=agencies)
    )


def dossier_for(user: Any, code: str) -> Dossier | None:
    """The dossier with ``code`` if ``user`` may see it; None when absent or forbidden alike."""
    return (
        visible_dossiers(user)
        .select_related("procedure", "current_agency", "receiving_agency", "step")
        .filter(code=code)
        .first()
    )


# The columns a list of dossiers shows (code, procedure, applicant, status, times,
# holder): a page of twenty reads these, not the declaration (JSON) and the rest.
LIST_FIELDS = (
    "code",
    "procedure__code",
    "procedure__name",
    "procedure__name_en",
    "current_agency__name",
    "current_agency__identifier",
    "applicant_name",
    "status",
    "submitted_at",
    "due_at",
)


def listed(dossiers: QuerySet[Dossier]) -> QuerySet[Dossier]:
    """``dossiers`` as a list page reads them: only ``LIST_FIELDS``, with the procedure
    and the agency holding each joined in the same query."""
    return dossiers.select_related("procedure", "current_agency").only(*LIST_FIELDS)


def my_dossiers(user: Any) -> QuerySet[Dossier]:
    """The dossiers ``user`` submitted (or that were taken at the counter for their account)."""
    if user is None or not user.is_authenticated:
        return Dossier.objects.none()
    return (
        Dossier.objects.filter(applicant=user)
        .select_related("procedure", "current_agency")
        .order_by("-submitted_at", "-id")
    )


def officer_queue(
    user: Any, agency: Agency, queue: str = "open", *, now: dt.datetime | None = None
) -> QuerySet[Dossier]:
    """One of the agency's queues, for an officer of that agency (empty for anyone else).

    ``new``: status 1, oldest first; ``due_soon``: the clock runs and the deadline
    falls before the end of the next working day; ``overdue``: the clock runs and
    the deadline has passed; ``supplement``: waiting for the applicant; ``open``:
    everything not final, by deadline. Served by the (agency, status, due_at) index.
    """
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    if not has_role(user, agency, OFFICER_ROLES):
        return Dossier.objects.none()
    now = now or timezone.now()
    # receiving_agency: a copy routed to another node's agency is held there, not
    # here (workflow.held_elsewhere); every dossier held here was received here.
    held = Dossier.objects.filter(current_agency=agency, receiving_agency=agency).select_related(
        "procedure"
    )
    running = [int(s) for s in CLOCK_RUNNING]
    if queue == "new":
        return held.filter(status=Status.NEW).order_by("submitted_at", "id")
    if queue == "supplement":
        return held.filter(status=Status.SUPPLEMENT_REQUESTED).order_by("submitted_at", "id")
    if queue == "overdue":
        return held.filter(status__in=running, due_at__lt=now).order_by("due_at", "id")
    if queue == "due_soon":
        return held.filter(
            status__in=running, due_at__gte=now, due_at__lte=due_soon_limit(now)
        ).order_by("due_at", "id")
    open_statuses = [int(s) for s in Status if s not in _FINAL]
    return held.filter(status__in=open_statuses).order_by("due_at", "submitted_at", "id")


_FINAL = {Status.REJECTED, Status.WITHDRAWN, Status.STOPPED, Status.RESULT_RETURNED}


def timeline(dossier: Dossier) -> QuerySet[DossierEvent]:
    """The dossier's history as the applicant reads it, oldest first."""
    return dossier.events.select_related("agency").order_by("at", "id")


def _normalised(factor: str) -> str:
    text = re.sub(r"[\s.\-]", "", factor or "")
    if text.startswith("+84"):
        text = "0" + text[3:]
    return text


# Compared against when the code is unknown, so both answers take the same work.
_NOBODY = "\x00" * 12


def lookup(code: str, second_factor: str) -> Dossier | None:
    """A dossier found without signing in, by its code and the phone number or
    personal ID number (or tax code) given with it.

    None for an unknown code and for a wrong factor alike, with the same work
    done in both cases and constant-time comparisons, so a wrong guess learns
    nothing (not even whether the code exists). Callers rate-limit it.
    """
    factor = _normalised(second_factor)
    dossier = (
        Dossier.objects.select_related("procedure", "current_agency")
        .filter(code=(code or "").strip())
        .first()
    )
    phone = _normalised(dossier.applicant_phone) if dossier else ""
    number = dossier.applicant_id_number if dossier else ""
    # Both compared every time, against a placeholder when there is nothing to
    # compare with: no early exit tells which one matched or existed.
    matches_phone = hmac.compare_digest(factor.encode(), (phone or _NOBODY).encode()) and bool(
        phone
    )
    matches_number = hmac.compare_digest(factor.encode(), (number or _NOBODY).encode()) and bool(
        number
    )
    if dossier is None or len(factor) < 9 or not (matches_phone or matches_number):
        return None
    return dossier


def declaration(dossier: Dossier) -> list[tuple[str, Any]]:
    """The form data as (label, value) pairs, in the procedure form's order; keys the
    form no longer lists come last under their own name. The back office shows it,
    and the portal writes it into the applicant's declaration PDF."""
    values = dict(dossier.form_data or {})
    rows = []
    for field in dossier.procedure.form_fields.order_by("position", "id"):
        if field.key in values:
            rows.append((field.localized_label, _readable(field, values.pop(field.key))))
    rows.extend(sorted(values.items()))
    return rows


def _readable(field: FormField, value: Any) -> Any:
    """A stored value as a person reads it: a choice's label, a date as dd/mm/yyyy,
    an address written out (as stored when its units are no longer in force)."""
    if value in (None, ""):
        return value
    if field.kind == FieldKind.CHOICE:
        return field.choice_label(value)
    if field.kind == FieldKind.DATE:
        try:
            return dt.date.fromisoformat(str(value)).strftime("%d/%m/%Y")
        except ValueError:
            return value
    if field.kind == FieldKind.ADDRESS and isinstance(value, dict):
        address = Address(
            street=str(value.get("street", "")),
            commune_code=str(value.get("commune_code", "")),
            province_code=str(value.get("province_code", "")),
        )
        try:
            return address.formatted(*address.validate())
        except ValidationError:
            return ", ".join(str(part) for part in value.values() if part)
    return value
