"""Signing with a key the node holds: PDF (PAdES), XML (XAdES) and JSON (JWS).

One function per format, each taking the key (lienthong.trust.keystore),
the content, and the acting user or process:

- ``sign_pdf``: PAdES B-B, B-T (with an RFC 3161 signature timestamp) or
  B-LT (also the certificates, OCSP responses and CRLs a validator needs
  later, in the document security store), optionally with a visible stamp;
- ``sign_xml``: an enveloped XAdES-B signature (XAdES Baseline B-level);
- ``sign_jws``: the exchange's envelope signature, a compact JWS over the
  RFC 8785 canonical form of a JSON payload, carrying the chain in ``x5c``.

The private key is decrypted for one signature and dropped. Every signature
is audited with the SHA-256 of what was signed and of what came out, the
key, the format and level — never the content itself, which may be a
citizen's dossier.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import threading
import time
import unicodedata
from pathlib import Path
from typing import Any

import rfc8785
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from joserfc import jws
from joserfc.jwk import ECKey, RSAKey

from lienthong.audit import services as audit
from lienthong.audit.models import AuditRecord
from lienthong.trust import keystore, selectors, services, signals
from lienthong.trust.models import SigningKey

MAX_PDF_BYTES = 50 * 1024 * 1024
MAX_XML_BYTES = 10 * 1024 * 1024
# An envelope carries metadata and digests; attachments travel beside it.
MAX_JSON_BYTES = 1024 * 1024

# joserfc refuses, by default, a protected header over 512 bytes: less than
# one certificate, let alone the x5c chain. These admit what sign_jws writes
# (base64url lengths); jws_registry() gives a receiver the same limits.
JWS_MAX_HEADER_LENGTH = 32 * 1024
JWS_MAX_PAYLOAD_LENGTH = -(-MAX_JSON_BYTES * 4 // 3) + 4
JWS_MAX_SIGNATURE_LENGTH = 2048
JWS_ALGORITHMS = ("RS256", "ES256", "ES384", "ES512")


PDF_LEVELS = ("B-B", "B-T", "B-LT")
TIMESTAMP_TIMEOUT_SECONDS = 10

# pyHanko's standard font (Courier) has no Vietnamese letters. DejaVu Sans
# has them all: the copy shipped in trust/fonts, else Debian's
# fonts-dejavu-core. Without either the stamp is written without diacritics
# rather than with missing glyphs.
STAMP_FONTS = (
    Path(__file__).resolve().parent / "fonts" / "DejaVuSans.ttf",
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)
DEFAULT_STAMP_BOX = (36, 36, 306, 116)  # bottom left of the page, in points

SIGNATURE_OBJECT_TYPE = "trust.signature"


class SigningRefused(services.CertificateRefused):
    """Nothing was signed: a stable ``code`` and the reason in Vietnamese and English."""


# --- PDF (PAdES) ------------------------------------------------------------------


def sign_pdf(
    *,
    actor: Any,
    key: SigningKey,
    pdf: bytes,
    level: str = "B-T",
    timestamp_url: str | None = None,
    reason: str = "",
    location: str = "",
    field_name: str | None = None,
    visible_stamp: dict | None = None,
    source: str = "cli",
) -> bytes:
    """The PDF with one more signature (an incremental update), PAdES at ``level``.

    ``B-T`` and ``B-LT`` need ``timestamp_url``, an RFC 3161 time-stamping
    authority; ``B-B`` never asks one. ``B-LT`` validates the certificate
    against the trust list (revocation checked, fetched from the CAs) and
    embeds what it found, so it is refused for a certificate that does not
    chain to a trusted root or is revoked. ``visible_stamp`` —
    ``{"page": 1, "box": (x1, y1, x2, y2), "text": "…"}``, every entry
    optional, page 1 the first and -1 the last, the box in points from the
    bottom left — draws the signer's name and the signing time in a box.
    """
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.misc import PdfReadError
    from pyhanko.sign import fields, signers
    from pyhanko.sign.general import SigningError
    from pyhanko.sign.timestamps import TimestampRequestError
    from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper

    if level not in PDF_LEVELS:
        raise SigningRefused(
            "unknown_level",
            f"Mức chữ ký '{level}' không hợp lệ (một trong: {', '.join(PDF_LEVELS)}).",
            f"'{level}' is not a signature level (one of: {', '.join(PDF_LEVELS)}).",
        )
    _check_size(pdf, MAX_PDF_BYTES, "PDF")
    if level != "B-B" and not timestamp_url:
        raise SigningRefused(
            "timestamp_url_required",
            f"Mức {level} cần một máy chủ cấp dấu thời gian (RFC 3161).",
            f"Level {level} needs a time-stamping authority (RFC 3161).",
        )
    _check_usable(key)
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise _not_a("pdf") from exc
    if writer.prev.encrypted:
        raise SigningRefused(
            "encrypted_pdf",
            "Tệp PDF được mã hóa; hãy gỡ mật khẩu trước khi ký.",
            "The PDF is encrypted; remove its password before signing.",
        )
    field_name = field_name or f"Signature{_next_field_number(writer)}"
    certificate_der = bytes(key.certificate)
    chain = [c.public_bytes(serialization.Encoding.DER) for c in keystore.chain(key)]
    validation_context = _validation_context(chain) if level == "B-LT" else None
    metadata = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason or None,
        location=location or None,
        use_pades_lta=False,
        embed_validation_info=level == "B-LT",
        validation_context=validation_context,
        # Either usage allows signing (the import checked one is there).
        signer_key_usage={"digital_signature", "non_repudiation"},
    )
    new_field = None
    stamp_style = None
    if visible_stamp is not None:
        new_field, stamp_style = _visible_stamp(
            writer, field_name, visible_stamp, signer=_common_name(keystore.certificate(key))
        )
    # The requests-based client: a blocking call with a timeout and nothing
    # to close afterwards (the aiohttp one keeps a session open per signer).
    timestamper = (
        RequestsHTTPTimeStamper(timestamp_url, timeout=TIMESTAMP_TIMEOUT_SECONDS)
        if level != "B-B"
        else None
    )
    signer = signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(certificate_der),
        signing_key=_private_key_info(key),
        cert_registry=_certificate_store(chain),
    )
    pdf_signer = signers.PdfSigner(
        metadata,
        signer,
        timestamper=timestamper,
        stamp_style=stamp_style,
        new_field_spec=new_field,
    )
    try:
        signed = pdf_signer.sign_pdf(writer).getvalue()
    except TimestampRequestError as exc:
        raise SigningRefused(
            "timestamp_failed",
            f"Không lấy được dấu thời gian từ {timestamp_url}.",
            f"No timestamp could be obtained from {timestamp_url}.",
        ) from exc
    except SigningError as exc:
        raise _signing_failed(exc) from exc
    _audit(
        actor=actor,
        key=key,
        format="pades",
        level=level,
        content=pdf,
        signed=signed,
        source=source,
        extra={
            "field_name": field_name,
            "timestamp_url": timestamp_url if level != "B-B" else None,
            "visible_stamp": visible_stamp is not None,
        },
    )
    return signed


def _next_field_number(writer) -> int:
    from pyhanko.sign import fields

    existing = {name for name, _, _ in fields.enumerate_sig_fields(writer.prev)}
    number = len(existing) + 1
    while f"Signature{number}" in existing:
        number += 1
    return number


def _validation_context(chain: list[bytes]):
    """Trust as the node trusts: the trust list's roots, revocation required and fetched."""
    from pyhanko_certvalidator import ValidationContext

    return ValidationContext(
        trust_roots=selectors.anchors(),
        other_certs=selectors.other_certificates()
        + [asn1_x509.Certificate.load(der) for der in chain],
        allow_fetching=True,
        # B-LT promises the revocation information is inside: a CA that
        # cannot be reached must stop the signature, not thin it out.
        revocation_mode="hard-fail",
    )


