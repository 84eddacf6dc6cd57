"""Signing a PDF with a user's remote credential: PAdES B-B, or B-T with a timestamp.

The document never leaves this process: pyHanko prepares the signature
(its placeholder, the signed attributes), and only the SHA-256 of the signed
attributes goes to the provider, to be authorised by the user and signed —
the shape of every remote signing service. Two ways to call it:

- ``sign_pdf(...)`` in one go, when the caller has the user's one-time code;
- ``begin_pdf_signature(...)``, which prepares the signature and keeps what
  finishing needs in a ``PendingSignature`` row (sealed, short-lived, single
  use); then the user authorises its hashes (for example a phone approval:
  lienthong.approvals ``request_approval`` with ``hashes=pending.hashes``),
  and ``finish_pending_signature(...)`` — in another request or process —
  authorises with the approval (or a code, or a SAD) and finishes
  (docs/signing.md). ``prepare_pdf_signature`` and ``finish_pdf_signature``
  are the same two halves in memory, for one process.

pyHanko's steps are coroutines; each runs in its own ``asyncio.run`` and the
database is only touched between them (Django refuses the ORM inside an
event loop).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import secrets
import struct
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.pdf_byterange import PreparedByteRangeDigest
from pyhanko.sign.signers.pdf_signer import PdfTBSDocument
from pyhanko.sign.timestamps import TimestampRequestError
from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from lienthong.audit import services as audit
from lienthong.signing import keys, selectors
from lienthong.signing.errors import SigningRefused
from lienthong.signing.models import PendingSignature, SigningCredential
from lienthong.signing.providers import RemoteSigningProvider, get_provider
from lienthong.trust import signing as trust_signing

# ECDSA P-256 DER signatures are at most 72 bytes; the placeholder is sized
# for the signature, the certificates and, at B-T, the timestamp token.
_PLACEHOLDER_SIGNATURE = 72
# How long a pending signature waits for its authorisation (an approval on the
# phone lives at most 10 minutes too).
PENDING_SECONDS = 10 * 60
SOURCE = "signing"


@dataclass
class PreparedPdfSignature:
    """A PDF with its signature's place reserved: authorise ``digests``, then finish."""

    credential_id: str
    digests: list[bytes]  # one: the SHA-256 of the CMS signed attributes
    document_sha256: str
    level: str
    _state: dict = field(repr=False)

    @property
    def hashes_b64(self) -> list[str]:
        """The hashes as CSC and lienthong.approvals write them: base64."""
        return [base64.b64encode(d).decode("ascii") for d in self.digests]

    def dump_state(self) -> bytes:
        """What finishing needs, as bytes: a JSON header, then pyHanko's output
        with the placeholder (``load`` reads it back in any process)."""
        state = self._state
        output = state["output"].getvalue()
        prep = state["prep_digest"]
        header = json.dumps(
            {
                "v": 1,
                "credential_id": self.credential_id,
                "document_sha256": self.document_sha256,
                "level": self.level,
                "certificate": _b64(state["certificate"].dump()),
                "chain": [_b64(c.dump()) for c in state["chain"]],
                "document_digest": _b64(prep.document_digest),
                "reserved": [prep.reserved_region_start, prep.reserved_region_end],
                "signed_attrs": _b64(state["signed_attrs"].dump()),
                "timestamp_url": state["timestamp_url"],
                "output_sha256": hashlib.sha256(output).hexdigest(),
            },
            separators=(",", ":"),
        ).encode()
        return struct.pack(">I", len(header)) + header + output

    @classmethod
    def load(cls, data: bytes) -> PreparedPdfSignature:
        (length,) = struct.unpack(">I", data[:4])
        header = json.loads(data[4 : 4 + length])
        output = data[4 + length :]
        if header.get("v") != 1 or hashlib.sha256(output).hexdigest() != header["output_sha256"]:
            raise _damaged()
        chain = [asn1_x509.Certificate.load(base64.b64decode(c)) for c in header["chain"]]
        signed_attrs = cms.CMSAttributes.load(base64.b64decode(header["signed_attrs"]))
        start, end = header["reserved"]
        return cls(
            credential_id=header["credential_id"],
            digests=[hashlib.sha256(signed_attrs.dump()).digest()],
            document_sha256=header["document_sha256"],
            level=header["level"],
            _state={
                "certificate": asn1_x509.Certificate.load(base64.b64decode(header["certificate"])),
                "chain": chain,
                "prep_digest": PreparedByteRangeDigest(
                    document_digest=base64.b64decode(header["document_digest"]),
                    reserved_region_start=int(start),
                    reserved_region_end=int(end),
                ),
                "post_sign": None,
                "output": io.BytesIO(output),
                "signed_attrs": signed_attrs,
                "timestamp_url": header["timestamp_url"],
            },
        )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _damaged() -> SigningRefused:
    return SigningRefused(
        "pending_damaged",
        "Dữ liệu chữ ký đang chờ bị hỏng; hãy ký lại từ đầu.",
        "The pending signature's data is damaged; start signing again.",
        csc_error="server_error",
        status=500,
    )


