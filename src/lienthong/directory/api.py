"""Directory endpoints of the public API (/api/v1/units, /agencies, /postal-codes, /addresses)."""

from __future__ import annotations

import datetime as dt
import math

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import translation
from ninja import Field, Query, Router, Schema

from lienthong.directory import selectors
from lienthong.directory.addresses import Address
from lienthong.directory.models import AgencyKind, UnitLevel
from lienthong.errors import ErrorOut, invalid_input, not_found

router = Router(tags=["directory"])

MAX_PAGE_SIZE = 200

# A calendar day as YYYY-MM-DD only: pydantic alone would also take numbers
# ("0" as 1 January 1970), which hides client mistakes.
DAY_OPTIONS = {
    "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    "description": "Units in force on this day, YYYY-MM-DD (default: today)",
    "json_schema_extra": {"format": "date"},
}


def parse_day(value: str | None, field: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise invalid_input(
            [{"loc": ["query", field], "msg": f"{value} is not a calendar day"}]
        ) from exc


class PageIn(Schema):
    page: int = Field(1, ge=1, le=100_000, description="1-based page number")
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class DayFilter(Schema):
    on: str | None = Field(None, **DAY_OPTIONS)


class UnitFilter(PageIn):
    q: str = Field("", max_length=200, description="Search words; diacritics optional")
    level: UnitLevel | None = None
    parent: str = Field("", max_length=5, pattern=r"^[0-9]*$", description="Province code")
    on: str | None = Field(None, **DAY_OPTIONS)


class AgencyFilter(PageIn):
    q: str = Field("", max_length=200, description="Search words; diacritics optional")
    kind: AgencyKind | None = None
    unit: str = Field(
        "", max_length=5, pattern=r"^[0-9]*$", description="Unit code (province: whole province)"
    )
    parent: str = Field("", max_length=35, description="Parent agency identifier")


class PostalFilter(PageIn):
    unit: str = Field("", max_length=5, pattern=r"^[0-9]*$")
    code: str = Field("", max_length=5, pattern=r"^[0-9]*$")


class UnitRef(Schema):
    code: str
    name: str


class UnitOut(Schema):
    code: str
    level: str
    division_type: str
    name: str
    parent: UnitRef | None
    valid_from: dt.date
    valid_to: dt.date | None


class NodeRef(Schema):
    identifier: str
    name: str


class AgencyRef(Schema):
    identifier: str
    name: str


class AgencyOut(Schema):
    identifier: str
    identifier_generated: bool
    name: str
    kind: str
    parent: AgencyRef | None
    unit: UnitRef | None
    node: NodeRef | None


class PostalCodeOut(Schema):
    code: str
    unit: UnitRef
    label: str


class PageMeta(Schema):
    count: int
    page: int
    page_size: int
    pages: int


class UnitPage(PageMeta):
    results: list[UnitOut]


class AgencyPage(PageMeta):
    results: list[AgencyOut]


class PostalCodePage(PageMeta):
    results: list[PostalCodeOut]


class AddressIn(Schema):
    street: str = Field(..., max_length=255)
    commune_code: str = Field(..., max_length=5)
    province_code: str = Field(..., max_length=2)
    postal_code: str = Field("", max_length=10)


class AddressProblem(Schema):
    field: str
    code: str
    message_vi: str
    message_en: str


class AddressOut(Schema):
    valid: bool
    formatted: str = ""
    commune: UnitRef | None = None
    province: UnitRef | None = None
    postal_code: str = ""
    problems: list[AddressProblem] = []


def paginate(queryset: QuerySet, page: PageIn) -> dict:
    count = queryset.count()
    pages = max(1, math.ceil(count / page.page_size))
    start = (page.page - 1) * page.page_size
    return {
        "count": count,
        "page": page.page,
        "page_size": page.page_size,
        "pages": pages,
        "results": list(queryset[start : start + page.page_size]),
    }


@router.get(
    "/units",
    response={200: UnitPage, 422: ErrorOut},
    summary="Administrative units (provinces and communes)",
)
def list_units(request: HttpRequest, filters: Query[UnitFilter]):
    qs = selectors.units(
        query=filters.q,
        level=filters.level.value if filters.level else "",
        parent_code=filters.parent,
        on=parse_day(filters.on, "on"),
    )
    return paginate(qs, filters)


@router.get(
    "/units/{code}",
    response={200: UnitOut, 404: ErrorOut, 422: ErrorOut},
    summary="One administrative unit by statistics code",
)
def get_unit(request: HttpRequest, code: str, filters: Query[DayFilter]):
    unit = selectors.unit_by_code(code, on=parse_day(filters.on, "on"))
    if unit is None:
        raise not_found("đơn vị hành chính", "administrative unit", "unit_not_found")
    return unit


@router.get(
    "/agencies",
    response={200: AgencyPage, 422: ErrorOut},
    summary="Agencies with their electronic identifiers",
)
def list_agencies(request: HttpRequest, filters: Query[AgencyFilter]):
    qs = selectors.agencies(
        query=filters.q,
        kind=filters.kind.value if filters.kind else "",
        unit_code=filters.unit,
        parent_identifier=filters.parent,
    )
    return paginate(qs, filters)


@router.get(
    "/agencies/{identifier}",
    response={200: AgencyOut, 404: ErrorOut, 422: ErrorOut},
    summary="One agency by electronic identifier",
)
def get_agency(request: HttpRequest, identifier: str):
    agency = selectors.agency_by_identifier(identifier)
    if agency is None:
        raise not_found("cơ quan", "agency", "agency_not_found")
    return agency


@router.get(
    "/postal-codes", response={200: PostalCodePage, 422: ErrorOut}, summary="National postal codes"
)
def list_postal_codes(request: HttpRequest, filters: Query[PostalFilter]):
    return paginate(selectors.postal_codes(unit_code=filters.unit, code=filters.code), filters)


@router.post(
    "/addresses/validate",
    response={200: AddressOut, 400: ErrorOut, 422: ErrorOut},
    summary="Check an address: commune in province, postal code format and ownership",
)
def validate_address(request: HttpRequest, payload: AddressIn):
    """Always 200 for a well-formed request: ``valid`` says whether the address
    holds, and ``problems`` lists what does not, with stable codes."""
    address = Address(**payload.dict())
    try:
        commune, province = address.validate()
    except DjangoValidationError as exc:
        return {"valid": False, "problems": address_problems(exc)}
    return {
        "valid": True,
        "formatted": address.formatted(commune, province),
        "commune": commune,
        "province": province,
        "postal_code": address.postal_code,
        "problems": [],
    }


def address_problems(exc: DjangoValidationError) -> list[dict]:
    problems = []
    for field, errors in exc.error_dict.items():
        for error in errors:
            params = error.params or {}
            with translation.override("vi"):
                message_vi = str(error.message) % params
            with translation.override("en"):
                message_en = str(error.message) % params
            problems.append(
                {
                    "field": field,
                    "code": error.code,
                    "message_vi": message_vi,
                    "message_en": message_en,
                }
            )
    return problems


@router.get(
    "/directory/snapshot",
    response={200: str, 404: ErrorOut},
    summary="The latest signed directory snapshot (JWS compact serialisation)",
    openapi_extra={
        "responses": {
            200: {
                "description": "A compact JWS over the snapshot's RFC 8785 canonical JSON",
                "content": {"application/jose": {"schema": {"type": "string"}}},
            }
        }
    },
)
def directory_snapshot(request: HttpRequest):
    """Published by the directory authority (the central node); other nodes pull it."""
    from django.http import HttpResponse

    from lienthong.directory import snapshots

    snapshot = snapshots.latest_published()
    if snapshot is None:
        raise not_found("bản chụp danh bạ", "directory snapshot", "snapshot_not_found")
    return HttpResponse(snapshot.token, content_type="application/jose")
