"""Refusals of the signing service: a stable code, the CSC error, messages in Vietnamese and English.

The CSC API (``lienthong.signing.api``) answers every refusal as
``{"error": csc_error, "error_description": message_en, "code": code,
"message_vi": ..., "message_en": ...}``: CSC clients branch on ``error``
(OAuth 2.0 vocabulary), Liên Thông clients on the finer ``code``. Codes
never change meaning once published (docs/signing.md lists them).
"""

from __future__ import annotations


class SigningRefused(Exception):
    """Nothing was authorised or signed, for the reason given."""

    def __init__(
        self,
        code: str,
        message_vi: str,
        message_en: str,
        *,
        csc_error: str = "invalid_request",
        status: int = 400,
    ):
        super().__init__(message_en)
        self.code = code
        self.message_vi = message_vi
        self.message_en = message_en
        self.csc_error = csc_error
        self.status = status

    def body(self) -> dict[str, str]:
        return {
            "error": self.csc_error,
            "error_description": self.message_en,
            "code": self.code,
            "message_vi": self.message_vi,
            "message_en": self.message_en,
        }


def no_credential() -> SigningRefused:
    # Someone else's credential gets exactly this answer: nobody learns
    # which credential IDs exist by trying them.
    return SigningRefused(
        "unknown_credential",
        "Không tìm thấy khóa ký (credentialID không hợp lệ).",
        "Invalid parameter credentialID.",
    )


def invalid_sad() -> SigningRefused:
    return SigningRefused(
        "invalid_sad",
        "Dữ liệu kích hoạt chữ ký (SAD) không hợp lệ.",
        "Invalid parameter SAD.",
    )


def missing(parameter: str, kind: str = "string") -> SigningRefused:
    return SigningRefused(
        "missing_parameter",
        f"Thiếu tham số {parameter} (hoặc sai kiểu dữ liệu).",
        f"Missing (or invalid type) {kind} parameter {parameter}.",
    )
