"""The result of a dossier: a PDF signed as PAdES when the leader approves it.

By default the result is sealed with the agency's signing key held by the
node (``trust.SigningKey`` with ``agency`` set, the key the exchange also
signs the agency's envelopes with): PAdES B-T when a time-stamping authority
is configured (``LIENTHONG_TSA_URL``), B-B otherwise, with a visible stamp
naming the agency and the approving leader. The uploaded document is kept
unchanged beside its signed copy, both content-addressed (``attachments.py``);
the dossier's ``result`` is the signed copy, which the applicant downloads and
anyone can check with the trust validation service (``verify_result``).

Signing is split in two so that nothing is half-written:

1. ``prepare`` (outside any transaction: a time-stamp request must not hold
   the database's write lock) checks the PDF, signs it and stores both files
   under their digests; a refusal here writes no row at all;
2. ``record`` (inside the approval's transaction) creates the attachment rows
   and the ``ResultDocument``; a stale version or any error rolls them back
   with the status change, leaving only unreferenced blobs that
   ``attachments.sweep`` removes.

A way of signing plugs in as a ``ResultSigner``: an object with a ``method``
and a ``sign`` that returns a ``SignedPdf``. Two ship here:

- ``AgencySeal``, the default;
- ``PersonalSignature``, the leader's own signing credential
  (lienthong.signing, the CSC-shaped remote signing service; officers'
  certificates come from the government CA), authorised by the leader's
  one-time code, or by an approval on their paired phone. The phone path
  runs in two requests: ``request_personal_signature`` prepares the
  signature (a ``PendingSignature`` row) and asks the phone;
  ``finish_personal_signature`` — once the phone approved — approves the
  dossier through ``services.approve`` with a ``PersonalSignature`` that
  finishes that pending signature, so the dossier moves exactly as with the
  seal, in the same transactional ``record``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from lienthong.audit import services as audit
from lienthong.directory.models import Agency
from lienthong.dossiers import attachments, workflow
from lienthong.dossiers.errors import AttachmentRefused, DossierConflict, ResultRefused
from lienthong.dossiers.models import (
    Attachment,
    AttachmentKind,
    Dossier,
    ResultDocument,
    ResultMethod,
    Status,
)
from lienthong.identity.models import Role
from lienthong.trust import keystore, signing
from lienthong.trust.models import SigningKey, ValidationRecord

SOURCE = "dossiers"
PDF_MAGIC = b"%PDF-"
# Bottom left of the last page, in points: room for five lines at 9 pt.
STAMP_BOX = (36, 36, 336, 126)
# What pyHanko's refusal means for the officer: the upload is not a usable PDF.
NOT_A_PDF_CODES = frozenset({"not_pdf", "encrypted_pdf", "too_large"})


@dataclass(frozen=True)
class SignedPdf:
    """What a ``ResultSigner`` gives back: the signed bytes and how they were signed."""

    content: bytes
    method: str
    level: str
    signer: str
    certificate_sha256: str
    signing_key: SigningKey | None = None


class ResultSigner(Protocol):
    """A way of signing a dossier's result (see the module docstring)."""

    method: str

    def sign(self, *, actor: Any, dossier: Dossier, pdf: bytes, stamp_text: str) -> SignedPdf: ...


def agency_key(agency: Agency) -> SigningKey | None:
    """The newest usable key the node holds for ``agency`` (enabled, certificate valid now)."""
    now = timezone.now()
    return (
        SigningKey.objects.filter(
            agency=agency, is_enabled=True, not_before__lte=now, not_after__gte=now
        )
        .order_by("-not_after", "-pk")
        .first()
    )


def signature_level() -> tuple[str, str | None]:
    """B-T with the configured time-stamping authority, else B-B (no time-stamp)."""
    url = getattr(settings, "TSA_URL", "") or ""
    return ("B-T", url) if url else ("B-B", None)