def _credential_id(credential: SigningCredential | str) -> str:
    return credential if isinstance(credential, str) else credential.credential_id


def prepare_pdf_signature(
    *,
    user: Any,
    credential: SigningCredential | str,
    pdf: bytes,
    reason: str = "",
    location: str = "",
    field_name: str | None = None,
    visible_stamp: dict | None = None,
    timestamp_url: str | None = None,
    provider: RemoteSigningProvider | None = None,
) -> PreparedPdfSignature:
    """Reserve the signature in ``pdf`` and compute what the user must authorise.

    PAdES B-T when ``timestamp_url`` names an RFC 3161 authority, B-B
    otherwise. ``visible_stamp`` as in lienthong.trust.signing.sign_pdf.
    Refused (SigningRefused): not a PDF, encrypted, too large, unknown
    credential, or a stamp that does not fit.
    """
    provider = provider or get_provider()
    credential_id = _credential_id(credential)
    details = provider.credential_info(user=user, credential_id=credential_id)
    if len(pdf) > trust_signing.MAX_PDF_BYTES:
        raise SigningRefused(
            "too_large",
            "Tệp PDF quá lớn để ký.",
            f"The PDF is too large to sign (at most {trust_signing.MAX_PDF_BYTES} bytes).",
        )
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise SigningRefused(
            "not_pdf", "Tệp không phải là PDF hợp lệ.", "The file is not a valid PDF."
        ) from exc
    if writer.prev.encrypted:
        raise SigningRefused(
            "encrypted_pdf",
            "Tệp PDF được mã hóa; hãy gỡ mật khẩu trước khi ký.",
            "The PDF is encrypted; remove its password before signing.",
        )
    certificate = asn1_x509.Certificate.load(details.certificate)
    chain = [asn1_x509.Certificate.load(der) for der in details.chain]
    registry = SimpleCertificateStore.from_certs(chain)
    field_name = field_name or f"Signature{trust_signing.next_field_number(writer)}"
    new_field = stamp_style = None
    if visible_stamp is not None:
        try:
            new_field, stamp_style = trust_signing.visible_stamp(
                writer,
                field_name,
                visible_stamp,
                signer=certificate.subject.native.get(
                    "common_name", certificate.subject.human_friendly
                ),
            )
        except trust_signing.SigningRefused as exc:
            raise SigningRefused(exc.code, exc.message_vi, exc.message_en) from exc
    timestamper = (
        RequestsHTTPTimeStamper(timestamp_url, timeout=trust_signing.TIMESTAMP_TIMEOUT_SECONDS)
        if timestamp_url
        else None
    )
    placeholder = signers.ExternalSigner(
        signing_cert=certificate, cert_registry=registry, signature_value=_PLACEHOLDER_SIGNATURE
    )
    pdf_signer = signers.PdfSigner(
        signers.PdfSignatureMetadata(
            field_name=field_name,
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            reason=reason or None,
            location=location or None,
            signer_key_usage={"digital_signature", "non_repudiation"},
        ),
        signer=placeholder,
        timestamper=timestamper,
        stamp_style=stamp_style,
        new_field_spec=new_field,
    )

    async def prepare():
        prep_digest, tbs_document, output = await pdf_signer.async_digest_doc_for_signing(writer)
        signed_attrs = await placeholder.signed_attrs(
            prep_digest.document_digest, "sha256", use_pades=True
        )
        return prep_digest, tbs_document.post_sign_instructions, output, signed_attrs

    try:
        prep_digest, post_sign, output, signed_attrs = asyncio.run(prepare())
    except TimestampRequestError as exc:
        raise _timestamp_failed(timestamp_url) from exc
    except SigningError as exc:
        raise SigningRefused(
            "signing_failed", f"Không ký được: {exc}", f"Signing failed: {exc}"
        ) from exc
    if post_sign is not None:
        # B-B and B-T need nothing after the signature (no DSS, no document
        # time-stamp), so that what finishing needs is all in the kept state.
        raise SigningRefused(
            "signing_failed", "Không ký được.", "Signing failed: unexpected post-sign steps."
        )
    return PreparedPdfSignature(
        credential_id=credential_id,
        digests=[hashlib.sha256(signed_attrs.dump()).digest()],
        document_sha256=hashlib.sha256(pdf).hexdigest(),
        level="B-T" if timestamper else "B-B",
        _state={
            "certificate": certificate,
            "chain": chain,
            "prep_digest": prep_digest,
            "post_sign": post_sign,
            "output": output,
            "signed_attrs": signed_attrs,
            "timestamp_url": timestamp_url,
        },
    )


