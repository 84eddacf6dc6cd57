"""Reads from the directory: listing and diacritics-insensitive search."""

from __future__ import annotations

import datetime as dt

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.utils import timezone

from lienthong.directory.models import AdministrativeUnit, Agency, PostalCode
from lienthong.text import search_terms


def _matching(queryset: QuerySet, query: str, code_field: str) -> QuerySet:
    """Rows whose folded name holds every word of ``query``, best matches first.

    The folded key is stored (``search_name``), so the database compares plain
    ASCII and needs no unaccent extension; SQLite and PostgreSQL behave alike.
    Ranking: exact code, then names that start with the phrase, then names
    that contain the phrase, then names that merely contain every word.
    """
    terms = search_terms(query)
    exact_code = query.strip().upper()
    if not terms:
        # Nothing searchable once folded (punctuation, symbols): only a code can match.
        return queryset.filter(**{code_field: exact_code}).annotate(rank=Value(0))
    phrase = " ".join(terms)
    condition = Q()
    for term in terms:
        condition &= Q(search_name__contains=term)
    condition |= Q(**{code_field: exact_code})
    return queryset.filter(condition).annotate(
        rank=Case(
            When(**{code_field: exact_code}, then=Value(0)),
            When(search_name=phrase, then=Value(1)),
            When(search_name__startswith=phrase, then=Value(2)),
            When(search_name__contains=f" {phrase}", then=Value(3)),
            When(search_name__contains=phrase, then=Value(4)),
            default=Value(5),
            output_field=IntegerField(),
        )
    )


def units(
    *,
    query: str = "",
    level: str = "",
    parent_code: str = "",
    on: dt.date | None = None,
) -> QuerySet[AdministrativeUnit]:
    qs = AdministrativeUnit.objects.valid_on(on or timezone.localdate()).select_related("parent")
    if level:
        qs = qs.filter(level=level)
    if parent_code:
        qs = qs.filter(parent__code=parent_code)
    if query:
        return _matching(qs, query, "code").order_by("rank", "level", "name", "code")
    return qs.order_by("level", "code")


def unit_by_code(code: str, on: dt.date | None = None) -> AdministrativeUnit | None:
    return (
        AdministrativeUnit.objects.valid_on(on or timezone.localdate())
        .select_related("parent")
        .filter(code=code)
        .first()
    )


def agencies(
    *,
    query: str = "",
    kind: str = "",
    unit_code: str = "",
    parent_identifier: str = "",
) -> QuerySet[Agency]:
    qs = Agency.objects.filter(is_active=True).select_related("parent", "unit", "node")
    if kind:
        qs = qs.filter(kind=kind)
    if unit_code:
        qs = qs.filter(Q(unit__code=unit_code) | Q(unit__parent__code=unit_code))
    if parent_identifier:
        qs = qs.filter(parent__identifier=parent_identifier)
    if query:
        return _matching(qs, query, "identifier").order_by("rank", "name", "identifier")
    return qs.order_by("kind", "identifier")


def agency_by_identifier(identifier: str) -> Agency | None:
    return (
        Agency.objects.select_related("parent", "unit", "node")
        .filter(identifier=identifier)
        .first()
    )


def postal_codes(*, unit_code: str = "", code: str = "") -> QuerySet[PostalCode]:
    qs = PostalCode.objects.select_related("unit", "unit__parent")
    if unit_code:
        qs = qs.filter(unit__code=unit_code)
    if code:
        qs = qs.filter(code=code)
    return qs.order_by("code", "unit__code")


def counts() -> dict[str, int]:
    current = AdministrativeUnit.objects.current()
    return {
        "provinces": current.provinces().count(),
        "communes": current.communes().count(),
        "agencies": Agency.objects.filter(is_active=True).count(),
    }