class AgencySeal:
    """The agency's signing key held by the node, at ``signature_level()``."""

    method = ResultMethod.AGENCY_SEAL

    def sign(self, *, actor: Any, dossier: Dossier, pdf: bytes, stamp_text: str) -> SignedPdf:
        agency = dossier.current_agency
        key = agency_key(agency)
        if key is None:
            raise ResultRefused("no_signing_key", agency=agency.identifier)
        level, tsa = signature_level()
        try:
            signed = signing.sign_pdf(
                actor=actor,
                key=key,
                pdf=pdf,
                level=level,
                timestamp_url=tsa,
                reason=f"Kết quả giải quyết hồ sơ {dossier.code}",
                location=agency.name,
                visible_stamp={"page": -1, "box": STAMP_BOX, "text": stamp_text},
                source=SOURCE,
            )
        except signing.SigningRefused as exc:
            if exc.code in NOT_A_PDF_CODES:
                raise AttachmentRefused("not_a_pdf", reason=exc.code) from exc
            raise ResultRefused(
                "signing_failed",
                reason=exc.code,
                detail_vi=exc.message_vi,
                detail_en=exc.message_en,
            ) from exc
        return SignedPdf(
            content=signed,
            method=self.method,
            level=level,
            signer=_common_name(key),
            certificate_sha256=key.fingerprint_sha256,
            signing_key=key,
        )


# --- The leader's personal signature ----------------------------------------------

# What a refusal of the signing service means for the leader: their own doing
# (a wrong code, a denial on the phone…), answered 400 rather than 503.
LEADER_REFUSALS = frozenset(
    {
        "invalid_otp",
        "locked",
        "rate_limited",
        "unknown_otp_method",
        "authorization_required",
        "approval_pending",
        "approval_denied",
        "approval_expired",
        "approval_consumed",
        "approval_other_hashes",
        "approval_not_found",
        "approval_no_device",
        "approval_rate_limited",
        "pending_not_found",
        "pending_used",
        "pending_expired",
        "pending_other_purpose",
        "document_changed",
        "no_signing_credential",
        "credential_not_usable",
        "unknown_credential",
        # With an external signing service: the leader's account there is not
        # linked, its link ended, or the service refused the leader's token.
        "provider_not_linked",
        "provider_link_expired",
        "provider_no_phone_approval",
        "provider_not_oauth2code",
        "provider_authorize_refused",
        "provider_other_hashes",
        "invalid_token",
    }
)


def personal_credential(actor: Any, *, strict: bool = False):
    """The leader's newest signing credential usable now, or None: this node's
    (lienthong.signing), or with an external signing service
    (``LIENTHONG_SIGNING_PROVIDER=csc``) the service's, for the leader's linked
    account. ``strict``: a refusal of the service (not linked, unreachable) is
    raised as SigningRefused instead of None."""
    from lienthong.signing import providers
    from lienthong.signing.errors import SigningRefused

    try:
        usable = providers.usable_credentials(actor)
    except SigningRefused:
        if strict:
            raise
        return None
    return usable[-1] if usable else None


def _no_phone_approval(actor: Any, dossier: Dossier) -> ResultRefused:
    # An approval on the phone paired with this node authorises this node's keys
    # only: an external signing service authorises with its own one-time codes.
    return _signing_refused(
        actor=actor,
        dossier=dossier,
        code="provider_no_phone_approval",
        vi="Khóa ký của bạn ở dịch vụ ký số từ xa: hãy ký bằng mã xác thực một lần.",
        en="Your signing key is at the remote signing service: sign with a one-time code.",
    )


def personal_purpose(dossier: Dossier) -> str:
    """What a pending personal signature is bound to: this dossier's result."""
    return f"dossier-result:{dossier.pk}"


def _signing_refused(*, actor: Any, dossier: Dossier, code: str, vi: str, en: str):
    """A refusal of the leader's signature: audited on the dossier (nothing else is
    written), then the ResultRefused the back office shows."""
    with transaction.atomic():
        audit.record(
            actor=actor,
            action="result_sign_refused",
            obj=dossier,
            changes={"method": ResultMethod.PERSONAL_REMOTE, "refused": code},
            source=SOURCE,
        )
    return ResultRefused("signing_failed", reason=code, detail_vi=vi, detail_en=en)


def _credential_name(credential) -> str:
    from cryptography import x509

    certificate = x509.load_der_x509_certificate(bytes(credential.certificate))
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else credential.subject


