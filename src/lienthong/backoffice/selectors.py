"""Reads for the officers' pages, always within the agencies the officer works for."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from lienthong.catalog.models import FieldKind, FormField
from lienthong.directory.addresses import Address
from lienthong.directory.models import Agency
from lienthong.dossiers import selectors as dossiers
from lienthong.dossiers import workflow
from lienthong.dossiers.models import Attachment, Dossier, SupplementRequest
from lienthong.identity.permissions import agencies_for

OFFICER_ROLES = dossiers.OFFICER_ROLES


def officer_agencies(user: Any) -> QuerySet[Agency]:
    """The agencies where ``user`` holds an officer role (one-stop, specialist, leader)."""
    return agencies_for(user, OFFICER_ROLES)


def is_officer(user: Any) -> bool:
    return officer_agencies(user).exists()


def agency_dossier(user: Any, agency: Agency, code: str) -> Dossier | None:
    """The dossier ``code`` as seen from ``agency``'s back office: one the agency
    received or holds now, and that ``user`` may see; None when absent or
    forbidden alike."""
    dossier = dossiers.dossier_for(user, code)
    if dossier is None or agency.pk not in (dossier.current_agency_id, dossier.receiving_agency_id):
        return None
    return dossier


def attachments(dossier: Dossier) -> QuerySet[Attachment]:
    return dossier.attachments.select_related("document").order_by("uploaded_at", "id")


def open_supplement_request(dossier: Dossier) -> SupplementRequest | None:
    return dossier.supplement_requests.filter(answered_at__isnull=True).first()


def declaration(dossier: Dossier) -> list[tuple[str, Any]]:
    """The form data as (label, value) pairs, in the procedure form's order; keys the
    form no longer lists come last under their own name."""
    values = dict(dossier.form_data or {})
    rows = []
    for field in dossier.procedure.form_fields.order_by("position", "id"):
        if field.key in values:
            rows.append((field.localized_label, _readable(field, values.pop(field.key))))
    rows.extend(sorted(values.items()))
    return rows


def _readable(field: FormField, value: Any) -> Any:
    """A stored value as the officer reads it: a choice's label, a date as dd/mm/yyyy,
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


def next_moves(user: Any, dossier: Dossier) -> set[int]:
    """The statuses the state machine lets ``user`` move ``dossier`` to now: the
    page shows only the forms that can succeed (the service decides again on POST)."""
    capacities = workflow.capacities(user, dossier)
    return {
        int(to)
        for to in workflow.next_statuses(dossier.status)
        if workflow.allowed_roles(dossier.status, to) & capacities
    }
