"""The receipt of a dossier: "Giấy tiếp nhận hồ sơ và hẹn trả kết quả", as a PDF.

The receipt follows the shape of form 01 of Circular 01/2018/TT-VPCP: the
receiving agency, the dossier code, the procedure, the applicant, the documents
received, the day received, the day the result is promised, and the channel.
Its wording stays Vietnamese whatever the reader's language: it is a paper an
agency issues, and the same paper is kept at the one-stop desk.

A QR code carries the lookup address of the dossier, so that whoever holds the
paper can follow the dossier from a phone (the lookup still asks for the phone
number or personal ID declared with it). It is drawn as vector squares rather
than a picture: sharp at any printing size, and no imaging library needed.
"""

from __future__ import annotations

import datetime as dt
import io
from importlib import resources
from xml.sax.saxutils import escape

import segno
from django.urls import reverse
from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from lienthong.dossiers.models import AttachmentKind, Channel, Dossier

TITLE = "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ"
CHANNELS = {
    Channel.COUNTER: "Trực tiếp tại Bộ phận Một cửa",
    Channel.ONLINE: "Trực tuyến (dịch vụ công trực tuyến)",
    Channel.POST: "Qua dịch vụ bưu chính công ích",
}

# DejaVu Sans ships with the trust app (for signature stamps): it has every
# Vietnamese letter, which the PDF standard fonts lack.
FONT = "DejaVuSans"
FONT_BOLD = "DejaVuSans-Bold"


def register_fonts() -> None:
    registered = set(pdfmetrics.getRegisteredFontNames())
    fonts = resources.files("lienthong.trust") / "fonts"
    for name in (FONT, FONT_BOLD):
        if name not in registered:
            pdfmetrics.registerFont(TTFont(name, str(fonts / f"{name}.ttf")))


def lookup_path(dossier: Dossier) -> str:
    """The lookup page with the dossier's code filled in (relative to the site)."""
    return f"{reverse('portal:lookup')}?code={dossier.code}"


def node_lookup_url(dossier: Dossier) -> str:
    """The lookup page on the node of the receiving agency (its base URL in the
    directory), which holds the dossier; the site-relative path when the
    directory records no base URL for it."""
    node = dossier.receiving_agency.node
    base = node.base_url.rstrip("/") if node is not None else ""
    return f"{base}{lookup_path(dossier)}"


def _date(moment: dt.datetime | None) -> str:
    return timezone.localtime(moment).strftime("%d/%m/%Y") if moment else ""


def _datetime(moment: dt.datetime) -> str:
    local = timezone.localtime(moment)
    return f"{local:%H} giờ {local:%M} phút, ngày {local:%d/%m/%Y}"


def appointment(dossier: Dossier) -> str:
    """The day the result is promised: the deadline once the agency accepted the
    dossier; before that, the day it would be if accepted on the day received,
    said to be provisional; no day when the procedure records no time limit."""
    if dossier.due_at is not None:
        return _datetime(dossier.due_at)
    expected = dossier.procedure.deadline(dossier.submitted_at)
    if expected is None:
        return "Theo quy định của thủ tục (không ghi thời hạn trong danh mục)"
    return (
        f"Dự kiến {_datetime(expected)} — ngày hẹn chính thức được tính khi cơ quan tiếp nhận hồ sơ"
    )


class QRCode(Flowable):
    """A QR code drawn module by module, ``size`` wide, quiet zone included."""

    def __init__(self, data: str, size: float) -> None:
        super().__init__()
        self.code = segno.make(data, error="m", micro=False)
        self.size = size
        self.width = self.height = size

    def draw(self) -> None:
        border = 4  # the quiet zone the QR standard asks for, in modules
        rows = list(self.code.matrix_iter(scale=1, border=border))
        module = self.size / len(rows)
        self.canv.setFillColor(colors.black)
        for y, row in enumerate(rows):
            for x, dark in enumerate(row):
                if dark:
                    top = self.size - (y + 1) * module
                    self.canv.rect(x * module, top, module, module, stroke=0, fill=1)


def _documents(dossier: Dossier) -> list[str]:
    lines = []
    received = dossier.attachments.filter(
        kind__in=(AttachmentKind.DOCUMENT, AttachmentKind.SUPPLEMENT)
    ).select_related("document")
    for attachment in received.order_by("uploaded_at", "id"):
        if attachment.document is not None:
            lines.append(f"{attachment.document.name}: {attachment.original_name}")
        elif attachment.kind == AttachmentKind.SUPPLEMENT:
            lines.append(f"Hồ sơ bổ sung: {attachment.original_name}")
        else:
            lines.append(attachment.original_name)
    return lines


