"""Errors with a stable machine-readable code and a message in Vietnamese and English.

API clients branch on ``code``; people read ``message`` (in the request's
language) or pick ``message_vi`` / ``message_en`` themselves. Codes never
change meaning once published.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils import translation
from ninja import Schema


@dataclass
class ApiError(Exception):
    status: int
    code: str
    message_vi: str
    message_en: str
    details: list[dict[str, Any]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        english = (translation.get_language() or "vi").startswith("en")
        return {
            "code": self.code,
            "message": self.message_en if english else self.message_vi,
            "message_vi": self.message_vi,
            "message_en": self.message_en,
            "details": self.details,
        }


def not_found(what_vi: str, what_en: str, code: str) -> ApiError:
    return ApiError(
        status=404,
        code=code,
        message_vi=f"Không tìm thấy {what_vi}.",
        message_en=f"No such {what_en}.",
    )


def invalid_input(details: list[dict[str, Any]]) -> ApiError:
    return ApiError(
        status=422,
        code="invalid_input",
        message_vi="Dữ liệu gửi lên không hợp lệ.",
        message_en="The request is not valid.",
        details=details,
    )


class ErrorOut(Schema):
    """The body of every 4xx answer of the API."""

    code: str
    message: str
    message_vi: str
    message_en: str
    details: list[dict[str, Any]]
