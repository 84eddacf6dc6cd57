"""Reads from the catalogue: diacritics-insensitive search and the procedure pages."""

from __future__ import annotations

import copy
import datetime as dt

from django.db import connection
from django.db.models import (
    Case,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
)

from lienthong.catalog.models import (
    AuthorityLevel,
    Holiday,
    InterconnectedProcedure,
    InterconnectedStep,
    Procedure,
    ProcedureField,
)
from lienthong.directory.models import AdministrativeUnit, Agency, UnitLevel
from lienthong.text import search_terms


def _matching(queryset: QuerySet, query: str) -> QuerySet:
    """Rows whose folded text has a word starting with each word of ``query``,
    best matches first.

    As in the directory, the folded text is stored (``search_text``, with a
    leading space so that every word follows a space), so "dang ky khai sinh"
    and "Đăng ký khai sinh" find the same rows on SQLite and PostgreSQL
    alike. Matching word starts rather than any substring keeps short words
    precise: "cong an" finds the police, not "công chứng ... nhân dân".
    Ranking: exact code, then names starting with the phrase, then texts
    containing it, then texts holding every word.
    """
    terms = search_terms(query)
    exact_code = query.strip().upper()
    if not terms:
        return queryset.filter(code=exact_code).annotate(rank=Value(0))
    phrase = " ".join(terms)
    condition = Q()
    for term in terms:
        condition &= Q(search_text__contains=f" {term}")
    return queryset.filter(condition | Q(code=exact_code)).annotate(
        rank=Case(
            When(code=exact_code, then=Value(0)),
            When(search_text__startswith=f" {phrase}", then=Value(2)),
            When(search_text__contains=f" {phrase}", then=Value(3)),
            default=Value(5),
            output_field=IntegerField(),
        )
    )


def fields() -> QuerySet[ProcedureField]:
    return ProcedureField.objects.order_by("name")


def field_by_code(code: str) -> ProcedureField | None:
    return ProcedureField.objects.filter(code=code).first()


def procedures(
    *,
    query: str = "",
    field_code: str = "",
    online_level: str = "",
    authority_kind: str = "",
    agency: Agency | None = None,
    commune: AdministrativeUnit | None = None,
) -> QuerySet[Procedure]:
    """Active procedures matching every filter given, best matches first.

    ``agency``: the procedures it handles. ``commune``: the procedures a
    person there can do — those handled by an agency of the commune or of its
    province, and commune-level ones whose authority the directory does not
    list (commune police, for residence), which every commune has.
    """
    qs = Procedure.objects.filter(is_active=True).select_related("field")
    if field_code:
        qs = qs.filter(field__code=field_code)
    if online_level:
        qs = qs.filter(online_level=online_level)
    if authority_kind:
        qs = qs.filter(authority_kind=authority_kind)
    if agency is not None:
        qs = qs.filter(_handled_by(Q(agency=agency)))
    if commune is not None:
        units = [commune.pk] + ([commune.parent_id] if commune.parent_id else [])
        unlisted = Q(level=AuthorityLevel.COMMUNE) & ~_handled_by(Q())
        qs = qs.filter(_handled_by(Q(agency__unit__in=units)) | unlisted)
    if query:
        return _matching(qs, query).order_by("rank", "name", "code")
    return qs.order_by("field__name", "name", "code")


def _handled_by(condition: Q) -> Exists:
    """Whether one of the procedure's linked agencies meets ``condition`` (a subquery, so
    procedures linked to thousands of communes are not repeated by a join)."""
    links = Procedure.agencies.through.objects.filter(condition, procedure=OuterRef("pk"))
    return Exists(links)