def receipt_pdf(dossier: Dossier, *, lookup_url: str = "") -> bytes:
    """The receipt of ``dossier`` as PDF bytes; ``lookup_url`` is the address the QR
    code carries (by default ``node_lookup_url(dossier)``: the receiving agency's node)."""
    register_fonts()
    base = ParagraphStyle("base", fontName=FONT, fontSize=10.5, leading=14)
    bold = ParagraphStyle("bold", parent=base, fontName=FONT_BOLD)
    centred = ParagraphStyle("centred", parent=base, alignment=TA_CENTER)
    centred_bold = ParagraphStyle("centred_bold", parent=bold, alignment=TA_CENTER)
    title = ParagraphStyle(
        "title", parent=centred_bold, fontSize=13.5, leading=18, spaceBefore=6, spaceAfter=8
    )

    def p(text: str, style: ParagraphStyle = base) -> Paragraph:
        return Paragraph(escape(text), style)

    agency = dossier.receiving_agency
    header = Table(
        [
            [p(agency.name.upper(), centred_bold), p("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", centred_bold)],
            [p(f"Mã định danh: {agency.identifier}", centred), p("Độc lập - Tự do - Hạnh phúc", centred_bold)],
        ],
        colWidths=[80 * mm, 95 * mm],
    )  # fmt: skip
    header.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))

    documents = _documents(dossier) or ["(không có thành phần hồ sơ điện tử)"]
    applicant = dossier.applicant_name
    if dossier.applicant_id_number:
        applicant += f" — Số định danh/mã số thuế: {dossier.applicant_id_number}"
    rows = [
        ("Mã hồ sơ", dossier.code),
        ("Thủ tục hành chính", f"{dossier.procedure.name} (mã {dossier.procedure.code})"),
    ]
    if dossier.interconnected_id:
        rows.append(("Nhóm thủ tục liên thông", dossier.interconnected.name))
    rows += [
        ("Người nộp hồ sơ", applicant),
        ("Địa chỉ", dossier.applicant_address or "—"),
        ("Điện thoại", dossier.applicant_phone or "—"),
        ("Email", dossier.applicant_email or "—"),
        ("Hình thức nộp", CHANNELS.get(dossier.channel, str(dossier.channel))),
        ("Thời điểm tiếp nhận", _datetime(dossier.submitted_at)),
        ("Ngày hẹn trả kết quả", appointment(dossier)),
    ]
    facts = Table(
        [[p(label, bold), p(value)] for label, value in rows],
        colWidths=[50 * mm, 125 * mm],
    )
    facts.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                ("BACKGROUND", (0, 0), (0, -1), colors.Color(0.94, 0.94, 0.94)),
            ]
        )
    )
    url = lookup_url or node_lookup_url(dossier)
    qr = Table(
        [
            [
                QRCode(url, 32 * mm),
                [
                    p("Tra cứu tình trạng hồ sơ", bold),
                    p(
                        "Quét mã QR hoặc mở địa chỉ dưới đây, nhập mã hồ sơ và số điện thoại "
                        "hoặc số định danh đã khai trong hồ sơ."
                    ),
                    p(url),
                ],
            ]
        ],
        colWidths=[38 * mm, 137 * mm],
    )
    qr.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))

    story = [
        header,
        Spacer(1, 6 * mm),
        p(TITLE, title),
        p(f"{agency.name} đã tiếp nhận hồ sơ của ông/bà {dossier.applicant_name}.", base),
        Spacer(1, 3 * mm),
        facts,
        Spacer(1, 4 * mm),
        p("Thành phần hồ sơ đã nhận:", bold),
        *[p(f"{number}. {line}") for number, line in enumerate(documents, start=1)],
        Spacer(1, 5 * mm),
        qr,
        Spacer(1, 5 * mm),
        p(
            f"Giấy này được lập tự động ngày {_date(timezone.now())} từ hệ thống Liên Thông; "
            "mã hồ sơ trên giấy là căn cứ để tra cứu và nhận kết quả.",
            ParagraphStyle("small", parent=base, fontSize=8.5, leading=11),
        ),
    ]
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=17 * mm,
        rightMargin=17 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=f"{TITLE.capitalize()} {dossier.code}",
        author=agency.name,
        subject=dossier.code,
        lang="vi-VN",
    )
    document.build(story)
    return buffer.getvalue()