def finish_pdf_signature(
    *,
    user: Any,
    prepared: PreparedPdfSignature,
    sad: str | None,
    provider: RemoteSigningProvider | None = None,
    credential_token: str | None = None,
) -> bytes:
    """Have the provider sign the authorised hash and put the signature into the PDF.
    The hash is authorised by ``sad`` or, at a service that authorises by OAuth
    (CSC ``oauth2code``), by its ``credential_token``."""
    provider = provider or get_provider()
    (signature,) = provider.sign_hashes(
        user=user,
        credential_id=prepared.credential_id,
        sad=sad,
        digests=prepared.digests,
        credential_token=credential_token,
    )
    state = prepared._state
    signer = signers.ExternalSigner(
        signing_cert=state["certificate"],
        cert_registry=SimpleCertificateStore.from_certs(state["chain"]),
        signature_value=signature,
    )
    timestamper = (
        RequestsHTTPTimeStamper(
            state["timestamp_url"], timeout=trust_signing.TIMESTAMP_TIMEOUT_SECONDS
        )
        if state["timestamp_url"]
        else None
    )

    async def finish():
        signature_cms = await signer.async_sign_prescribed_attributes(
            "sha256", signed_attrs=state["signed_attrs"], timestamper=timestamper
        )
        await PdfTBSDocument.async_finish_signing(
            state["output"],
            prepared_digest=state["prep_digest"],
            signature_cms=signature_cms,
            post_sign_instr=state["post_sign"],
        )
        return state["output"]

    try:
        output = asyncio.run(finish())
    except TimestampRequestError as exc:
        raise _timestamp_failed(state["timestamp_url"]) from exc
    except SigningError as exc:
        raise SigningRefused(
            "signing_failed", f"Không ký được: {exc}", f"Signing failed: {exc}"
        ) from exc
    output.seek(0)
    return output.read()


