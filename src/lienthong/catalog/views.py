"""Procedure pages. Each parses input, calls selectors and renders; with htmx the
search answers with the results fragment only, without it the whole page."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from lienthong.catalog import selectors
from lienthong.catalog.models import AuthorityKind, OnlineLevel
from lienthong.catalog.statuses import NATIONAL_STATUSES, status_text

MAX_QUERY_LENGTH = 200
PAGE_SIZE = 20


def _choice(request: HttpRequest, name: str, allowed) -> str:
    """A filter's value when it is one of ``allowed``; anything else means no filter."""
    value = request.GET.get(name, "")
    return value if value in allowed else ""


@require_GET
def procedure_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:MAX_QUERY_LENGTH]
    fields = list(selectors.fields())
    filters = {
        "field": _choice(request, "field", {f.code for f in fields}),
        "level": _choice(request, "level", OnlineLevel.values),
        "authority": _choice(request, "authority", AuthorityKind.values),
    }
    procedures = selectors.procedures(
        query=query,
        field_code=filters["field"],
        online_level=filters["level"],
        authority_kind=filters["authority"],
    )
    page = Paginator(selectors.result_rows(procedures), PAGE_SIZE).get_page(request.GET.get("page"))
    interconnected = [] if any(filters.values()) else selectors.interconnected_results(query=query)
    context = {
        "query": query,
        "filters": filters,
        "fields": fields,
        "levels": OnlineLevel.choices,
        "authorities": AuthorityKind.choices,
        "results": page,
        "interconnected": interconnected,
        "filter_query": _filter_query(query, filters),
    }
    template = "catalog/_results.html" if request.htmx else "catalog/procedure_list.html"
    return render(request, template, context)


def _filter_query(query: str, filters: dict[str, str]) -> str:
    """The query string of the current search, for the pagination links."""
    pairs = [("q", query), *filters.items()]
    return urlencode([(k, v) for k, v in pairs if v])


@require_GET
def procedure_detail(request: HttpRequest, code: str) -> HttpResponse:
    procedure = selectors.procedure_by_code(code)
    if procedure is not None:
        statuses = [
            (number, status_text(number, procedure.status_texts)) for number in NATIONAL_STATUSES
        ]
        agencies = selectors.handling_agencies(procedure)
        return render(
            request,
            "catalog/procedure_detail.html",
            {
                "procedure": procedure,
                "statuses": statuses,
                "agency_count": agencies.count(),
                "agencies": agencies[: settings.DIRECTORY_PAGE_SIZE],
            },
        )
    interconnected = selectors.interconnected_by_code(code)
    if interconnected is None:
        raise Http404
    return render(request, "catalog/interconnected_detail.html", {"group": interconnected})