def _no_credential(actor: Any, dossier: Dossier) -> ResultRefused:
    return _signing_refused(
        actor=actor,
        dossier=dossier,
        code="no_signing_credential",
        vi="Bạn chưa có khóa ký cá nhân với chứng thư số còn hiệu lực.",
        en="You have no personal signing key with a valid certificate.",
    )


class PersonalSignature:
    """The leader's own remote signing credential, at ``signature_level()``, with the
    same visible stamp as the seal. Either with a one-time code (``otp``: TOTP, or
    ``otp_method="sms"``), signed in one go; or finishing ``pending`` (a
    ``PendingSignature`` of ``request_personal_signature``) with the phone
    approval ``approval_id``."""

    method = ResultMethod.PERSONAL_REMOTE

    def __init__(
        self,
        *,
        credential=None,
        otp: str | None = None,
        otp_method: str | None = None,
        address: str | None = None,
        pending=None,
        approval_id: str | None = None,
    ):
        self.credential = credential
        self.otp = otp
        self.otp_method = otp_method
        self.address = address
        self.pending = pending
        self.approval_id = approval_id

    def sign(self, *, actor: Any, dossier: Dossier, pdf: bytes, stamp_text: str) -> SignedPdf:
        from lienthong.signing import pdf as remote
        from lienthong.signing import providers
        from lienthong.signing.errors import SigningRefused

        agency = dossier.current_agency
        level, tsa = signature_level()
        try:
            if self.pending is not None:
                pending = self.pending
                if hashlib.sha256(pdf).hexdigest() != pending.document_sha256:
                    raise SigningRefused(
                        "document_changed",
                        "Văn bản kết quả đã thay đổi từ khi yêu cầu ký; hãy ký lại.",
                        "The result document changed since the signature was asked; sign again.",
                    )
                credential = providers.credential_for(actor, pending.credential_id)
                if credential is None:
                    raise _no_credential(actor, dossier)
                content = remote.finish_pending_signature(
                    user=actor,
                    reference=pending.reference,
                    purpose=personal_purpose(dossier),
                    approval_id=self.approval_id,
                    source=SOURCE,
                )
                level = pending.level
            else:
                credential = self.credential or personal_credential(actor, strict=True)
                if credential is None:
                    raise _no_credential(actor, dossier)
                content = remote.sign_pdf(
                    user=actor,
                    credential=credential,
                    pdf=pdf,
                    otp=self.otp or "",
                    otp_method=self.otp_method,
                    reason=f"Kết quả giải quyết hồ sơ {dossier.code}",
                    location=agency.name,
                    visible_stamp={"page": -1, "box": STAMP_BOX, "text": stamp_text},
                    timestamp_url=tsa,
                    address=self.address,
                )
        except SigningRefused as exc:
            if exc.code in NOT_A_PDF_CODES:
                raise AttachmentRefused("not_a_pdf", reason=exc.code) from exc
            raise _signing_refused(
                actor=actor, dossier=dossier, code=exc.code, vi=exc.message_vi, en=exc.message_en
            ) from exc
        return SignedPdf(
            content=content,
            method=self.method,
            level=level,
            signer=_credential_name(credential),
            certificate_sha256=credential.fingerprint_sha256,
        )