def sign_pdf(
    *,
    user: Any,
    credential: SigningCredential | str,
    pdf: bytes,
    otp: str,
    otp_method: str | None = None,
    reason: str = "",
    location: str = "",
    field_name: str | None = None,
    visible_stamp: dict | None = None,
    timestamp_url: str | None = None,
    address: str | None = None,
    provider: RemoteSigningProvider | None = None,
) -> bytes:
    """``pdf`` with one more PAdES signature of ``user``, authorised by their one-time code.

    Prepare, authorise the one hash with ``otp`` (TOTP by default, or
    ``otp_method="sms"``), sign, finish. Audited by the provider (hash values,
    credential, method). Refused with SigningRefused as the steps are.
    """
    provider = provider or get_provider()
    prepared = prepare_pdf_signature(
        user=user,
        credential=credential,
        pdf=pdf,
        reason=reason,
        location=location,
        field_name=field_name,
        visible_stamp=visible_stamp,
        timestamp_url=timestamp_url,
        provider=provider,
    )
    activation = provider.authorize(
        user=user,
        credential_id=prepared.credential_id,
        digests=prepared.digests,
        otp=otp,
        otp_method=otp_method,
        description=f"PDF sha256:{prepared.document_sha256}",
        address=address,
    )
    return finish_pdf_signature(user=user, prepared=prepared, sad=activation.sad, provider=provider)


def _timestamp_failed(url: str | None) -> SigningRefused:
    return SigningRefused(
        "timestamp_failed",
        f"Không lấy được dấu thời gian từ {url}.",
        f"No timestamp could be obtained from {url}.",
    )


# --- Two halves in two requests: the pending signature ----------------------------------


def _binding(row: PendingSignature) -> str:
    """What the sealed state is bound to: opened for another row or user, it fails."""
    return json.dumps(
        [
            row.reference,
            row.user_id,
            row.credential_id,
            row.hashes,
            row.document_sha256,
            row.level,
            row.purpose,
        ],
        separators=(",", ":"),
    )


def begin_pdf_signature(
    *,
    user: Any,
    credential: SigningCredential | str,
    pdf: bytes,
    document_name: str = "",
    purpose: str = "",
    context: dict | None = None,
    ttl_seconds: int | None = None,
    reason: str = "",
    location: str = "",
    field_name: str | None = None,
    visible_stamp: dict | None = None,
    timestamp_url: str | None = None,
    provider: RemoteSigningProvider | None = None,
    source: str = SOURCE,
) -> PendingSignature:
    """Prepare ``user``'s signature of ``pdf`` (as ``prepare_pdf_signature``) and keep
    it for ``finish_pending_signature`` in any process: a row, its state sealed,
    living ``ttl_seconds`` (PENDING_SECONDS by default), finished once.

    ``purpose`` names what the signature is for, as the caller checks it on
    finishing (e.g. ``"dossier-result:42"``); ``context`` is the caller's data
    (JSON). Authorise ``pending.hashes`` (base64), e.g. with a phone approval.
    Audited; refused as ``prepare_pdf_signature`` is, with nothing kept.
    """
    prepared = prepare_pdf_signature(
        user=user,
        credential=credential,
        pdf=pdf,
        reason=reason,
        location=location,
        field_name=field_name,
        visible_stamp=visible_stamp,
        timestamp_url=timestamp_url,
        provider=provider,
    )
    now = timezone.now()
    ttl = ttl_seconds or getattr(settings, "SIGNING_PENDING_SECONDS", PENDING_SECONDS)
    row = PendingSignature(
        reference=secrets.token_urlsafe(32),
        user=user,
        credential_id=prepared.credential_id,
        hashes=prepared.hashes_b64,
        document_sha256=prepared.document_sha256,
        document_name=document_name[:255],
        level=prepared.level,
        purpose=purpose[:100],
        context=context or {},
        created_at=now,
        expires_at=now + timedelta(seconds=ttl),
    )
    row.sealed_state = keys.seal(prepared.dump_state(), context=_binding(row))
    with transaction.atomic():
        row.save()
        audit.record(
            actor=user,
            action="signature_prepared",
            obj=row,
            changes={
                "credential_id": row.credential_id,
                "hashes": [d.hex() for d in prepared.digests],
                "document_sha256": row.document_sha256,
                "level": row.level,
                "purpose": row.purpose,
                "expires_at": row.expires_at.isoformat(),
            },
            source=source,
        )
    return row