def procedure_by_code(code: str) -> Procedure | None:
    """The active procedure ``code`` with its field, form fields, documents and fees.

    Read once per process and kept while the catalogue's revision stays the one it
    was read under (``CatalogRevision``: triggers change it with every write to
    those tables): a submission then costs one small query here instead of four
    and the objects they make. The revision is read first, so a change committed
    between the two reads makes the next call read again, never keeps old rows
    under a new revision. Each call gets its own copy of the procedure (its rows
    of fields, documents and fees are shared: read them, never change them)."""
    revision = catalog_revision()
    kept = _procedures.get(code)
    if revision is not None and kept is not None and kept[0] == revision:
        return _copy(kept[1])
    procedure = (
        Procedure.objects.filter(is_active=True, code=code)
        .select_related("field")
        .prefetch_related("form_fields", "documents", "fees")
        .first()
    )
    if revision is None or procedure is None:
        _procedures.pop(code, None)
        return procedure
    if len(_procedures) >= _PROCEDURES_KEPT:
        _procedures.clear()
    _procedures[code] = (revision, procedure)
    return _copy(procedure)


def _copy(procedure: Procedure) -> Procedure:
    """A copy of a kept procedure: its own attributes and its own mapping of
    prefetched rows (whose lists it shares)."""
    clone = copy.copy(procedure)
    clone._prefetched_objects_cache = dict(procedure._prefetched_objects_cache)
    return clone


# code -> (the catalogue's revision it was read under, the procedure as read)
_procedures: dict[str, tuple[int, Procedure]] = {}
_PROCEDURES_KEPT = 5000  # the national catalogue holds some two thousand


def catalog_revision() -> int | None:
    """The catalogue's revision now; None where nothing may be kept (no triggers, or
    the row is gone: a test database flushed)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM catalog_revision WHERE id = 1")
        row = cursor.fetchone()
    return row[0] if row else None


def handling_agencies(procedure: Procedure) -> QuerySet[Agency]:
    return procedure.agencies.filter(is_active=True).select_related("unit").order_by("identifier")


# What one row of the search page's results shows (catalog/_results.html); the rest
# of a procedure (legal basis, status texts, its search text...) is not read there.
RESULT_COLUMNS = (
    "code",
    "name",
    "name_en",
    "authority",
    "online_level",
    "time_limit",
    "time_limit_basis",
    "field__code",
    "field__name",
    "field__name_en",
)


def result_rows(procedures: QuerySet[Procedure]) -> QuerySet[Procedure]:
    """``procedures`` (from ``procedures()``) with only the columns a result row shows."""
    return procedures.only(*RESULT_COLUMNS)


def interconnected_results(*, query: str = "") -> QuerySet[InterconnectedProcedure]:
    """The interconnected procedures matching ``query`` as the search page lists them:
    name, online level and their number of steps (counted, not loaded)."""
    qs = (
        InterconnectedProcedure.objects.filter(is_active=True)
        .only("code", "name", "name_en", "online_level")
        .annotate(step_count=Count("steps"))
    )
    if query:
        return _matching(qs, query).order_by("rank", "code")
    return qs.order_by("code")


def interconnected_procedures(*, query: str = "") -> QuerySet[InterconnectedProcedure]:
    qs = InterconnectedProcedure.objects.filter(is_active=True).prefetch_related(
        Prefetch(
            "steps",
            queryset=InterconnectedStep.objects.select_related("procedure").order_by("position"),
        )
    )
    if query:
        return _matching(qs, query).order_by("rank", "code")
    return qs.order_by("code")


def interconnected_by_code(code: str) -> InterconnectedProcedure | None:
    return (
        InterconnectedProcedure.objects.filter(is_active=True, code=code)
        .prefetch_related(
            Prefetch(
                "steps",
                queryset=InterconnectedStep.objects.select_related("procedure", "procedure__field")
                .prefetch_related("procedure__fees")
                .order_by("position"),
            )
        )
        .first()
    )


def agency_by_identifier(identifier: str) -> Agency | None:
    return Agency.objects.filter(identifier=identifier, is_active=True).first()


def commune_by_code(code: str) -> AdministrativeUnit | None:
    return AdministrativeUnit.objects.current().filter(level=UnitLevel.COMMUNE, code=code).first()


def holidays(*, year: int) -> QuerySet[Holiday]:
    start = dt.date(year, 1, 1)
    return Holiday.objects.filter(date__gte=start, date__lt=start.replace(year=year + 1))
