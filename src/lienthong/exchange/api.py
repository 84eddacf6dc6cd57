"""The exchange's receiving end in the API: POST /api/v1/exchange/envelopes.

Nodes post batches of signed envelopes and get one signed receipt naming
every envelope's fate. Each envelope is judged on its own (signature,
chain, directory, access right, clock, replay: services.py); a refusal is a
negative receipt with a reason code, not an HTTP error. Only a request that
is not a batch at all gets a 4xx.
"""

from __future__ import annotations

from typing import Annotated

from django.conf import settings
from django.http import HttpRequest
from ninja import Path, Router, Schema, Status
from pydantic import Field, StringConstraints

from lienthong.errors import ApiError, ErrorOut, not_found
from lienthong.exchange import attachments, queries, services

# A file is named by its SHA-256 (attachments.py).
Digest = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]

router = Router(tags=["exchange"])

Token = Annotated[str, StringConstraints(max_length=settings.EXCHANGE_MAX_ENVELOPE_BYTES)]


class BatchIn(Schema):
    envelopes: list[Token] = Field(
        min_length=1,
        max_length=settings.EXCHANGE_MAX_BATCH,
        description="Compact JWS envelopes, signed by their sending agencies.",
    )


class ReceiptOut(Schema):
    receipt: str = Field(
        description="A JWS signed by the receiver: for each envelope, its id, SHA-256, "
        "status (accepted or refused) and reason code."
    )


@router.post(
    "/exchange/envelopes",
    response={200: ReceiptOut, 400: ErrorOut, 422: ErrorOut, 503: ErrorOut},
    summary="Deliver a batch of signed envelopes; one signed receipt for the batch",
)
def receive_envelopes(request: HttpRequest, batch: BatchIn):
    """The receipt names every envelope, accepted or refused with a reason code.
    503 (``no_signing_key``): this node holds no key to sign receipts with."""
    try:
        outcome = services.receive_batch(batch.envelopes)
    except services.ExchangeRefused as refused:
        raise ApiError(503, refused.code, refused.message_vi, refused.message_en) from refused
    return {"receipt": outcome.receipt}


QueryToken = Annotated[str, StringConstraints(max_length=queries.max_request_chars())]


class QueryIn(Schema):
    request: QueryToken = Field(description="A compact JWS query, signed by the calling agency.")


class QueryAnswerOut(Schema):
    response: str = Field(
        description="A JWS signed by the providing agency: the provider system's status, "
        "content type and body (base64), the SHA-256 of the signed request, or a refusal code."
    )


@router.post(
    "/exchange/queries",
    response={200: QueryAnswerOut, 400: ErrorOut, 422: ErrorOut, 503: ErrorOut},
    summary="Answer a signed synchronous query from another node (signed response)",
)
def answer_query(request: HttpRequest, body: QueryIn):
    """Every check failure is a signed response with an ``error`` code, not an HTTP
    error. 503 (``no_signing_key``): this node holds no key to sign answers with."""
    try:
        signed = queries.answer(body.request)
    except services.ExchangeRefused as refused:
        raise ApiError(503, refused.code, refused.message_vi, refused.message_en) from refused
    return {"response": signed}


# --- Attachment files between nodes (attachments.py) -----------------------------------------


class FileOut(Schema):
    sha256: str
    size: int


def _file_refused(exc: attachments.AttachmentRefused) -> ApiError:
    status, vi, en = attachments.REFUSALS[exc.code]
    return ApiError(status, exc.code, vi, en, details=[{"msg": exc.detail}] if exc.detail else [])


@router.get(
    "/exchange/files/{sha256}",
    response={200: FileOut, 404: ErrorOut, 422: ErrorOut},
    summary="Whether this node holds an attachment file (before a transfer)",
)
def file_held(request: HttpRequest, sha256: Digest):
    try:
        size = attachments.size_of(sha256)
    except attachments.AttachmentRefused as exc:
        raise _file_refused(exc) from exc
    if size is None:
        raise not_found("tệp đính kèm", "attachment", "attachment_not_found")
    return {"sha256": sha256, "size": size}


@router.put(
    "/exchange/files/{sha256}",
    response={201: FileOut, 413: ErrorOut, 422: ErrorOut},
    summary="Transfer an attachment file, streamed; stored only if its SHA-256 matches",
    openapi_extra=attachments.UPLOAD_BODY,
)
def file_transfer(request: HttpRequest, sha256: Digest):
    """Up to LIENTHONG_EXCHANGE_MAX_ATTACHMENT_BYTES; the file is kept under its
    digest only when the bytes match it (and Content-Length, when given)."""
    try:
        stored, size = attachments.store_upload(request, sha256)
    except attachments.AttachmentRefused as exc:
        raise _file_refused(exc) from exc
    return Status(201, {"sha256": stored, "size": size})