def pending_refusal(code: str) -> SigningRefused:
    """The refusals of a pending signature, with their stable codes."""
    vi, en, status = {
        "pending_not_found": (
            "Không tìm thấy chữ ký đang chờ.",
            "No such pending signature.",
            404,
        ),
        "pending_used": (
            "Chữ ký đang chờ này đã được dùng.",
            "This pending signature was already used.",
            409,
        ),
        "pending_expired": (
            "Chữ ký đang chờ đã hết hạn; hãy ký lại từ đầu.",
            "The pending signature has expired; start signing again.",
            410,
        ),
        "pending_other_purpose": (
            "Chữ ký đang chờ này dành cho việc khác.",
            "This pending signature is for something else.",
            409,
        ),
    }[code]
    return SigningRefused(code, vi, en, status=status)


def check_pending(
    *, user: Any, reference: str, purpose: str | None = None, source: str = SOURCE
) -> PendingSignature:
    """The user's live pending signature of ``reference`` (for ``purpose`` when given),
    or SigningRefused (audited): pending_not_found (also someone else's),
    pending_used, pending_expired (the row is deleted on the way),
    pending_other_purpose."""
    row = selectors.pending_for(user, reference)
    code = None
    if row is None:
        code = "pending_not_found"
    elif row.consumed_at is not None:
        code = "pending_used"
    elif row.expires_at <= timezone.now():
        code = "pending_expired"
    elif purpose is not None and row.purpose != purpose:
        code = "pending_other_purpose"
    if code is None:
        return row
    with transaction.atomic():
        audit.record(
            actor=user,
            action="pending_refused",
            obj=row,
            object_type="" if row else "signing.pendingsignature",
            changes={"refused": code, "purpose": row.purpose if row else None},
            source=source,
        )
        if code == "pending_expired":
            row.delete()
    raise pending_refusal(code)


def finish_pending_signature(
    *,
    user: Any,
    reference: str,
    purpose: str | None = None,
    sad: str | None = None,
    approval_id: str | None = None,
    otp: str | None = None,
    otp_method: str | None = None,
    address: str | None = None,
    provider: RemoteSigningProvider | None = None,
    source: str = SOURCE,
) -> bytes:
    """The signed PDF of a pending signature: authorise its hashes (``approval_id`` of
    an approved phone request for them, or ``otp``) unless ``sad`` is given or
    the external service authorised them already (``keep_credential_token``:
    CSC ``oauth2code``), spend the row, sign, finish.

    Refused (SigningRefused, nothing signed): as ``check_pending``; as the
    provider's ``authorize`` (approval_pending — the row stays usable —,
    approval_denied, approval_expired, approval_other_hashes, invalid_otp…);
    pending_used when another request finished it first. Once spent, the row
    cannot be finished again, even when signing then fails (start again).
    """
    provider = provider or get_provider(source=source)
    row = check_pending(user=user, reference=reference, purpose=purpose, source=source)
    digests = [base64.b64decode(h) for h in row.hashes]
    credential_token = None
    if sad is None and approval_id is None and otp is None:
        credential_token = credential_token_of(row)
    if sad is None and credential_token is None:
        sad = provider.authorize(
            user=user,
            credential_id=row.credential_id,
            digests=digests,
            otp=otp,
            otp_method=otp_method,
            approval_id=approval_id,
            description=f"PDF sha256:{row.document_sha256}",
            address=address,
        ).sad
    now = timezone.now()
    with transaction.atomic():
        # Spent by exactly one request: the one whose UPDATE finds it live.
        claimed = PendingSignature.objects.filter(
            pk=row.pk, consumed_at__isnull=True, expires_at__gt=now
        ).update(
            consumed_at=now,
            sealed_state=b"",
            context={k: v for k, v in (row.context or {}).items() if k != _AT_SERVICE},
        )
    if not claimed:
        raise pending_refusal("pending_used")
    try:
        state = keys.unseal(row.sealed_state, context=_binding(row))
        prepared = PreparedPdfSignature.load(state)
    except (ValueError, KeyError, TypeError, struct.error) as exc:
        raise _damaged() from exc
    if prepared.digests != digests or prepared.credential_id != row.credential_id:
        raise _damaged()
    return finish_pdf_signature(
        user=user,
        prepared=prepared,
        sad=sad,
        provider=provider,
        credential_token=credential_token,
    )


