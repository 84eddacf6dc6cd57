"""The validation report: what a person, a system and an archive need to know
about each signature of a document, in ETSI EN 319 102-1 vocabulary.

A report is plain data (dataclasses of strings, numbers and lists) so that it
crosses a process boundary, serialises to JSON unchanged, and renders in either
language at display time. Texts are looked up by code in ``TEXTS``; the code
is the stable part clients may rely on.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class Indication(enum.StrEnum):
    TOTAL_PASSED = "TOTAL-PASSED"
    TOTAL_FAILED = "TOTAL-FAILED"
    INDETERMINATE = "INDETERMINATE"


# Sub-indications of ETSI EN 319 102-1 § 5.1.3 that this platform reports.
FAILED_SUBINDICATIONS = {
    "FORMAT_FAILURE",
    "HASH_FAILURE",
    "SIG_CRYPTO_FAILURE",
    "REVOKED",
    "NOT_YET_VALID",
}
INDETERMINATE_SUBINDICATIONS = {
    "SIG_CONSTRAINTS_FAILURE",
    "CHAIN_CONSTRAINTS_FAILURE",
    "CERTIFICATE_CHAIN_GENERAL_FAILURE",
    "CRYPTO_CONSTRAINTS_FAILURE",
    "CRYPTO_CONSTRAINTS_FAILURE_NO_POE",
    "EXPIRED",
    "NOT_YET_VALID",
    "NO_SIGNING_CERTIFICATE_FOUND",
    "NO_CERTIFICATE_CHAIN_FOUND",
    "REVOKED_NO_POE",
    "REVOKED_CA_NO_POE",
    "OUT_OF_BOUNDS_NO_POE",
    "OUT_OF_BOUNDS_NOT_REVOKED",
    "TRY_LATER",
    "SIGNED_DATA_NOT_FOUND",
    "TIMESTAMP_ORDER_FAILURE",
    "GENERIC",
}


@dataclass
class Reason:
    """Why a signature got its indication: a stable code, with optional detail."""

    code: str
    detail: str = ""


@dataclass
class CertificateInfo:
    subject: str
    common_name: str
    organisation: str
    identifiers: list[str]
    issuer: str
    serial_number: str
    not_before: str
    not_after: str
    fingerprint_sha256: str
    key: str


@dataclass
class SignatureResult:
    index: int
    format: str
    indication: str
    sub_indication: str | None
    reasons: list[Reason]
    signer: CertificateInfo | None
    chain: list[CertificateInfo] = field(default_factory=list)
    hierarchy: str | None = None
    claimed_signing_time: str | None = None
    best_signature_time: str | None = None
    timestamp: dict[str, Any] | None = None
    revocation: dict[str, Any] = field(default_factory=dict)
    coverage: str | None = None
    modified_after_signing: bool | None = None
    digest_algorithm: str | None = None
    signature_algorithm: str | None = None
    field_name: str | None = None


@dataclass
class ValidationReport:
    document_name: str
    document_sha256: str
    document_format: str
    validated_at: str
    policy: dict[str, Any]
    signatures: list[SignatureResult]
    indication: str
    sub_indication: str | None
    reasons: list[Reason] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValidationReport:
        signatures = []
        for raw in data["signatures"]:
            raw = dict(raw)
            raw["reasons"] = [Reason(**r) for r in raw["reasons"]]
            raw["signer"] = CertificateInfo(**raw["signer"]) if raw["signer"] else None
            raw["chain"] = [CertificateInfo(**c) for c in raw["chain"]]
            signatures.append(SignatureResult(**raw))
        return cls(
            **{
                **data,
                "signatures": signatures,
                "reasons": [Reason(**r) for r in data.get("reasons", [])],
            }
        )


def overall(signatures: list[SignatureResult]) -> tuple[str, str | None]:
    """The document's indication: the worst of its signatures'.

    A document without a signature is not "passed": it is FORMAT_FAILURE, so
    nobody mistakes an unsigned file for a verified one.
    """
    if not signatures:
        return Indication.TOTAL_FAILED, "FORMAT_FAILURE"
    for wanted in (Indication.TOTAL_FAILED, Indication.INDETERMINATE):
        for signature in signatures:
            if signature.indication == wanted:
                return wanted, signature.sub_indication
    return Indication.TOTAL_PASSED, None


# Texts for codes, in Vietnamese and English. Circular 15/2025/TT-BKHCN asks
# for the result in Vietnamese; English is for foreign readers.
TEXTS: dict[str, tuple[str, str]] = {
    # indications
    "TOTAL-PASSED": ("Chữ ký số hợp lệ", "The signature is valid"),
    "TOTAL-FAILED": ("Chữ ký số không hợp lệ", "The signature is not valid"),
    "INDETERMINATE": (
        "Chưa xác định được tính hợp lệ của chữ ký số",
        "The validity of the signature could not be established",
    ),
    # sub-indications
    "FORMAT_FAILURE": (
        "Tệp không đúng định dạng chữ ký số",
        "The file is not a well-formed signature",
    ),
    "HASH_FAILURE": (
        "Nội dung đã bị thay đổi sau khi ký",
        "The signed content was changed after signing",
    ),
    "SIG_CRYPTO_FAILURE": (
        "Giá trị chữ ký không khớp với khóa công khai của người ký",
        "The signature value does not match the signer's public key",
    ),
    "REVOKED": ("Chứng thư số của người ký đã bị thu hồi", "The signer's certificate is revoked"),
    "NOT_YET_VALID": ("Chứng thư số chưa có hiệu lực", "The certificate is not yet valid"),
    "SIG_CONSTRAINTS_FAILURE": (
        "Tài liệu bị thay đổi ngoài phạm vi người ký cho phép",
        "The document was changed beyond what the signer allowed",
    ),
    "CHAIN_CONSTRAINTS_FAILURE": (
        "Chuỗi chứng thư số vi phạm ràng buộc",
        "The certificate chain violates its constraints",
    ),
    "CERTIFICATE_CHAIN_GENERAL_FAILURE": (
        "Không kiểm tra được chuỗi chứng thư số",
        "The certificate chain could not be checked",
    ),
    "CRYPTO_CONSTRAINTS_FAILURE": (
        "Thuật toán hoặc độ dài khóa không đạt yêu cầu an toàn",
        "An algorithm or key size is below the required strength",
    ),
    "CRYPTO_CONSTRAINTS_FAILURE_NO_POE": (
        "Thuật toán hoặc độ dài khóa không còn đủ an toàn",
        "An algorithm or key size is no longer strong enough",
    ),
    "EXPIRED": ("Chứng thư số đã hết hạn", "The certificate has expired"),
    "NO_SIGNING_CERTIFICATE_FOUND": (
        "Không tìm thấy chứng thư số của người ký",
        "The signer's certificate was not found",
    ),
    "NO_CERTIFICATE_CHAIN_FOUND": (
        "Không dựng được chuỗi tin cậy tới chứng thư số gốc được công nhận",
        "No trust path leads to a recognised root certificate",
    ),
    "REVOKED_NO_POE": (
        "Chứng thư số đã bị thu hồi và không có bằng chứng chữ ký được tạo trước đó",
        "The certificate is revoked and nothing proves the signature existed before",
    ),
    "REVOKED_CA_NO_POE": (
        "Chứng thư số của tổ chức cấp đã bị thu hồi",
        "A certificate of the issuing authority is revoked",
    ),
    "OUT_OF_BOUNDS_NO_POE": (
        "Chứng thư số đã hết hạn hoặc bị thu hồi và không có dấu thời gian chứng minh thời điểm ký",
        "The certificate expired or was revoked and no timestamp proves when it was signed",
    ),
    "OUT_OF_BOUNDS_NOT_REVOKED": (
        "Chứng thư số đã hết hạn nhưng chưa bị thu hồi",
        "The certificate has expired but was not revoked",
    ),
    "TRY_LATER": (
        "Chưa lấy được thông tin thu hồi; hãy kiểm tra lại sau",
        "Revocation information is not available yet; try again later",
    ),
    "SIGNED_DATA_NOT_FOUND": (
        "Thiếu dữ liệu đã được ký (chữ ký tách rời)",
        "The signed data is missing (detached signature)",
    ),
    "TIMESTAMP_ORDER_FAILURE": (
        "Thứ tự dấu thời gian không hợp lệ",
        "The timestamps are out of order",
    ),
    "GENERIC": ("Lỗi khi kiểm tra chữ ký số", "The signature could not be checked"),
    # reasons
    "no_signature": ("Tệp không chứa chữ ký số nào", "The file holds no signature"),
    "unsupported_format": (
        "Định dạng tệp không được hỗ trợ (chấp nhận PDF, XML, CMS/CAdES .p7s và JWS)",
        "Unsupported file format (PDF, XML, CMS/CAdES .p7s and JWS are accepted)",
    ),
    "unreadable": (
        "Không đọc được tệp (tệp hỏng hoặc bị cắt cụt)",
        "The file cannot be read (corrupt or truncated)",
    ),
    "too_large": ("Tệp vượt quá dung lượng cho phép", "The file is larger than allowed"),
    "too_slow": (
        "Việc kiểm tra vượt quá thời gian cho phép và đã bị dừng",
        "Validation took longer than allowed and was stopped",
    ),
    "too_much_memory": (
        "Việc kiểm tra cần quá nhiều bộ nhớ (tệp có thể là bom nén) và đã bị dừng",
        "Validation needed too much memory (the file may be a compression bomb) and was stopped",
    ),
    "expands_too_much": (
        "Tệp giải nén ra quá nhiều dữ liệu (có thể là bom nén) nên không được kiểm tra",
        "The file expands to far more data than allowed (likely a compression bomb)"
        " and was not checked",
    ),
    "internal_error": (
        "Lỗi nội bộ khi kiểm tra; sự cố đã được ghi lại",
        "Internal error during validation; it has been logged",
    ),
    "detached_data_required": (
        "Chữ ký tách rời: cần tải lên cả dữ liệu đã được ký",
        "Detached signature: upload the signed data as well",
    ),
    "weak_digest": ("Hàm băm yếu (SHA-1 hoặc MD5)", "Weak hash function (SHA-1 or MD5)"),
    "weak_key": (
        "Khóa dưới độ dài tối thiểu (RSA 2048 bit, ECDSA 256 bit — Thông tư 15/2025/TT-BKHCN)",
        "Key below the minimum size (RSA 2048 bits, ECDSA 256 bits — Circular 15/2025/TT-BKHCN)",
    ),
    "untrusted_root": (
        "Chuỗi chứng thư số không dẫn tới gốc nào trong danh sách tin cậy",
        "The certificate chain does not lead to any root on the trust list",
    ),
    "revocation_unknown": (
        "Không xác định được tình trạng thu hồi của chứng thư số",
        "The revocation status of the certificate could not be determined",
    ),
    "modified_after_signing": (
        "Tài liệu có thay đổi sau khi ký",
        "The document was changed after it was signed",
    ),
    "timestamp_invalid": ("Dấu thời gian không hợp lệ", "The timestamp is not valid"),
    "key_usage": (
        "Chứng thư số không được phép dùng để ký (mục đích sử dụng khóa)",
        "The certificate may not be used for signing (key usage)",
    ),
    "xml_reference_mismatch": (
        "Nội dung XML đã bị thay đổi sau khi ký",
        "The XML content was changed after signing",
    ),
    "jws_payload_mismatch": (
        "Nội dung JSON đã bị thay đổi sau khi ký",
        "The JSON payload was changed after signing",
    ),
    "jws_algorithm": (
        "Thuật toán ký của JWS không được chấp nhận hoặc không khớp với khóa của chứng thư số"
        " (chấp nhận RS256, ES256, ES384, ES512)",
        "The JWS signature algorithm is not accepted or does not fit the certificate's key"
        " (RS256, ES256, ES384 and ES512 are accepted)",
    ),
    "jws_not_canonical": (
        "Nội dung JSON đã ký không ở dạng chuẩn hóa RFC 8785",
        "The signed JSON payload is not in RFC 8785 canonical form",
    ),
    "jws_no_certificate": (
        "JWS không mang chứng thư số của người ký (tham số x5c)",
        "The JWS does not carry the signer's certificate (x5c header)",
    ),
    "jws_certificate_mismatch": (
        "Dấu vân tay chứng thư số trong tiêu đề JWS không khớp với chứng thư số kèm theo (x5c)",
        "The certificate thumbprint in the JWS header does not match the certificate it carries (x5c)",
    ),
}


def text(code: str, language: str) -> str:
    """The text for ``code`` in ``language`` ("vi" or "en"); the code itself if unknown."""
    vi, en = TEXTS.get(code, (code, code))
    return en if language.startswith("en") else vi
