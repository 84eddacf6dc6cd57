"""The public JSON API, version 1 (/api/v1/).

A contract: paths and fields only grow within v1; the OpenAPI document is
committed (docs/api/openapi-v1.json) and CI fails when the code drifts from it.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import NinjaAPI, Schema
from ninja.errors import HttpError, ValidationError

from lienthong import __version__
from lienthong.catalog.api import router as catalog_router
from lienthong.directory.api import router as directory_router
from lienthong.errors import ApiError, invalid_input
from lienthong.exchange.adapter import router as adapter_router
from lienthong.exchange.api import router as exchange_router
from lienthong.node import this_node
from lienthong.trust.api import router as trust_router

api = NinjaAPI(
    title="Liên Thông API",
    version="1",
    description=(
        "Public API of a Liên Thông node: the national directory of administrative units, "
        "agencies and postal codes, signature validation, and the node's identity. Errors carry a stable `code` "
        "and a message in Vietnamese and English."
    ),
    urls_namespace="api-v1",
    openapi_extra={"info": {"x-software-version": __version__}},
)


class AgencyRef(Schema):
    identifier: str
    name: str


class NodeOut(Schema):
    identifier: str
    name: str
    role: str
    role_label: str
    agencies: list[AgencyRef]


HTTP_ERROR_CODES = {400: "malformed_request", 401: "unauthenticated", 405: "method_not_allowed"}
HTTP_ERROR_MESSAGES_VI = {
    400: "Không đọc được nội dung yêu cầu (JSON không hợp lệ).",
    401: "Cần mã truy cập hợp lệ (Authorization: Bearer …).",
}
HTTP_ERROR_MESSAGES_EN = {401: "A valid access token is required (Authorization: Bearer …)."}


@api.exception_handler(ApiError)
def on_api_error(request: HttpRequest, exc: ApiError):
    return api.create_response(request, exc.body(), status=exc.status)


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError):
    details = [
        {"loc": [str(part) for part in error.get("loc", [])], "msg": str(error.get("msg", ""))}
        for error in exc.errors
    ]
    return on_api_error(request, invalid_input(details))


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError):
    return on_api_error(
        request,
        ApiError(
            status=exc.status_code,
            code=HTTP_ERROR_CODES.get(exc.status_code, f"http_{exc.status_code}"),
            message_vi=HTTP_ERROR_MESSAGES_VI.get(exc.status_code, str(exc)),
            message_en=HTTP_ERROR_MESSAGES_EN.get(exc.status_code, str(exc)),
        ),
    )


@api.get("/node", response={200: NodeOut}, tags=["node"], summary="This node's identity")
def node(request: HttpRequest):
    identity = this_node()
    return {
        "identifier": identity.identifier,
        "name": identity.name,
        "role": identity.role,
        "role_label": identity.role_label,
        "agencies": [
            {"identifier": a.identifier, "name": a.name} for a in identity.hosted_agencies()
        ],
    }


api.add_router("/", directory_router)
api.add_router("/", trust_router)
api.add_router("/", exchange_router)
api.add_router("/", adapter_router)
api.add_router("/", catalog_router)
