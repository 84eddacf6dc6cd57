"""The applicant's declaration (tờ khai) as a PDF, made from what they submitted,
for them to read and, if they wish, sign with their own remote signing key.

What was declared is the dossier's ``form_data``, shown as the back office shows
it (``dossiers.selectors.declaration``: labels, choices, dates and addresses
written out). Like the receipt, the paper is in Vietnamese.

Signing it takes a one-time code (``portal.services.sign_declaration``, one
request) or an approval on the applicant's paired phone, in two requests:
``request_phone_signature`` prepares the signature (a ``PendingSignature`` of
lienthong.signing, bound to ``declaration_purpose(dossier)``) and asks the
phone, which shows the dossier code, the procedure and document, the
declaration's SHA-256 and the agency; once the phone answered,
``finish_phone_signature`` signs and adds the signed copy to the dossier, or
refuses (denied, expired, other hashes…) with nothing signed and an audit
record.

With a key at an external signing service that authorises by OAuth (CSC
``oauth2code``), ``ask_service`` prepares the same pending signature and
sends the applicant to the service to authorise its hashes there; back from
it (lienthong.signing.oauth2code), ``finish_phone_signature`` finishes it the
same way.
"""

from __future__ import annotations

import io
from typing import Any
from xml.sax.saxutils import escape

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from lienthong.audit import services as audit
from lienthong.dossiers.errors import DossierConflict
from lienthong.dossiers.models import AttachmentKind, Dossier
from lienthong.dossiers.receipts import FONT, FONT_BOLD, register_fonts
from lienthong.dossiers.selectors import declaration

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


# --- Signing it with an approval on the phone ----------------------------------------------

SOURCE = "portal"


def declaration_purpose(dossier: Dossier) -> str:
    """What a pending signature of this dossier's declaration is bound to."""
    return f"declaration:{dossier.pk}"


def _document_name(dossier: Dossier, name: str) -> str:
    """What the phone calls the document: the declaration of which procedure, and
    the file's name (at most the 300 characters a summary holds)."""
    suffix = f" ({name})"
    return f"Tờ khai: {dossier.procedure.name}"[: 300 - len(suffix)] + suffix


def _refused(*, actor: Any, dossier: Dossier, code: str, vi: str, en: str, status: int = 400):
    """A refusal of the phone path: audited on the dossier (nothing else is written),
    then raised as the signing service's refusal, which the page shows."""
    from lienthong.signing.errors import SigningRefused

    with transaction.atomic():
        audit.record(
            actor=actor,
            action="declaration_refused",
            obj=dossier,
            changes={"method": "phone", "refused": code},
            source=SOURCE,
        )
    return SigningRefused(code, vi, en, status=status)


def request_phone_signature(
    *, actor: Any, dossier: Dossier, credential_id: str, request_meta: Any = None
):
    """First half: prepare the applicant's signature of their declaration with the
    credential ``credential_id`` and ask their paired phone to approve it; the
    ``PendingSignature`` (its ``context`` names the approval request).

    Refused before anything is kept: DossierConflict ``not_allowed``,
    PortalConflict ``declaration_closed`` / ``no_signing_credential``, and
    SigningRefused (audited) ``approval_no_device``, ``approval_rate_limited``
    or the signing service's own refusals.
    """
    from lienthong.approvals import services as approvals
    from lienthong.portal.errors import PortalConflict
    from lienthong.portal.services import may_sign_declaration
    from lienthong.signing import pdf as signing_pdf
    from lienthong.signing import providers

    if actor is None or isinstance(actor, str) or dossier.applicant_id != actor.pk:
        raise DossierConflict("not_allowed")
    if not may_sign_declaration(actor, dossier):
        raise PortalConflict("declaration_closed", status=dossier.status)
    if providers.is_external():
        # A phone paired with this node authorises this node's keys only; an
        # external signing service authorises with its own one-time codes.
        raise _refused(actor=actor, dossier=dossier, code="provider_no_phone_approval",
                       vi="Khóa ký của bạn ở dịch vụ ký số từ xa: hãy ký bằng mã xác thực một lần.",
                       en="Your signing key is at the remote signing service: sign with a "
                       "one-time code.", status=409)  # fmt: skip
    credential = providers.credential_for(actor, credential_id)
    if credential is None or not credential.is_usable():
        raise PortalConflict("no_signing_credential")
    if not approvals.has_paired_device(actor):
        refusal = approvals.refused("approval_no_device")
        raise _refused(actor=actor, dossier=dossier, code=refusal.code, vi=refusal.message_vi,
                       en=refusal.message_en, status=refusal.status)  # fmt: skip
    name = f"to-khai-{dossier.code}.pdf"
    pending = signing_pdf.begin_pdf_signature(
        user=actor,
        credential=credential,
        pdf=declaration_pdf(dossier),
        document_name=name,
        purpose=declaration_purpose(dossier),
        reason=f"Ký tờ khai hồ sơ {dossier.code}",
        timestamp_url=getattr(settings, "TSA_URL", "") or None,
        source=SOURCE,
    )
    try:
        approval = signing_pdf.ask_phone(
            pending,
            user=actor,
            dossier_code=dossier.code,
            document_name=_document_name(dossier, name),
            agency=dossier.receiving_agency.name,
            source=SOURCE,
            request_meta=request_meta,
        )
    except approvals.ApprovalRefused as exc:
        pending.delete()
        raise _refused(actor=actor, dossier=dossier, code=exc.code, vi=exc.message_vi,
                       en=exc.message_en, status=exc.status) from exc  # fmt: skip
    pending.context = {"approval_id": str(approval.pk), "credential_id": credential_id}
    pending.save(update_fields=["context"])
    return pending


