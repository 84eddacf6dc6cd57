"""Catalogue endpoints of the public API (/api/v1/procedures, /interconnected-procedures,
/procedure-fields)."""

from __future__ import annotations

from decimal import Decimal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from lienthong.catalog import selectors
from lienthong.catalog.models import AuthorityKind, OnlineLevel
from lienthong.catalog.statuses import NATIONAL_STATUSES, status_text
from lienthong.directory.api import PageIn, PageMeta, paginate
from lienthong.errors import ApiError, ErrorOut, not_found

router = Router(tags=["catalog"])

CODE_OPTIONS = {"max_length": 12, "description": "Procedure code, e.g. 1.001193"}


class ProcedureFilter(PageIn):
    q: str = Field("", max_length=200, description="Search words; diacritics optional")
    field: str = Field(
        "", max_length=40, pattern=r"^[a-z0-9-]*$", description="Field code (see /procedure-fields)"
    )
    level: OnlineLevel | None = Field(None, description="Online level (Decree 42/2022/NĐ-CP)")
    authority: AuthorityKind | None = Field(None, description="Kind of competent authority")
    agency: str = Field(
        "", max_length=35, pattern=r"^[0-9A-Z.]*$", description="Electronic identifier of an agency"
    )
    commune: str = Field(
        "", max_length=5, pattern=r"^[0-9]*$", description="Statistics code of a commune"
    )


class InterconnectedFilter(PageIn):
    q: str = Field("", max_length=200, description="Search words; diacritics optional")


class FieldOut(Schema):
    code: str
    name: str
    name_en: str


class ProcedureSummary(Schema):
    code: str
    name: str
    name_en: str
    field: FieldOut
    level: str
    authority_kind: str
    authority: str
    online_level: str
    time_limit: Decimal | None
    time_limit_basis: str
    provisional_code: bool = Field(
        ..., description="True for a provisional code of this catalogue (LT.…), not a national one"
    )

    @staticmethod
    def resolve_provisional_code(obj) -> bool:
        return obj.has_provisional_code


class FormFieldOut(Schema):
    key: str
    kind: str
    label: str
    label_en: str
    required: bool
    choices: list[dict]


class DocumentOut(Schema):
    name: str
    name_en: str
    originals: int
    copies: int
    required: bool
    condition: str
    accepted_types: list[str]


class FeeOut(Schema):
    description: str
    amount: int | None = Field(..., description="VND; 0 when free, null when each province sets it")
    note: str


class StatusOut(Schema):
    number: int
    text: str


class ProcedureOut(ProcedureSummary):
    time_limit_note: str
    legal_basis: str
    result: str
    form_fields: list[FormFieldOut]
    documents: list[DocumentOut]
    fees: list[FeeOut]
    statuses: list[StatusOut]


class ProcedurePage(PageMeta):
    results: list[ProcedureSummary]


class StepOut(Schema):
    position: int
    procedure: ProcedureSummary


class InterconnectedOut(Schema):
    code: str
    name: str
    name_en: str
    description: str
    online_level: str
    legal_basis: str
    steps: list[StepOut]


class InterconnectedPage(PageMeta):
    results: list[InterconnectedOut]


def unknown_filter(name: str, value: str, code: str, what_vi: str, what_en: str) -> ApiError:
    """A filter naming something that does not exist: 404, as for a path naming it
    (a well-formed code that matches nothing is not malformed input)."""
    return ApiError(
        status=404,
        code=code,
        message_vi=f"Không có {what_vi} “{value}”.",
        message_en=f"There is no {what_en} “{value}”.",
        details=[{"loc": ["query", name], "msg": f"unknown {what_en}"}],
    )


@router.get(
    "/procedures",
    response={200: ProcedurePage, 404: ErrorOut, 422: ErrorOut},
    summary="Administrative procedures: search by name, field, agency or commune",
)
def list_procedures(request: HttpRequest, filters: Query[ProcedureFilter]):
    """404 (``unknown_field``, ``unknown_agency``, ``unknown_commune``) when a
    filter names a field, agency or commune that does not exist."""
    agency = commune = None
    if filters.field and selectors.field_by_code(filters.field) is None:
        raise unknown_filter("field", filters.field, "unknown_field", "lĩnh vực", "field")
    if filters.agency:
        agency = selectors.agency_by_identifier(filters.agency)
        if agency is None:
            raise unknown_filter("agency", filters.agency, "unknown_agency", "cơ quan", "agency")
    if filters.commune:
        commune = selectors.commune_by_code(filters.commune)
        if commune is None:
            raise unknown_filter("commune", filters.commune, "unknown_commune", "xã", "commune")
    qs = selectors.procedures(
        query=filters.q,
        field_code=filters.field,
        online_level=filters.level.value if filters.level else "",
        authority_kind=filters.authority.value if filters.authority else "",
        agency=agency,
        commune=commune,
    )
    return paginate(qs, filters)


@router.get(
    "/procedures/{code}",
    response={200: ProcedureOut, 404: ErrorOut},
    summary="One procedure: form fields, documents, fees, time limit, statuses",
)
def get_procedure(request: HttpRequest, code: str):
    procedure = selectors.procedure_by_code(code)
    if procedure is None:
        raise not_found("thủ tục hành chính", "procedure", "procedure_not_found")
    procedure.statuses = [
        {"number": number, "text": status_text(number, procedure.status_texts)}
        for number in NATIONAL_STATUSES
    ]
    return procedure


@router.get(
    "/procedure-fields",
    response={200: list[FieldOut]},
    summary="Fields of state management (lĩnh vực) that procedures belong to",
)
def list_fields(request: HttpRequest):
    return list(selectors.fields())


@router.get(
    "/interconnected-procedures",
    response={200: InterconnectedPage, 422: ErrorOut},
    summary="Interconnected procedures (Decree 63/2024/NĐ-CP) with their ordered steps",
)
def list_interconnected(request: HttpRequest, filters: Query[InterconnectedFilter]):
    return paginate(selectors.interconnected_procedures(query=filters.q), filters)


@router.get(
    "/interconnected-procedures/{code}",
    response={200: InterconnectedOut, 404: ErrorOut},
    summary="One interconnected procedure with its ordered steps",
)
def get_interconnected(request: HttpRequest, code: str):
    interconnected = selectors.interconnected_by_code(code)
    if interconnected is None:
        raise not_found(
            "thủ tục liên thông", "interconnected procedure", "interconnected_procedure_not_found"
        )
    return interconnected
