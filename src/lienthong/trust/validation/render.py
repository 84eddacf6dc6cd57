"""Turning a validation report into what people read: the web page and the PDF.

Both use ``presentation()``, so the page and the downloadable PDF say exactly
the same thing in the same words, in Vietnamese or English.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from importlib import resources

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from lienthong.trust.validation.report import Indication, ValidationReport, text

HIERARCHY_LABELS = {
    "public": ("Công cộng (NEAC)", "Public (NEAC)"),
    "government": (
        "Chuyên dùng Chính phủ (Ban Cơ yếu Chính phủ)",
        "Government (Government Cipher Committee)",
    ),
}
REVOCATION_LABELS = {
    "good": ("Chưa bị thu hồi (đã kiểm tra)", "Not revoked (checked)"),
    "revoked": ("Đã bị thu hồi", "Revoked"),
    "unknown": ("Không xác định", "Unknown"),
    "not_available": (
        "Không lấy được thông tin thu hồi (chấp nhận theo chính sách kiểm tra mềm)",
        "No revocation information could be obtained (accepted under the soft-fail policy)",
    ),
    "not_checked": ("Chưa kiểm tra", "Not checked"),
}
COVERAGE_LABELS = {
    "entire_document": ("Toàn bộ tài liệu", "The whole document"),
    "entire_revision": (
        "Phiên bản tài liệu tại thời điểm ký (tài liệu có phần bổ sung sau đó)",
        "The document as it was when signed (content was added later)",
    ),
    "partial": ("Một phần tài liệu", "Part of the document"),
}


def _pick(pair: tuple[str, str], language: str) -> str:
    return pair[1] if language.startswith("en") else pair[0]


def local_time(value: str | None) -> str:
    """ISO time → dd/mm/yyyy HH:MM:SS in Vietnam time (how dates are written here)."""
    if not value:
        return ""
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=dt.UTC)
    return timezone.localtime(moment).strftime("%d/%m/%Y %H:%M:%S")


@dataclass
class Row:
    label: str
    value: str


def presentation(report: ValidationReport, language: str) -> dict:
    """Everything a reader sees, already in ``language``."""
    with override(language):
        signatures = []
        for signature in report.signatures:
            signer = signature.signer
            rows = []
            if signer:
                rows += [
                    Row(_("Signer"), signer.common_name or signer.subject),
                    Row(_("Organisation"), signer.organisation or "—"),
                    Row(_("Identity numbers"), ", ".join(signer.identifiers) or "—"),
                ]
            rows += [
                Row(
                    _("Hierarchy"),
                    _pick(HIERARCHY_LABELS[signature.hierarchy], language)
                    if signature.hierarchy in HIERARCHY_LABELS
                    else "—",
                ),
                Row(
                    _("Signing time claimed by the signer"),
                    local_time(signature.claimed_signing_time) or "—",
                ),
                Row(
                    _("Timestamp"),
                    (
                        f"{local_time(signature.timestamp['time'])} — {signature.timestamp['authority']}"
                        if signature.timestamp
                        else _("none")
                    ),
                ),
                Row(
                    _("Revocation status"),
                    _pick(
                        REVOCATION_LABELS.get(
                            signature.revocation.get("status", "not_checked"), ("", "")
                        ),
                        language,
                    ),
                ),
                Row(
                    _("What the signature covers"),
                    _pick(COVERAGE_LABELS[signature.coverage], language)
                    if signature.coverage in COVERAGE_LABELS
                    else "—",
                ),
                Row(
                    _("Changed after signing"),
                    "—"
                    if signature.modified_after_signing is None
                    else (_("yes") if signature.modified_after_signing else _("no")),
                ),
                Row(
                    _("Algorithms"),
                    " / ".join(
                        part
                        for part in (
                            signature.digest_algorithm,
                            signature.signature_algorithm,
                            signer.key if signer else "",
                        )
                        if part
                    )
                    or "—",
                ),
            ]
            signatures.append(
                {
                    "index": signature.index,
                    "format": signature.format,
                    "field_name": signature.field_name,
                    "indication": signature.indication,
                    "indication_text": text(signature.indication, language),
                    "sub_indication": signature.sub_indication,
                    "sub_indication_text": text(signature.sub_indication, language)
                    if signature.sub_indication
                    else "",
                    "reasons": [
                        (r.code, text(r.code, language), r.detail) for r in signature.reasons
                    ],
                    "rows": rows,
                    "chain": [
                        {
                            "name": c.common_name or c.subject,
                            "issuer": c.issuer,
                            "validity": f"{local_time(c.not_before)} - {local_time(c.not_after)}",
                            "fingerprint": c.fingerprint_sha256,
                            "key": c.key,
                        }
                        for c in signature.chain
                    ],
                }
            )
        return {
            "indication": report.indication,
            "indication_text": text(report.indication, language),
            "sub_indication": report.sub_indication,
            "sub_indication_text": text(report.sub_indication, language)
            if report.sub_indication
            else "",
            "reasons": [(r.code, text(r.code, language), r.detail) for r in report.reasons],
            "document_name": report.document_name,
            "document_sha256": report.document_sha256,
            "document_format": report.document_format.upper(),
            "validated_at": local_time(report.validated_at),
            "revocation_mode": report.policy.get("revocation_mode", ""),
            "signatures": signatures,
            "passed": report.indication == Indication.TOTAL_PASSED,
        }


# --- PDF ---------------------------------------------------------------------

_FONTS_REGISTERED = False


def _register_fonts() -> None:
    """DejaVu Sans, shipped with the package: it has every Vietnamese letter."""
    global _FONTS_REGISTERED
    if _FONTS_REGISTERED:
        return
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    fonts = resources.files("lienthong.trust") / "fonts"
    pdfmetrics.registerFont(TTFont("DejaVuSans", str(fonts / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(fonts / "DejaVuSans-Bold.ttf")))
    _FONTS_REGISTERED = True


def report_pdf(report: ValidationReport, language: str) -> bytes:
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    _register_fonts()
    view = presentation(report, language)
    base = ParagraphStyle("base", fontName="DejaVuSans", fontSize=9, leading=12)
    heading = ParagraphStyle(
        "heading", parent=base, fontName="DejaVuSans-Bold", fontSize=14, leading=18
    )
    subheading = ParagraphStyle(
        "subheading", parent=base, fontName="DejaVuSans-Bold", fontSize=11, leading=15
    )

    def p(value: str, style=base) -> Paragraph:
        return Paragraph(escape(value), style)

    with override(language):
        story = [
            p(_("Signature validation report"), heading),
            Spacer(1, 4 * mm),
            p(
                f"{view['indication_text']} ({view['indication']}"
                + (f" / {view['sub_indication']}" if view["sub_indication"] else "")
                + ")",
                subheading,
            ),
        ]
        if view["sub_indication_text"]:
            story.append(p(view["sub_indication_text"]))
        for _code, message, detail in view["reasons"]:
            story.append(p(f"• {message}" + (f" ({detail})" if detail else "")))
        facts = [
            [p(_("Document")), p(view["document_name"])],
            [p(_("Format")), p(view["document_format"])],
            [p("SHA-256"), p(view["document_sha256"])],
            [p(_("Validated at")), p(view["validated_at"])],
            [p(_("Revocation policy")), p(view["revocation_mode"])],
        ]
        story += [Spacer(1, 3 * mm), _table(facts, Table, TableStyle, colors)]
        for signature in view["signatures"]:
            story += [
                Spacer(1, 5 * mm),
                p(
                    _("Signature %(number)d (%(format)s)")
                    % {"number": signature["index"], "format": signature["format"]}
                    + f": {signature['indication_text']}",
                    subheading,
                ),
            ]
            if signature["sub_indication"]:
                story.append(
                    p(f"{signature['sub_indication']}: {signature['sub_indication_text']}")
                )
            for _code, message, detail in signature["reasons"]:
                story.append(p(f"• {message}" + (f" ({detail})" if detail else "")))
            rows = [[p(row.label), p(row.value)] for row in signature["rows"]]
            story += [Spacer(1, 2 * mm), _table(rows, Table, TableStyle, colors)]
            if signature["chain"]:
                story += [Spacer(1, 2 * mm), p(_("Certificate chain"), subheading)]
                chain = [[p(_("Certificate")), p(_("Validity")), p(_("Key"))]] + [
                    [p(c["name"]), p(c["validity"]), p(c["key"])] for c in signature["chain"]
                ]
                story.append(
                    _table(chain, Table, TableStyle, colors, widths=(80 * mm, 70 * mm, 30 * mm))
                )
        out = io.BytesIO()
        document = SimpleDocTemplate(
            out,
            pagesize=A4,
            leftMargin=15 * mm,
            rightMargin=15 * mm,
            topMargin=15 * mm,
            bottomMargin=15 * mm,
            title=_("Signature validation report"),
            author="Liên Thông",
        )
        document.build(story)
    return out.getvalue()


def _table(rows, Table, TableStyle, colors, widths=None):
    from reportlab.lib.units import mm

    table = Table(rows, colWidths=widths or (50 * mm, 130 * mm))
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke),
            ]
        )
    )
    return table
