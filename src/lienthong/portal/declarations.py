"""The applicant's declaration (tờ khai) as a PDF, made from what they submitted,
for them to read and, if they wish, sign with their own remote signing key.

What was declared is the dossier's ``form_data``, shown as the back office shows
it (``backoffice.selectors.declaration``: labels, choices, dates and addresses
written out). Like the receipt, the paper is in Vietnamese.
"""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from django.utils import timezone, translation
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from lienthong.backoffice.selectors import declaration
from lienthong.dossiers.models import AttachmentKind, Dossier
from lienthong.dossiers.receipts import FONT, FONT_BOLD, register_fonts

TITLE = "TỜ KHAI"
PLEDGE = (
    "Tôi cam đoan nội dung khai trên là đúng sự thật và chịu trách nhiệm trước pháp luật "
    "về lời khai của mình."
)


def declaration_pdf(dossier: Dossier) -> bytes:
    """The declaration of ``dossier``: the procedure, the dossier code, the applicant,
    every declared field, the documents attached, and the applicant's pledge."""
    register_fonts()
    base = ParagraphStyle("base", fontName=FONT, fontSize=10.5, leading=14)
    bold = ParagraphStyle("bold", parent=base, fontName=FONT_BOLD)
    centred_bold = ParagraphStyle("centred_bold", parent=bold, alignment=TA_CENTER)
    title = ParagraphStyle("title", parent=centred_bold, fontSize=14, leading=19, spaceAfter=4)

    def p(text: object, style: ParagraphStyle = base) -> Paragraph:
        return Paragraph(escape(str(text)), style)

    with translation.override("vi"):
        rows = declaration(dossier)
    facts = [
        ("Mã hồ sơ", dossier.code),
        ("Cơ quan tiếp nhận", f"{dossier.receiving_agency.name} ({dossier.receiving_agency.identifier})"),
        ("Người khai", dossier.applicant_name),
        ("Số định danh/mã số thuế", dossier.applicant_id_number or "—"),
        *[(label, value if value not in (None, "") else "—") for label, value in rows],
    ]  # fmt: skip
    table = Table([[p(k, bold), p(v)] for k, v in facts], colWidths=[60 * mm, 115 * mm])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                ("BACKGROUND", (0, 0), (0, -1), colors.Color(0.94, 0.94, 0.94)),
            ]
        )
    )
    documents = [
        f"{a.document.name if a.document else a.get_kind_display()}: {a.original_name}"
        for a in dossier.attachments.select_related("document").order_by("uploaded_at", "id")
        if a.kind in (AttachmentKind.DOCUMENT, AttachmentKind.SUPPLEMENT)
    ]
    submitted = timezone.localtime(dossier.submitted_at)
    story = [
        p("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", centred_bold),
        p("Độc lập - Tự do - Hạnh phúc", centred_bold),
        Spacer(1, 6 * mm),
        p(TITLE, title),
        p(dossier.procedure.name, centred_bold),
        Spacer(1, 4 * mm),
        table,
        Spacer(1, 4 * mm),
        p("Giấy tờ kèm theo:", bold),
        *[p(f"{number}. {line}") for number, line in enumerate(documents, start=1)],
        *([] if documents else [p("(không có)")]),
        Spacer(1, 5 * mm),
        p(PLEDGE),
        Spacer(1, 3 * mm),
        p(f"Nộp trực tuyến ngày {submitted:%d/%m/%Y}, lúc {submitted:%H:%M}.", base),
        p(f"Người khai: {dossier.applicant_name}", bold),
    ]
    buffer = io.BytesIO()
    SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=17 * mm,
        rightMargin=17 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=f"Tờ khai {dossier.code}",
        author=dossier.applicant_name,
        subject=dossier.procedure.name,
        lang="vi-VN",
    ).build(story)
    return buffer.getvalue()
