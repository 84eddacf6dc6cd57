"""Directory endpoints of the public API (/api/v1/units, /agencies, /postal-codes, /addresses)."""

from __future__ import annotations

import datetime as dt
import math

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from lienthong.directory import selectors
from lienthong.directory.addresses import Address
from lienthong.directory.models import AgencyKind, UnitLevel
from lienthong.errors import ErrorOut, invalid_input, not_found

router = Router(tags=["directory"])

MAX_PAGE_SIZE = 200


class PageIn(Schema):
    page: int = Field(1, ge=1, le=100_000, description="1-based page number")
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class UnitFilter(PageIn):
    q: str = Field("", max_length=200, description="Search words; diacritics optional")
    level: UnitLevel | None = None
    parent: str = Field("", max_length=5, pattern=r"^[0-9]*$", description="Province code")
    on: dt.date | None = Field(None, description="Units in force on this day (default: today)")


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


class AddressOut(Schema):
    valid: bool
    formatted: str
    commune: UnitRef
    province: UnitRef
    postal_code: str


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
        on=filters.on,
    )
    return paginate(qs, filters)


@router.get(
    "/units/{code}",
    response={200: UnitOut, 404: ErrorOut},
    summary="One administrative unit by statistics code",
)
def get_unit(request: HttpRequest, code: str, on: dt.date | None = None):
    unit = selectors.unit_by_code(code, on=on)
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
    response={200: AgencyOut, 404: ErrorOut},
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
    response={200: AddressOut, 422: ErrorOut},
    summary="Check an address: commune in province, postal code format and ownership",
)
def validate_address(request: HttpRequest, payload: AddressIn):
    address = Address(**payload.dict())
    try:
        commune, province = address.validate()
    except DjangoValidationError as exc:
        raise invalid_input(
            [
                {
                    "loc": ["body", field],
                    "code": error.code,
                    "msg": str(error.message % (error.params or {})),
                }
                for field, errors in exc.error_dict.items()
                for error in errors
            ]
        ) from exc
    return {
        "valid": True,
        "formatted": address.formatted(commune, province),
        "commune": commune,
        "province": province,
        "postal_code": address.postal_code,
    }
