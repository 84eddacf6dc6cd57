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
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.http import RFC3986_SUBDELIMS
from django.utils.translation import get_language

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


# What a row of a list page shows, read as plain values: a page of twenty builds
# no model instance, and the template reads ready text (see ``list_rows``).
ROW_FIELDS = (
    "code",
    "procedure__name",
    "procedure__name_en",
    "current_agency__name",
    "applicant_name",
    "status",
    "submitted_at",
    "due_at",
)


def row_values(dossiers: QuerySet[Dossier], *extra: str) -> QuerySet[dict]:
    """``dossiers`` as dictionaries of ``ROW_FIELDS`` (and ``extra``), joined in one
    query. Meant for a page already cut (``Paginator.page(...).object_list``): the
    paginator counts the plain queryset, whose COUNT needs none of these joins."""
    return dossiers.values(*ROW_FIELDS, *extra)


def url_of_code(viewname: str, *args: Any) -> Callable[[str], str]:
    """``code -> reverse(viewname, args=(*args, code))``, reversing once for a whole
    page: the URL around the code is the same on every row."""
    marker = "0code0"
    head, _, tail = reverse(viewname, args=(*args, marker)).rpartition(marker)
    return lambda code: f"{head}{quote(code, safe=_URL_SAFE)}{tail}"


# What ``reverse`` leaves unquoted in a path segment (django.urls.resolvers).
_URL_SAFE = RFC3986_SUBDELIMS + "/~:@"


def list_rows(
    values: Iterable[dict], url: Callable[[str], str], status: Callable[[dict], int] | None = None
) -> list[dict]:
    """Rows of ``row_values`` as a list page prints them, in the active language and
    time zone: the dossier's ``url``, the procedure's name, ``status`` (the dossier's
    own unless given) as its label, the submission date and time and the deadline
    (None when the clock has not started)."""
    english = (get_language() or "vi").startswith("en")
    zone = timezone.get_current_timezone()
    labels = status_labels()
    rows = []
    for row in values:
        number = int(status(row) if status else row["status"])
        submitted, due = row["submitted_at"], row["due_at"]
        rows.append(
            {
                "code": row["code"],
                "url": url(row["code"]),
                "procedure": (english and row["procedure__name_en"]) or row["procedure__name"],
                "agency": row["current_agency__name"],
                "applicant": row["applicant_name"],
                "status": labels.get(number, str(number)),
                "submitted": submitted.astimezone(zone).strftime("%d/%m/%Y %H:%M"),
                "submitted_date": submitted.astimezone(zone).strftime("%d/%m/%Y"),
                "due": due.astimezone(zone).strftime("%d/%m/%Y %H:%M") if due else None,
            }
        )
    return rows


# Language -> {status number: label}: the labels are fixed in the code.
_STATUS_LABELS: dict[str, dict[int, str]] = {}


def status_labels() -> dict[int, str]:
    """The national statuses' labels in the active language, made once per language."""
    language = get_language() or ""
    labels = _STATUS_LABELS.get(language)
    if labels is None:
        labels = _STATUS_LABELS[language] = {int(s): str(s.label) for s in Status}
    return labels


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


def timeline_rows(dossier: Dossier) -> list[dict]:
    """``timeline`` as plain values, for a page that only prints it (the public
    look-up): each event's ``at``, ``action``, ``status_to``, ``step``, ``reason``
    and ``agency`` (its ``name``, or None), as ``portal/_timeline.html`` reads them."""
    rows = []
    for row in dossier.events.order_by("at", "id").values(
        "at", "action", "status_to", "step", "reason", "agency__name"
    ):
        name = row.pop("agency__name")
        row["agency"] = None if name is None else {"name": name}
        rows.append(row)
    return rows


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
    # The code is unique: no ordering (``first()`` would sort the one row it finds).
    found = (
        Dossier.objects.select_related("procedure", "current_agency")
        .filter(code=(code or "").strip())
        .order_by()[:1]
    )
    dossier = next(iter(found), None)
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