# Where a pending signature keeps the external service's authorisation of its hashes.
_AT_SERVICE = "authorized_at_service"


def _token_binding(row: PendingSignature) -> str:
    return json.dumps(["credential-token", _binding(row)], separators=(",", ":"))


def keep_credential_token(
    row: PendingSignature, *, token: str, expires_in: Any = None, source: str = SOURCE
) -> None:
    """Keep on ``row`` the access token of scope "credential" the external service
    issued for exactly its hashes (CSC ``oauth2code``): sealed, bound to the row,
    spent with it by ``finish_pending_signature``. Audited (never the token);
    pending_used when the row was finished (or expired) meanwhile."""
    now = timezone.now()
    kept = {
        "sealed": _b64(keys.seal(token.encode(), context=_token_binding(row))),
        "at": now.isoformat(),
    }
    try:
        seconds = int(expires_in)
    except (TypeError, ValueError):
        seconds = 0
    if seconds > 0:
        kept["expires_at"] = (now + timedelta(seconds=seconds)).isoformat()
    row.context = {**(row.context or {}), _AT_SERVICE: kept}
    with transaction.atomic():
        # Only on a live row: one being finished meanwhile keeps no token.
        kept_on_live_row = PendingSignature.objects.filter(
            pk=row.pk, consumed_at__isnull=True, expires_at__gt=now
        ).update(context=row.context)
        if not kept_on_live_row:
            raise pending_refusal("pending_used")
        audit.record(
            actor=row.user,
            action="signing_authorized",
            obj=row,
            changes={
                "method": "oauth2code",
                "credential_id": row.credential_id,
                "hashes": [base64.b64decode(h).hex() for h in row.hashes],
                "purpose": row.purpose,
                "expires_at": kept.get("expires_at"),
            },
            source=source,
        )


def authorized_at_service(row: PendingSignature) -> bool:
    """Did the external service authorise this pending signature's hashes already?"""
    return bool((row.context or {}).get(_AT_SERVICE))


def credential_token_of(row: PendingSignature) -> str | None:
    """The service's credential token kept on ``row``, or None (pending_damaged when
    it does not open: copied from another row)."""
    kept = (row.context or {}).get(_AT_SERVICE)
    if not isinstance(kept, dict) or not kept.get("sealed"):
        return None
    try:
        return keys.unseal(base64.b64decode(kept["sealed"]), context=_token_binding(row)).decode()
    except (ValueError, TypeError, SigningRefused) as exc:
        raise _damaged() from exc


def sweep_pending(*, now=None) -> int:
    """Delete pending signatures past their end (spent or not); how many."""
    deleted, _by_type = PendingSignature.objects.filter(
        expires_at__lte=now or timezone.now()
    ).delete()
    return deleted


def ask_phone(
    pending: PendingSignature,
    *,
    user: Any,
    dossier_code: str,
    document_name: str,
    agency: str,
    source: str = SOURCE,
    request_meta: Any = None,
):
    """Ask ``user``'s paired phone to approve ``pending``: the request shows the dossier,
    the document, its SHA-256 and the agency, covers exactly the pending signature's
    hashes and lives no longer than it. Refusals as ``approvals.request_approval``."""
    from lienthong.approvals import services as approvals

    remaining = int((pending.expires_at - timezone.now()).total_seconds())
    return approvals.request_approval(
        user=user,
        kind="signature",
        summary={
            "dossier_code": dossier_code,
            "document_name": document_name[:300],
            "sha256": pending.document_sha256,
            "agency": agency[:300],
        },
        hashes=pending.hashes,
        ttl_seconds=min(approvals.MAX_TTL, remaining),
        source=source,
        request_meta=request_meta,
    )
