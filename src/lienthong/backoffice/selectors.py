"""Reads for the officers' pages, always within the agencies the officer works for."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from lienthong.directory.models import Agency
from lienthong.dossiers import selectors as dossiers
from lienthong.dossiers import workflow
from lienthong.dossiers.models import Attachment, Dossier, SupplementRequest
from lienthong.dossiers.selectors import declaration  # noqa: F401  (the dossier page's)
from lienthong.identity import permissions
from lienthong.identity.permissions import agencies_for

OFFICER_ROLES = dossiers.OFFICER_ROLES


def officer_agencies(user: Any) -> QuerySet[Agency]:
    """The agencies where ``user`` holds an officer role (one-stop, specialist, leader)."""
    return agencies_for(user, OFFICER_ROLES)


def is_officer(user: Any) -> bool:
    """Whether ``officer_agencies(user)`` has any: asked on every page (the menu), so
    of the roles alone, without the agencies' table."""
    return any(role in OFFICER_ROLES for _agency, role in permissions.held(user))


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


def next_moves(user: Any, dossier: Dossier) -> set[int]:
    """The statuses the state machine lets ``user`` move ``dossier`` to now: the
    page shows only the forms that can succeed (the service decides again on POST)."""
    capacities = workflow.capacities(user, dossier)
    return {
        int(to)
        for to in workflow.next_statuses(dossier.status)
        if workflow.allowed_roles(dossier.status, to) & capacities
    }