def request_personal_signature(
    *,
    actor: Any,
    dossier: Dossier,
    expected_version: int,
    pdf: bytes | None = None,
    name: str = "ket-qua.pdf",
    note: str = "",
    request_meta: Any = None,
    at_service: bool = False,
):
    """First half of the phone path: prepare the leader's signature of ``pdf`` (or the
    specialist's draft) and ask their paired phone to approve it (the phone shows
    the dossier code, the document's name and SHA-256, the agency). The pending
    signature, whose ``context`` keeps the version read, the note, the approval
    request and, for an uploaded PDF, its stored copy.

    ``at_service``: the leader's key is at the external service, which authorises
    it by OAuth (CSC ``oauth2code``): the phone is not asked; the caller sends the
    leader to the service with the pending signature (lienthong.signing.oauth2code).

    Refused before anything is kept: DossierConflict (stale version, a move the
    leader may not make, ``no_result``), AttachmentRefused, ResultRefused
    (no credential, no paired phone, too many requests; audited).
    """
    from lienthong.approvals import services as approvals
    from lienthong.signing import pdf as remote
    from lienthong.signing import providers
    from lienthong.signing.errors import SigningRefused

    current = Dossier.objects.select_related("current_agency", "procedure").get(pk=dossier.pk)
    if current.version != expected_version:
        raise DossierConflict("stale_dossier", version=current.version)
    workflow.check(actor=actor, dossier=current, to=Status.DONE)
    _may_sign(actor, current)
    upload = None
    uploaded = pdf is not None
    if pdf is None:
        row = draft(current)
        if row is None:
            raise DossierConflict("no_result")
        with attachments.open_blob(row.path) as handle:
            pdf = handle.read()
        name = row.original_name
    check_pdf(pdf)
    if providers.is_external() and not at_service:
        raise _no_phone_approval(actor, current)
    credential = personal_credential(actor)
    if credential is None:
        raise _no_credential(actor, current)
    if at_service and getattr(credential, "auth_mode", "") != "oauth2code":
        raise _signing_refused(
            actor=actor,
            dossier=current,
            code="provider_not_oauth2code",
            vi="Khóa ký này được cấp quyền bằng mã xác thực một lần, không phải tại dịch vụ.",
            en="This key is authorised with a one-time code, not at the service.",
        )
    if not at_service and not approvals.has_paired_device(actor):
        raise _signing_refused(
            actor=actor,
            dossier=current,
            code="approval_no_device",
            vi="Bạn chưa ghép nối điện thoại để phê duyệt chữ ký.",
            en="You have no paired phone to approve the signature.",
        )
    if uploaded:
        # Kept by digest until the second half reads it (attachments.sweep
        # removes it a day later if nothing refers to it).
        stored_copy = attachments.store_bytes(
            pdf, name=f"{Path(name).stem or 'ket-qua'}.pdf", accepted=["pdf"]
        )
        upload = {"path": stored_copy.path, "name": stored_copy.original_name}
    agency = current.current_agency
    _level, tsa = signature_level()
    try:
        pending = remote.begin_pdf_signature(
            user=actor,
            credential=credential,
            pdf=pdf,
            document_name=name,
            purpose=personal_purpose(current),
            context={"version": expected_version, "note": note[:1000], "upload": upload},
            reason=f"Kết quả giải quyết hồ sơ {current.code}",
            location=agency.name,
            visible_stamp={
                "page": -1,
                "box": STAMP_BOX,
                "text": stamp_text(dossier=current, actor=actor),
            },
            timestamp_url=tsa,
            source=SOURCE,
        )
    except SigningRefused as exc:
        if exc.code in NOT_A_PDF_CODES:
            raise AttachmentRefused("not_a_pdf", reason=exc.code) from exc
        raise _signing_refused(
            actor=actor, dossier=current, code=exc.code, vi=exc.message_vi, en=exc.message_en
        ) from exc
    if at_service:
        return pending
    try:
        approval = remote.ask_phone(
            pending,
            user=actor,
            dossier_code=current.code,
            document_name=name or "ket-qua.pdf",
            agency=agency.name,
            source=SOURCE,
            request_meta=request_meta,
        )
    except approvals.ApprovalRefused as exc:
        pending.delete()
        body = exc.body()
        raise _signing_refused(
            actor=actor,
            dossier=current,
            code=exc.code,
            vi=body.get("message_vi", ""),
            en=body.get("message_en", ""),
        ) from exc
    pending.context = {**pending.context, "approval_id": str(approval.pk)}
    pending.save(update_fields=["context"])
    return pending