def signing_service(user: Any) -> dict | None:
    """With an external signing service: its address and whether ``user``'s account
    there is linked (the declaration form says so); None with this node's keys."""
    from lienthong.signing import links, providers

    if not providers.is_external():
        return None
    return {"url": links.service_url(), "linked": links.live_link(user) is not None}


def ask_service(*, request: Any, dossier: Dossier, credential_id: str) -> str:
    """First half with a key at the external service that authorises by OAuth: prepare
    the applicant's signature of their declaration and return where to send them
    to authorise its hashes (the session keeps the state). Refused before anything
    is kept as ``request_phone_signature`` is, and with SigningRefused (audited)
    ``provider_not_oauth2code`` for a key authorised with a code."""
    from django.urls import reverse

    from lienthong.portal.errors import PortalConflict
    from lienthong.portal.services import may_sign_declaration
    from lienthong.signing import oauth2code, providers
    from lienthong.signing import pdf as signing_pdf
    from lienthong.signing.errors import SigningRefused

    actor = request.user
    if dossier.applicant_id != actor.pk:
        raise DossierConflict("not_allowed")
    if not may_sign_declaration(actor, dossier):
        raise PortalConflict("declaration_closed", status=dossier.status)
    try:
        credential = providers.credential_for(actor, credential_id)
    except SigningRefused as exc:
        raise _refused(actor=actor, dossier=dossier, code=exc.code, vi=exc.message_vi,
                       en=exc.message_en, status=exc.status) from exc  # fmt: skip
    if credential is None or not credential.is_usable():
        raise PortalConflict("no_signing_credential")
    if not oauth2code.uses_oauth2code(credential):
        refusal = oauth2code.refused("provider_not_oauth2code")
        raise _refused(actor=actor, dossier=dossier, code=refusal.code, vi=refusal.message_vi,
                       en=refusal.message_en, status=refusal.status)  # fmt: skip
    pending = signing_pdf.begin_pdf_signature(
        user=actor,
        credential=credential,
        pdf=declaration_pdf(dossier),
        document_name=f"to-khai-{dossier.code}.pdf",
        purpose=declaration_purpose(dossier),
        context={"credential_id": credential_id},
        reason=f"Ký tờ khai hồ sơ {dossier.code}",
        timestamp_url=getattr(settings, "TSA_URL", "") or None,
        source=SOURCE,
    )
    try:
        url, kept = oauth2code.start(
            user=actor,
            pending=pending,
            redirect_uri=request.build_absolute_uri(reverse("signing:authorize-callback")),
            wait_url=reverse(
                "portal:sign-declaration-wait", args=[dossier.code, pending.reference]
            ),
            back_url=reverse("portal:detail", args=[dossier.code]),
            description=f"Tờ khai hồ sơ {dossier.code} · sha256:{pending.document_sha256}",
            source=SOURCE,
        )
    except SigningRefused:
        pending.delete()
        raise
    oauth2code.remember(request.session, kept)
    return url


def finish_phone_signature(*, actor: Any, dossier: Dossier, pending):
    """Second half, once the phone answered (or the external service authorised the
    hashes: ``ask_service``): sign with the approval and add the signed
    declaration to the dossier (``services.keep_signed_declaration``); the
    ``DeclarationSignature``.

    Refused with nothing signed: SigningRefused (audited on the dossier)
    approval_pending (the pending signature stays usable), approval_denied,
    approval_expired, approval_other_hashes, approval_consumed, pending_*;
    PortalConflict ``declaration_closed`` when the dossier closed meanwhile.
    """
    from lienthong.portal.errors import PortalConflict
    from lienthong.portal.services import keep_signed_declaration, may_sign_declaration
    from lienthong.signing import pdf as signing_pdf
    from lienthong.signing import providers
    from lienthong.signing.errors import SigningRefused

    if not may_sign_declaration(actor, dossier):
        raise PortalConflict("declaration_closed", status=dossier.status)
    try:
        credential = providers.credential_for(actor, pending.credential_id)
    except SigningRefused as exc:
        raise _refused(actor=actor, dossier=dossier, code=exc.code, vi=exc.message_vi,
                       en=exc.message_en, status=exc.status) from exc  # fmt: skip
    if credential is None:
        raise PortalConflict("no_signing_credential")
    try:
        signed = signing_pdf.finish_pending_signature(
            user=actor,
            reference=pending.reference,
            purpose=declaration_purpose(dossier),
            approval_id=(pending.context or {}).get("approval_id"),
            source=SOURCE,
        )
    except SigningRefused as exc:
        raise _refused(actor=actor, dossier=dossier, code=exc.code, vi=exc.message_vi,
                       en=exc.message_en, status=exc.status) from exc  # fmt: skip
    return keep_signed_declaration(
        actor=actor,
        dossier=dossier,
        signed=signed,
        credential=credential,
        level=pending.level,
        # No phone request: authorised at the external service (oauth2code).
        method="phone" if (pending.context or {}).get("approval_id") else "service",
    )
