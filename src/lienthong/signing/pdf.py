"""Signing a PDF with a user's remote credential: PAdES B-B, or B-T with a timestamp.

The document never leaves this process: pyHanko prepares the signature
(its placeholder, the signed attributes), and only the SHA-256 of the signed
attributes goes to the provider, to be authorised by the user and signed —
the shape of every remote signing service. Two ways to call it:

- ``sign_pdf(...)`` in one go, when the caller has the user's one-time code;
- ``prepare_pdf_signature(...)``, then authorise ``prepared.digests`` (for
  example a phone approval: lienthong.approvals ``request_approval`` with
  ``hashes=prepared.hashes_b64``), then ``finish_pdf_signature(...)`` with the
  SAD. The prepared state is held in memory, so both halves run in the same
  process (docs/signing.md).

pyHanko's steps are coroutines; each runs in its own ``asyncio.run`` and the
database is only touched between them (Django refuses the ORM inside an
event loop).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
from dataclasses import dataclass, field
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.pdf_signer import PdfTBSDocument
from pyhanko.sign.timestamps import TimestampRequestError
from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from lienthong.signing.errors import SigningRefused
from lienthong.signing.models import SigningCredential
from lienthong.signing.providers import RemoteSigningProvider, get_provider
from lienthong.trust import signing as trust_signing

# ECDSA P-256 DER signatures are at most 72 bytes; the placeholder is sized
# for the signature, the certificates and, at B-T, the timestamp token.
_PLACEHOLDER_SIGNATURE = 72


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
    registry = SimpleCertificateStore.from_certs(
        [asn1_x509.Certificate.load(der) for der in details.chain]
    )
    field_name = field_name or f"Signature{trust_signing._next_field_number(writer)}"
    new_field = stamp_style = None
    if visible_stamp is not None:
        try:
            new_field, stamp_style = trust_signing._visible_stamp(
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
    return PreparedPdfSignature(
        credential_id=credential_id,
        digests=[hashlib.sha256(signed_attrs.dump()).digest()],
        document_sha256=hashlib.sha256(pdf).hexdigest(),
        level="B-T" if timestamper else "B-B",
        _state={
            "certificate": certificate,
            "registry": registry,
            "prep_digest": prep_digest,
            "post_sign": post_sign,
            "output": output,
            "signed_attrs": signed_attrs,
            "timestamper": timestamper,
            "timestamp_url": timestamp_url,
        },
    )


def finish_pdf_signature(
    *,
    user: Any,
    prepared: PreparedPdfSignature,
    sad: str,
    provider: RemoteSigningProvider | None = None,
) -> bytes:
    """Have the provider sign the authorised hash and put the signature into the PDF."""
    provider = provider or get_provider()
    (signature,) = provider.sign_hashes(
        user=user, credential_id=prepared.credential_id, sad=sad, digests=prepared.digests
    )
    state = prepared._state
    signer = signers.ExternalSigner(
        signing_cert=state["certificate"],
        cert_registry=state["registry"],
        signature_value=signature,
    )

    async def finish():
        cms = await signer.async_sign_prescribed_attributes(
            "sha256", signed_attrs=state["signed_attrs"], timestamper=state["timestamper"]
        )
        await PdfTBSDocument.async_finish_signing(
            state["output"],
            prepared_digest=state["prep_digest"],
            signature_cms=cms,
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