def finish_personal_signature(*, actor: Any, dossier: Dossier, pending) -> Dossier:
    """Second half of the phone path: approve ``dossier`` with the pending signature,
    as ``services.approve`` does with the seal (the same checks, the same
    transaction). Refused as ``approve`` is; a refusal of the phone (still
    pending, denied, expired) or of the pending signature is a ResultRefused
    whose ``reason`` names it, with nothing written but its audit."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from lienthong.dossiers import services

    context = pending.context or {}
    result = None
    if context.get("upload"):
        with attachments.open_blob(context["upload"]["path"]) as handle:
            result = SimpleUploadedFile(
                context["upload"]["name"], handle.read(), content_type="application/pdf"
            )
    return services.approve(
        actor=actor,
        dossier=dossier,
        expected_version=int(context.get("version", 0)),
        result=result,
        note=context.get("note", ""),
        signer=PersonalSignature(pending=pending, approval_id=context.get("approval_id")),
    )


def _common_name(key: SigningKey) -> str:
    from cryptography import x509

    names = keystore.certificate(key).subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else key.subject


def person(actor: Any) -> str:
    """The actor's name as people read it: the account's display name, else the label."""
    account = getattr(actor, "account", None) if getattr(actor, "pk", None) else None
    return getattr(account, "display_name", "") or audit.actor_label(actor)


def stamp_text(*, dossier: Dossier, actor: Any) -> str:
    """The visible stamp's own lines: the agency, the leader who approved, the dossier."""
    return "\n".join(
        [
            dossier.current_agency.name,
            f"Lãnh đạo phê duyệt / Approved by: {person(actor)}",
            f"Hồ sơ / Dossier: {dossier.code}",
        ]
    )


def check_pdf(pdf: bytes) -> None:
    """A result is a PDF within the attachment size limit: AttachmentRefused otherwise."""
    if not pdf:
        raise AttachmentRefused("empty_file")
    if len(pdf) > settings.DOSSIERS_MAX_ATTACHMENT_BYTES:
        raise AttachmentRefused("too_large", limit=settings.DOSSIERS_MAX_ATTACHMENT_BYTES)
    if not pdf.startswith(PDF_MAGIC):
        raise AttachmentRefused("not_a_pdf")


def _may_sign(actor: Any, dossier: Dossier) -> None:
    """Only a leader of the agency holding the dossier signs, while it is processed."""
    if dossier.status != Status.PROCESSING:
        raise DossierConflict("illegal_transition", status_from=dossier.status, status_to=9)
    if Role.LEADER not in workflow.capacities(actor, dossier):
        raise DossierConflict("not_allowed", status_from=dossier.status, status_to=9)


@dataclass(frozen=True)
class PreparedResult:
    """A result checked, signed and stored, not yet recorded (see ``record``)."""

    original: attachments.StoredBlob | None
    original_row: Attachment | None
    signed: attachments.StoredBlob
    signature: SignedPdf
    signed_at: dt.datetime


def draft(dossier: Dossier) -> Attachment | None:
    """The latest unsigned result a specialist attached and nobody signed yet."""
    used = ResultDocument.objects.filter(dossier=dossier).values("original_id")
    return (
        dossier.attachments.filter(kind=AttachmentKind.DRAFT)
        .exclude(pk__in=used)
        .order_by("-uploaded_at", "-id")
        .first()
    )


def prepare(
    *,
    actor: Any,
    dossier: Dossier,
    pdf: bytes | None = None,
    name: str = "ket-qua.pdf",
    signer: ResultSigner | None = None,
) -> PreparedResult | None:
    """Check, sign and store the result of ``dossier``: ``pdf`` if given (uploaded at
    approval), else the specialist's draft; None when there is neither (a decision
    without a document). Raises AttachmentRefused / ResultRefused / DossierConflict
    before any row is written."""
    _may_sign(actor, dossier)
    original_row = None
    if pdf is None:
        original_row = draft(dossier)
        if original_row is None:
            return None
        with attachments.open_blob(original_row.path) as handle:
            pdf = handle.read()
        name = original_row.original_name
    check_pdf(pdf)
    signature = (signer or AgencySeal()).sign(
        actor=actor, dossier=dossier, pdf=pdf, stamp_text=stamp_text(dossier=dossier, actor=actor)
    )
    stem = Path(name).stem or "ket-qua"
    original = None
    if original_row is None:
        original = attachments.store_bytes(pdf, name=f"{stem}.pdf", accepted=["pdf"])
    # The signed copy is larger than the limit the upload was held to only by
    # the signature itself: it is our own output, stored without that limit.
    buffer_name = f"{stem}-da-ky.pdf"
    signed = attachments.store(
        _named(signature.content, buffer_name), accepted=["pdf"], max_bytes=len(signature.content)
    )
    return PreparedResult(
        original=original,
        original_row=original_row,
        signed=signed,
        signature=signature,
        signed_at=timezone.now(),
    )


