"""Reads for the citizen's pages, always within the citizen's own dossiers."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from lienthong.catalog import selectors as catalog
from lienthong.catalog.models import Procedure
from lienthong.directory.models import AdministrativeUnit, Agency, UnitLevel
from lienthong.dossiers import selectors as dossiers
from lienthong.dossiers.models import Attachment, Dossier, SupplementRequest


def own_dossier(user: Any, code: str) -> Dossier | None:
    """The dossier ``user`` is the applicant of; None when absent or someone else's alike.

    The portal is the applicant's page: an officer who may see the dossier in
    the back office does not see it here."""
    return (
        dossiers.my_dossiers(user)
        .select_related("receiving_agency", "step")
        .filter(code=code)
        .first()
    )


def open_supplement_request(dossier: Dossier) -> SupplementRequest | None:
    return dossier.supplement_requests.filter(answered_at__isnull=True).first()


def attachments(dossier: Dossier) -> QuerySet[Attachment]:
    return dossier.attachments.select_related("document").order_by("uploaded_at", "id")


def procedure(code: str) -> Procedure | None:
    return catalog.procedure_by_code(code)


def handling_agencies(procedure: Procedure) -> QuerySet[Agency]:
    return catalog.handling_agencies(procedure)


def province_of(agency: Agency) -> AdministrativeUnit | None:
    unit = agency.unit
    if unit is None:
        return None
    return unit if unit.level == UnitLevel.PROVINCE else unit.parent


def provinces_of(agencies: QuerySet[Agency]) -> QuerySet[AdministrativeUnit]:
    """The provinces where ``agencies`` are (their own unit, or its parent)."""
    return (
        AdministrativeUnit.objects.current()
        .filter(level=UnitLevel.PROVINCE)
        .filter(Q(pk__in=agencies.values("unit__parent")) | Q(pk__in=agencies.values("unit")))
        .order_by("name")
    )


def agencies_in(agencies: QuerySet[Agency], province_code: str) -> QuerySet[Agency]:
    return (
        agencies.filter(unit__parent__code=province_code)
        | agencies.filter(unit__code=province_code)
    ).order_by("name")


def communes() -> QuerySet[AdministrativeUnit]:
    """Every commune in force, by province, for an address."""
    return (
        AdministrativeUnit.objects.current()
        .filter(level=UnitLevel.COMMUNE)
        .select_related("parent")
        .order_by("parent__name", "name")
    )