def _certificate_store(chain: list[bytes]):
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    return SimpleCertificateStore.from_certs([asn1_x509.Certificate.load(der) for der in chain])


def _private_key_info(key: SigningKey) -> asn1_keys.PrivateKeyInfo:
    private_key = keystore.load_private_key(key)
    return asn1_keys.PrivateKeyInfo.load(
        private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _signing_failed(exc: Exception) -> SigningRefused:
    """What stopped pyHanko, told by the path validator's error behind it if there is one."""
    from pyhanko_certvalidator import errors as path_errors

    cause: BaseException | None = exc
    while cause is not None and not isinstance(
        cause, path_errors.PathError | path_errors.ValidationError
    ):
        cause = cause.__cause__ or cause.__context__
    # The validator's messages name certificates and services, never key material.
    reason = str(cause or exc).strip() or type(exc).__name__
    if isinstance(cause, path_errors.RevokedError):
        return SigningRefused(
            "certificate_revoked",
            f"Chứng thư số của khóa đã bị thu hồi: {reason}",
            f"The key's certificate has been revoked: {reason}",
        )
    if isinstance(cause, path_errors.PathBuildingError):
        return SigningRefused(
            "not_trusted",
            f"Chứng thư số của khóa không dẫn tới chứng thư gốc nào trong danh sách tin cậy: {reason}",
            f"The key's certificate does not chain to a root of the trust list: {reason}",
        )
    if cause is not None:
        return SigningRefused(
            "certificate_not_validated",
            f"Không xác thực được chứng thư số của khóa (thông tin thu hồi): {reason}",
            f"The key's certificate could not be validated (revocation information): {reason}",
        )
    return SigningRefused("signing_failed", f"Không ký được: {reason}", f"Signing failed: {reason}")


def _visible_stamp(writer, field_name: str, stamp: dict, signer: str):
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
    from pyhanko.pdf_utils.text import TextBoxStyle
    from pyhanko.sign import fields
    from pyhanko.stamp import TextStampStyle

    pages = int(writer.root["/Pages"]["/Count"])
    try:
        page = int(stamp.get("page", 1))
        box = tuple(int(v) for v in stamp.get("box", DEFAULT_STAMP_BOX))
    except (TypeError, ValueError):
        page, box = 1, ()
    index = page - 1 if page > 0 else pages + page
    if page == 0 or not 0 <= index < pages:
        raise SigningRefused(
            "no_such_page",
            f"Tệp PDF có {pages} trang, không có trang {page}.",
            f"The PDF has {pages} pages, not a page {page}.",
        )
    if len(box) != 4 or box[2] - box[0] < 20 or box[3] - box[1] < 20:
        raise SigningRefused(
            "bad_stamp_box",
            "Khung chữ ký phải là (x1, y1, x2, y2), rộng và cao ít nhất 20 điểm.",
            "The stamp box must be (x1, y1, x2, y2), at least 20 points wide and high.",
        )
    font = next((path for path in STAMP_FONTS if path.is_file()), None)
    text = str(stamp.get("text", "")).strip()
    # Our own text goes in literally: pyHanko %-formats the template.
    lines = [text] if text else []
    if font is not None:
        lines += [f"Ký bởi / Signed by: {signer}"]
        time_line = "Thời gian / Time: %(ts)s"
        box_style = TextBoxStyle(font=GlyphAccumulatorFactory(str(font), font_size=9))
    else:
        lines = [_ascii(line) for line in [*lines, f"Signed by: {signer}"]]
        time_line = "Time: %(ts)s"
        box_style = TextBoxStyle(font_size=9)
    style = TextStampStyle(
        stamp_text="\n".join([line.replace("%", "%%") for line in lines] + [time_line]),
        text_box_style=box_style,
        timestamp_format="%d/%m/%Y %H:%M:%S %z",
    )
    spec = fields.SigFieldSpec(sig_field_name=field_name, on_page=index, box=box)
    return spec, style


def _common_name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else certificate.subject.rfc4514_string()


def _ascii(text: str) -> str:
    """Vietnamese without its marks, for a stamp drawn in a font that lacks them."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.encode("ascii", "replace").decode("ascii")


# --- XML (XAdES) ------------------------------------------------------------------


def sign_xml(*, actor: Any, key: SigningKey, xml: bytes, source: str = "cli") -> bytes:
    """The document with an enveloped XAdES-B signature over all of it (SHA-256).

    The signature goes last inside the root element; its KeyInfo carries
    the key's certificate and the issuers above it. A document with a
    DOCTYPE is refused: entities and DTD defaults would let what a reader
    sees differ from what was signed.
    """
    from lxml import etree
    from signxml import SignatureMethod
    from signxml.xades import XAdESSigner

    _check_size(xml, MAX_XML_BYTES, "XML")
    _check_usable(key)
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(xml, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise _not_a("xml") from exc
    if root.getroottree().docinfo.doctype:
        raise SigningRefused(
            "xml_doctype",
            "Không ký tài liệu XML có khai báo DOCTYPE (DTD).",
            "XML documents with a DOCTYPE (DTD) are not signed.",
        )
    private_key = keystore.load_private_key(key)
    method = {
        "RS256": SignatureMethod.RSA_SHA256,
        "ES256": SignatureMethod.ECDSA_SHA256,
        "ES384": SignatureMethod.ECDSA_SHA384,
        "ES512": SignatureMethod.ECDSA_SHA512,
    }[jws_algorithm(keystore.certificate(key))]
    signer = XAdESSigner(signature_algorithm=method, digest_algorithm="sha256")
    signed_root = signer.sign(
        root,
        key=private_key,
        cert=[keystore.certificate(key), *keystore.chain(key)],
        # The certificate says which key signed; a bare KeyValue beside it
        # would only be a second, unauthenticated answer.
        always_add_key_value=False,
    )
    signed = etree.tostring(signed_root, xml_declaration=True, encoding="UTF-8")
    _audit(
        actor=actor, key=key, format="xades", level="B-B", content=xml, signed=signed, source=source
    )
    return signed


# --- JSON (JWS) -------------------------------------------------------------------


def sign_jws(
    *, actor: Any, key: SigningKey, payload: dict, source: str = "cli", audit: bool = True
) -> str:
    """A compact JWS over the RFC 8785 canonical JSON of ``payload``: the envelope signature.

    Header: ``alg`` (RS256 for RSA, ES256/ES384/ES512 by curve), ``x5c``
    (the certificate then its issuers, base64 DER), ``kid`` (the
    certificate's SHA-256 fingerprint, hex) and ``x5t#S256`` (the same,
    base64url). A receiver that re-canonicalises the payload gets the
    signed bytes back exactly.
    """
    if not isinstance(payload, dict):
        raise _not_a("json")
    try:
        canonical = canonical_json(payload)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise SigningRefused(
            "not_canonical_json",
            f"Nội dung không biểu diễn được dưới dạng JSON chuẩn hóa (RFC 8785): {exc}",
            f"The payload cannot be written as canonical JSON (RFC 8785): {exc}",
        ) from exc
    _check_size(canonical, MAX_JSON_BYTES, "JSON")
    _check_state(key, _key_state(key))
    alg, jwk, header = _jws_signer(key)
    token = jws.serialize_compact(header, canonical, jwk, registry=_registry(alg))
    if not audit:
        # The exchange's envelopes and receipts: each goes into the message log
        # (exchange/log.py), a hash chain that records more than an audit row would.
        return token
    _audit(
        actor=actor,
        key=key,
        format="jws",
        level=alg,
        content=canonical,
        signed=token.encode("ascii"),
        source=source,
    )
    return token


# The integers RFC 8785 writes (those an IEEE 754 double holds exactly).
_SAFE_INTEGER = 2**53 - 1


def canonical_json(payload: Any) -> bytes:
    """The RFC 8785 canonical form of ``payload``, as UTF-8 bytes.

    What the exchange signs (envelopes, receipts) holds only strings, integers,
    booleans, null, arrays and objects. For such a value RFC 8785 writes exactly
    what ``json.dumps`` writes with sorted keys, no spaces and no ASCII escaping
    (the same escapes, in lower-case hex), and the C encoder does it ten times
    faster than ``rfc8785`` (2 ms for a receipt naming 100 envelopes). Anything
    else -- a float, an integer beyond 2^53, a key that is not a string or holds
    a character outside the Basic Multilingual Plane (RFC 8785 sorts by UTF-16
    code units, Python by code points), a lone surrogate, a subclass -- goes
    to ``rfc8785``, which writes or refuses it by the RFC.
    """
    if _plain(payload):
        try:
            return json.dumps(
                payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True
            ).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: rfc8785 refuses it
    return rfc8785.dumps(payload)


def _plain(value: Any) -> bool:
    """Whether ``value`` holds nothing that json.dumps would write otherwise than RFC 8785."""
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if -_SAFE_INTEGER <= item <= _SAFE_INTEGER:
                continue
            return False
        if kind is dict:
            for name in item:
                if type(name) is not str or not (name.isascii() or max(name) <= "\uffff"):
                    return False
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
        else:
            return False
    return True


# The exchange signs every envelope and receipt: the decrypted key, its JWK and
# the header (x5c) are kept per process for this long after they were loaded,
# under the key's row and certificate fingerprint.
PREPARED_KEY_SECONDS = 60.0
_prepared: dict[int, tuple[str, float, tuple[str, Any, dict[str, Any]]]] = {}
_prepared_lock = threading.Lock()
_registries: dict[str, Any] = {}

# Whether the key may sign (enabled; its certificate's validity, checked against the
# clock at every signature) is read from the database and kept per process for
# KEY_STATE_SECONDS. A change saved in this process -- a key disabled or enabled
# (trust.services.switch_enabled sends signals.signing_key_changed), saved or
# deleted -- is forgotten at once and again when its transaction commits; one made
# by another process counts here within KEY_STATE_SECONDS.
KEY_STATE_SECONDS = 1.0
_states: dict[int, tuple[float, tuple[bool, dt.datetime | None, dt.datetime | None]]] = {}
_clock = time.monotonic


def _key_state(key: SigningKey) -> tuple[bool, dt.datetime | None, dt.datetime | None]:
    """(enabled, not before, not after) of the key's row, read at most every KEY_STATE_SECONDS."""
    now = _clock()
    with _prepared_lock:
        hit = _states.get(key.pk)
    if hit is not None and hit[0] > now:
        return hit[1]
    row = SigningKey.objects.filter(pk=key.pk).values_list("is_enabled", "not_before", "not_after")
    state = row.first() or (False, None, None)
    with _prepared_lock:
        _states[key.pk] = (now + KEY_STATE_SECONDS, state)
    return state


def forget_key_state(*args: Any, **kwargs: Any) -> None:
    """Read every key's state again at its next signature, now and once the current
    transaction commits (a signal receiver too, hence the arguments)."""
    with _prepared_lock:
        _states.clear()
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(_forget_states)


def _forget_states() -> None:
    with _prepared_lock:
        _states.clear()


post_save.connect(forget_key_state, sender=SigningKey, dispatch_uid="signing-key-state-save")
post_delete.connect(forget_key_state, sender=SigningKey, dispatch_uid="signing-key-state-delete")
signals.signing_key_changed.connect(forget_key_state, dispatch_uid="signing-key-state-switch")


def _registry(alg: str):
    registry = _registries.get(alg)
    if registry is None:
        registry = _registries[alg] = jws_registry([alg])
    return registry


def _jws_signer(key: SigningKey) -> tuple[str, Any, dict[str, Any]]:
    now = time.monotonic()
    with _prepared_lock:
        hit = _prepared.get(key.pk)
    if hit is not None and hit[0] == key.fingerprint_sha256 and hit[1] > now:
        return hit[2]
    certificate = keystore.certificate(key)
    x5c = [
        base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii")
        for c in [certificate, *keystore.chain(key)]
    ]
    alg = jws_algorithm(certificate)
    private_key = keystore.load_private_key(key)
    jwk = (RSAKey if alg == "RS256" else ECKey).import_key(private_key)
    header = {
        "alg": alg,
        "kid": key.fingerprint_sha256,
        "x5c": x5c,
        "x5t#S256": base64.urlsafe_b64encode(bytes.fromhex(key.fingerprint_sha256))
        .rstrip(b"=")
        .decode("ascii"),
    }
    prepared = (alg, jwk, header)
    with _prepared_lock:
        _prepared[key.pk] = (key.fingerprint_sha256, now + PREPARED_KEY_SECONDS, prepared)
    return prepared


def forget_prepared_keys() -> None:
    with _prepared_lock:
        _prepared.clear()
        _states.clear()


def jws_registry(algorithms=JWS_ALGORITHMS):
    """A joserfc registry for envelopes: these algorithms only, sizes that admit an x5c chain.

    Pass it to ``jws.deserialize_compact(..., registry=jws_registry())``.
    """
    registry = jws.JWSRegistry(algorithms=list(algorithms))
    registry.max_header_length = JWS_MAX_HEADER_LENGTH
    registry.max_payload_length = JWS_MAX_PAYLOAD_LENGTH
    registry.max_signature_length = JWS_MAX_SIGNATURE_LENGTH
    return registry


def jws_algorithm(certificate: x509.Certificate) -> str:
    """The JWS ``alg`` a key of this certificate signs with."""
    public = certificate.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        return "RS256"
    if isinstance(public, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}[public.curve.name]
    raise ValueError("only RSA and ECDSA keys sign")


# --- Shared -------------------------------------------------------------------------


def _check_size(content: bytes, limit: int, what: str) -> None:
    if len(content) > limit:
        mib = limit // (1024 * 1024)
        raise SigningRefused(
            "too_large",
            f"Tệp {what} có {len(content)} byte, vượt giới hạn ký {mib} MiB.",
            f"The {what} has {len(content)} bytes, over the {mib} MiB signing limit.",
        )


def _check_usable(key: SigningKey) -> None:
    """Only an enabled key whose certificate is valid now signs.

    Read again from the database: the caller's instance may predate a disable.
    """
    stored = SigningKey.objects.filter(pk=key.pk).values_list(
        "is_enabled", "not_before", "not_after"
    )
    _check_state(key, stored.first() or (False, None, None))


def _check_state(
    key: SigningKey, state: tuple[bool, dt.datetime | None, dt.datetime | None]
) -> None:
    """SigningRefused unless ``state`` (enabled, not before, not after) lets the key sign now."""
    enabled, not_before, not_after = state
    if not enabled:
        raise SigningRefused(
            "key_disabled",
            f"Khóa «{key.name}» đã bị vô hiệu hóa.",
            f"The key “{key.name}” is disabled.",
        )
    now = timezone.now()
    if now > not_after:
        day = timezone.localtime(not_after).strftime("%d/%m/%Y")
        raise SigningRefused(
            "key_expired",
            f"Chứng thư số của khóa «{key.name}» đã hết hạn ngày {day}.",
            f"The certificate of the key “{key.name}” expired on {day}.",
        )
    if now < not_before:
        day = timezone.localtime(not_before).strftime("%d/%m/%Y")
        raise SigningRefused(
            "key_not_yet_valid",
            f"Chứng thư số của khóa «{key.name}» chỉ có hiệu lực từ ngày {day}.",
            f"The certificate of the key “{key.name}” is valid only from {day}.",
        )


def _not_a(what: str) -> SigningRefused:
    names = {
        "pdf": ("PDF", "PDF"),
        "xml": ("XML", "XML"),
        "json": ("đối tượng JSON", "JSON object"),
    }
    vi, en = names[what]
    return SigningRefused(
        f"not_{what}", f"Nội dung không phải là {vi} hợp lệ.", f"The content is not a valid {en}."
    )


def _audit(
    *,
    actor: Any,
    key: SigningKey,
    format: str,
    level: str,
    content: bytes,
    signed: bytes,
    source: str,
    extra: dict | None = None,
) -> None:
    # After the signature, in a transaction of its own: a timestamp or an
    # OCSP request must not hold the database's write lock. If this fails
    # the signed bytes are not returned, so no signature goes unrecorded.
    with transaction.atomic():
        audit.record(
            actor=actor,
            action=AuditRecord.Action.CREATE,
            object_type=SIGNATURE_OBJECT_TYPE,
            object_id=str(key.pk),
            object_repr=f"{format.upper()} {level} — {key.name}"[:255],
            changes={
                "format": format,
                "level": level,
                "key": key.pk,
                "key_fingerprint_sha256": key.fingerprint_sha256,
                "input_sha256": hashlib.sha256(content).hexdigest(),
                "input_bytes": len(content),
                "output_sha256": hashlib.sha256(signed).hexdigest(),
                "signed_at": timezone.now().astimezone(dt.UTC).isoformat(),
                **(extra or {}),
            },
            source=source,
        )


# --- For the other PDF signers of the node (lienthong.signing: users' remote keys) ---


def next_field_number(writer) -> int:
    """N of the next free ``SignatureN`` field of the document ``writer`` updates."""
    return _next_field_number(writer)


def visible_stamp(writer, field_name: str, stamp: dict, signer: str):
    """The new field and stamp style of a visible signature, ``stamp`` as in
    ``sign_pdf``; SigningRefused when it names no page of the document or does not fit."""
    return _visible_stamp(writer, field_name, stamp, signer)