def _named(content: bytes, name: str):
    import io

    buffer = io.BytesIO(content)
    buffer.name = name
    return buffer


def _row(*, dossier: Dossier, blob: attachments.StoredBlob, kind: str, actor: Any) -> Attachment:
    return Attachment.objects.create(
        dossier=dossier,
        kind=kind,
        sha256=blob.sha256,
        size=blob.size,
        media_type=blob.media_type,
        original_name=blob.original_name,
        path=blob.path,
        uploaded_by=actor if getattr(actor, "pk", None) else None,
    )


def record(*, actor: Any, dossier: Dossier, prepared: PreparedResult) -> ResultDocument:
    """The rows of a prepared result, in the caller's transaction (the approval's)."""
    original = prepared.original_row or _row(
        dossier=dossier, blob=prepared.original, kind=AttachmentKind.DRAFT, actor=actor
    )
    signed = _row(dossier=dossier, blob=prepared.signed, kind=AttachmentKind.RESULT, actor=actor)
    signature = prepared.signature
    document = ResultDocument.objects.create(
        dossier=dossier,
        original=original,
        signed=signed,
        method=signature.method,
        level=signature.level,
        signing_key=signature.signing_key,
        certificate_sha256=signature.certificate_sha256,
        signer=signature.signer[:255],
        approved_by=actor if getattr(actor, "pk", None) else None,
        approved_by_label=person(actor)[:150],
        signed_at=prepared.signed_at,
    )
    audit.record(
        actor=actor,
        action="result_signed",
        obj=dossier,
        changes={
            "method": signature.method,
            "level": signature.level,
            "key": signature.signing_key.pk if signature.signing_key else None,
            "certificate_sha256": signature.certificate_sha256,
            "original_sha256": original.sha256,
            "signed_sha256": signed.sha256,
        },
        source=SOURCE,
    )
    return document


def sign_result(
    *,
    actor: Any,
    dossier: Dossier,
    pdf: bytes | None = None,
    name: str = "ket-qua.pdf",
    signer: ResultSigner | None = None,
) -> ResultDocument:
    """Sign ``pdf`` (or the specialist's draft) as the result of ``dossier`` and link it
    as the dossier's result, without changing its status (``services.approve`` does
    both at once). Only a leader of the agency holding a dossier being processed."""
    prepared = prepare(actor=actor, dossier=dossier, pdf=pdf, name=name, signer=signer)
    if prepared is None:
        raise DossierConflict("no_result")
    with transaction.atomic():
        document = record(actor=actor, dossier=dossier, prepared=prepared)
        Dossier.objects.filter(pk=dossier.pk).update(result=document.signed)
    dossier.result = document.signed
    return document


def current(dossier: Dossier) -> ResultDocument | None:
    """The signed result the dossier carries now."""
    if dossier.result_id is None:
        return None
    return ResultDocument.objects.filter(signed_id=dossier.result_id).first()


def result_bytes(dossier: Dossier) -> bytes:
    if dossier.result_id is None:
        raise DossierConflict("no_result")
    with attachments.open_blob(dossier.result.path) as handle:
        content = handle.read()
    # The blob is named by its digest: a changed file on disk is not served as the result.
    if hashlib.sha256(content).hexdigest() != dossier.result.sha256:
        raise DossierConflict("no_result")
    return content


def verify_result(dossier: Dossier) -> ValidationRecord:
    """Validate the dossier's signed result with the trust validation service (every
    signature, chained to the trust list, revocation checked) and keep the report
    for its reader: ``record.report()`` is the ETSI report, ``trust:report`` shows it."""
    from lienthong.trust import services as trust

    return trust.validate_upload(data=result_bytes(dossier), filename=dossier.result.original_name)
