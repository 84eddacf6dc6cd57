"""Directory pages. Each parses input, calls one selector and renders; with htmx
the search answers with the results fragment only, without it the whole page."""

from __future__ import annotations

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from lienthong.directory import selectors
from lienthong.directory.models import AgencyKind, UnitLevel

MAX_QUERY_LENGTH = 200


def _page(request: HttpRequest, queryset, per_page: int | None = None):
    paginator = Paginator(queryset, per_page or settings.DIRECTORY_PAGE_SIZE)
    return paginator.get_page(request.GET.get("page"))


def _query(request: HttpRequest) -> str:
    return request.GET.get("q", "").strip()[:MAX_QUERY_LENGTH]


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    provinces = selectors.units(level=UnitLevel.PROVINCE)
    return render(
        request,
        "directory/index.html",
        {"provinces": provinces, "counts": selectors.counts()},
    )


@require_GET
def search(request: HttpRequest) -> HttpResponse:
    query = _query(request)
    scope = request.GET.get("scope", "units")
    if scope not in {"units", "agencies"}:
        scope = "units"
    results = None
    if query:
        qs = selectors.units(query=query) if scope == "units" else selectors.agencies(query=query)
        results = _page(request, qs)
    context = {"query": query, "scope": scope, "results": results}
    template = "directory/_search_results.html" if request.htmx else "directory/search.html"
    return render(request, template, context)


@require_GET
def unit_detail(request: HttpRequest, code: str) -> HttpResponse:
    unit = selectors.unit_by_code(code)
    if unit is None:
        raise Http404
    context = {"unit": unit, "agencies": selectors.agencies(unit_code=code).filter(unit=unit)}
    if unit.level == UnitLevel.PROVINCE:
        context["communes"] = _page(
            request, selectors.units(parent_code=code, query=_query(request))
        )
        context["query"] = _query(request)
    else:
        context["postal_codes"] = selectors.postal_codes(unit_code=code)
    return render(request, "directory/unit.html", context)


@require_GET
def agency_list(request: HttpRequest) -> HttpResponse:
    query = _query(request)
    kind = request.GET.get("kind", "")
    if kind not in AgencyKind.values:
        kind = ""
    agencies = _page(request, selectors.agencies(query=query, kind=kind))
    return render(
        request,
        "directory/agencies.html",
        {"agencies": agencies, "query": query, "kind": kind, "kinds": AgencyKind.choices},
    )


@require_GET
def agency_detail(request: HttpRequest, identifier: str) -> HttpResponse:
    agency = selectors.agency_by_identifier(identifier)
    if agency is None:
        raise Http404
    children = _page(request, selectors.agencies(parent_identifier=identifier))
    return render(request, "directory/agency.html", {"agency": agency, "children": children})
