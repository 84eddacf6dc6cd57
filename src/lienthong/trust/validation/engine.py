"""Signature validation proper: PDF (PAdES), CMS/CAdES and XML (XAdES).

This module runs inside the sandbox process (see sandbox.py) and must not touch
Django or the database: everything it needs — trust anchors, helper
certificates, the hierarchy of each trusted certificate, the policy, cached
revocation answers — arrives in the ``job`` dictionary, and everything it
learns leaves in the returned dictionary.

pyHanko and pyhanko-certvalidator do the cryptography, path building and
revocation checking; this module turns their findings into the platform's
report (report.py) with ETSI EN 319 102-1 indications.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import hashlib
import io
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from asn1crypto import cms, crl, ocsp, pem, x509

from lienthong.trust.validation import certificates
from lienthong.trust.validation.report import (
    Indication,
    Reason,
    SignatureResult,
    ValidationReport,
    overall,
)

if TYPE_CHECKING:
    from pyhanko_certvalidator import ValidationContext


@dataclass(frozen=True)
class Policy:
    revocation_mode: str = "soft-fail"  # soft-fail | hard-fail | require
    allow_fetching: bool = True
    timeout_seconds: float = 30.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "revocation_mode": self.revocation_mode,
            "allow_fetching": self.allow_fetching,
            "timeout_seconds": self.timeout_seconds,
        }


class Unreadable(Exception):
    """The file is not what it claims to be, or is damaged."""


class ExpandsTooMuch(Exception):
    """A stream of the file decodes to more than pyHanko's decode limits allow."""


def run(job: dict[str, Any]) -> dict[str, Any]:
    """Validate ``job["data"]``; return the report and the revocation answers gathered.

    Cached revocation answers come first: pyhanko-certvalidator fetches whenever
    fetching is allowed, even when it holds a fresh answer, so a pass without
    fetching that *requires* revocation information for every certificate runs
    first. Only when that pass does not settle everything does the requested
    policy run, fetching what is missing.
    """
    policy = Policy(**job["policy"])
    if policy.allow_fetching and (job.get("known_ocsp") or job.get("known_crl")):
        offline = dataclasses.replace(policy, allow_fetching=False, revocation_mode="require")
        outcome = _run_with(job, offline)
        if outcome["report"]["indication"] == Indication.TOTAL_PASSED:
            outcome["report"]["policy"] = {**policy.as_dict(), "revocation_source": "cache"}
            return outcome
    return _run_with(job, policy)


def _run_with(job: dict[str, Any], policy: Policy) -> dict[str, Any]:
    context = _context(job, policy)
    data: bytes = job["data"]
    kind = sniff(data)
    signatures: list[SignatureResult] = []
    reasons: list[Reason] = []
    try:
        if kind == "pdf":
            signatures = asyncio.run(
                asyncio.wait_for(_validate_pdf(data, context, job), policy.timeout_seconds)
            )
        elif kind == "cms":
            signatures = asyncio.run(
                asyncio.wait_for(
                    _validate_cms(data, job.get("detached"), context, job), policy.timeout_seconds
                )
            )
        elif kind == "xml":
            from lienthong.trust.validation import xades

            signatures = asyncio.run(
                asyncio.wait_for(xades.validate(data, context, job), policy.timeout_seconds)
            )
        else:
            reasons.append(Reason("unsupported_format"))
    except TimeoutError:
        reasons.append(Reason("too_slow"))
        indication, sub = Indication.INDETERMINATE, "GENERIC"
    except Unreadable as exc:
        reasons.append(Reason("unreadable", str(exc)[:300]))
    except ExpandsTooMuch as exc:
        # A compression bomb, stopped by pyHanko's decode limits (0.38) before
        # the worker's memory limit had to.
        reasons.append(Reason("expands_too_much", str(exc)[:300]))
        indication, sub = Indication.INDETERMINATE, "GENERIC"
    except MemoryError:
        reasons.append(Reason("too_much_memory"))
        indication, sub = Indication.INDETERMINATE, "GENERIC"
    if signatures or not reasons or reasons[0].code not in _STOPPED:
        indication, sub = overall(signatures)
    if not signatures and not reasons:
        reasons.append(Reason("no_signature"))
    report = ValidationReport(
        document_name=job["filename"],
        document_sha256=hashlib.sha256(data).hexdigest(),
        document_format=kind,
        validated_at=dt.datetime.now(dt.UTC).isoformat(),
        policy=policy.as_dict(),
        signatures=signatures,
        indication=str(indication),
        sub_indication=sub,
        reasons=reasons,
    )
    return {
        "report": report.as_dict(),
        "revinfo": {
            "ocsp": [r.dump() for r in context.ocsps],
            "crl": [c.dump() for c in context.crls],
        },
    }


_STOPPED = {"too_slow", "too_much_memory", "expands_too_much"}


def sniff(data: bytes) -> str:
    """What the bytes are, whatever the file name says."""
    if _is_jws(data):
        return "jws"
    head = data[:1024].lstrip()
    if head.startswith(b"%PDF-") or b"%PDF-" in data[:1024]:
        return "pdf"
    if head.startswith(b"-----BEGIN PKCS7") or head.startswith(b"-----BEGIN CMS"):
        return "cms"
    if head[:1] == b"\x30":
        return "cms"
    if head.startswith((b"<?xml", b"<", b"\xef\xbb\xbf<")):
        return "xml"
    return "unknown"


# Larger JSON is not parsed to be recognised: a JWS that size is refused anyway.
_JWS_JSON_SNIFF_BYTES = 4 * 1024 * 1024


def _is_jws(data: bytes) -> bool:
    """A compact JWS (whose header is a JSON object with "alg"), or a JWS JSON serialisation.

    JSON that is not a JWS (without "protected" and "signature") is not one.
    """
    import base64
    import json
    import re

    compact = re.fullmatch(rb"\s*(eyJ[A-Za-z0-9_-]*)\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\s*", data)
    if compact is not None:
        header = compact.group(1)
        try:
            decoded = json.loads(base64.urlsafe_b64decode(header + b"=" * (-len(header) % 4)))
        except (ValueError, RecursionError):
            return False
        return isinstance(decoded, dict) and "alg" in decoded
    text = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith(b"{"):
        return False
    if len(data) > _JWS_JSON_SNIFF_BYTES:
        return b'"protected"' in data and b'"signature"' in data
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return False
    if not isinstance(document, dict):
        return False
    members = document.get("signatures")
    if isinstance(members, list):
        return bool(members) and all(
            isinstance(m, dict) and isinstance(m.get("protected"), str) for m in members
        )
    return isinstance(document.get("protected"), str) and isinstance(document.get("signature"), str)


@functools.lru_cache(maxsize=1024)
def _certificate(der: bytes) -> x509.Certificate:
    """Parsed once per worker: asn1crypto caches the costly name normalisation
    and hashes on the object, which later documents then reuse."""
    return x509.Certificate.load(der)


@functools.lru_cache(maxsize=1024)
def _ocsp(der: bytes) -> ocsp.OCSPResponse:
    """Cached answers come back with every document: parsed once per worker."""
    return ocsp.OCSPResponse.load(der)


@functools.lru_cache(maxsize=256)
def _crl(der: bytes) -> crl.CertificateList:
    return crl.CertificateList.load(der)


def _context(job: dict[str, Any], policy: Policy) -> ValidationContext:
    from pyhanko_certvalidator import ValidationContext

    return ValidationContext(
        trust_roots=[_certificate(der) for der in job["anchors"]],
        other_certs=[_certificate(der) for der in job["others"]],
        allow_fetching=policy.allow_fetching,
        revocation_mode=policy.revocation_mode,
        ocsps=[_ocsp(der) for der in job.get("known_ocsp", [])],
        crls=[_crl(der) for der in job.get("known_crl", [])],
        time_tolerance=dt.timedelta(seconds=30),
    )


def _key_usage():
    from pyhanko.sign.validation.settings import KeyUsageConstraints

    # Vietnamese signing certificates carry nonRepudiation, digitalSignature or both.
    return KeyUsageConstraints(
        key_usage={"non_repudiation", "digital_signature"}, match_all_key_usages=False
    )


# --- PDF (PAdES) -------------------------------------------------------------


# What pyHanko's reader raises on a damaged PDF besides PdfError: a corrupt
# Flate stream (zlib.error), an object of another type than the structure
# expects (AttributeError, TypeError, KeyError), a malformed number
# (decimal.InvalidOperation, an ArithmeticError), an unknown stream filter
# (NotImplementedError, a RuntimeError, as RecursionError is), its own
# assertions on the cross-reference stream (AssertionError).
_PDF_DAMAGE = (
    ValueError,
    KeyError,
    TypeError,
    IndexError,
    AttributeError,
    ArithmeticError,
    AssertionError,
    RuntimeError,
    zlib.error,
)


async def _validate_pdf(data: bytes, context: ValidationContext, job) -> list[SignatureResult]:
    from pyhanko.pdf_utils.misc import PdfDecodeLimitError, PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation.pdf_embedded import async_validate_pdf_signature

    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        embedded = list(reader.embedded_regular_signatures)
    except PdfDecodeLimitError as exc:
        raise ExpandsTooMuch(str(exc)) from exc
    except (PdfError, *_PDF_DAMAGE) as exc:
        raise Unreadable(f"{type(exc).__name__}: {exc}") from exc
    results = []
    for index, signature in enumerate(embedded, start=1):
        try:
            status = await async_validate_pdf_signature(
                signature,
                signer_validation_context=context,
                ts_validation_context=context,
                key_usage_settings=_key_usage(),
            )
        except PdfDecodeLimitError as exc:
            raise ExpandsTooMuch(str(exc)) from exc
        except (PdfError, *_PDF_DAMAGE) as exc:
            results.append(_broken(index, "PAdES", exc, field_name=str(signature.field_name)))
            continue
        result = _from_status(
            index, "PAdES", status, job, context, await _chain_failure(status, context)
        )
        # A plain str: pyHanko's string object holds on to the whole parsed
        # document, which copying or pickling the report would then drag along.
        result.field_name = str(signature.field_name)
        _apply_pdf_modifications(result, status)
        _residual(result, status)
        results.append(result)
    return results


def _apply_pdf_modifications(result: SignatureResult, status) -> None:
    from pyhanko.sign.diff_analysis import ModificationLevel
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    if status.coverage == SignatureCoverageLevel.ENTIRE_FILE:
        result.coverage = "entire_document"
        result.modified_after_signing = False
        return
    if status.coverage == SignatureCoverageLevel.ENTIRE_REVISION:
        result.coverage = "entire_revision"
    else:
        result.coverage = "partial"
    level = status.modification_level
    # Validation data (DSS) and document timestamps added for B-LT/B-LTA are
    # expected additions, not changes to what was signed.
    harmless = level in (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES)
    result.modified_after_signing = not harmless
    if harmless:
        return
    result.reasons.append(Reason("modified_after_signing", level.name if level else ""))
    if not status.docmdp_ok and result.indication == Indication.TOTAL_PASSED:
        result.indication = Indication.INDETERMINATE
        result.sub_indication = "SIG_CONSTRAINTS_FAILURE"


# --- CMS / CAdES (.p7s) -------------------------------------------------------


# What asn1crypto raises, lazily, on damaged DER: besides ValueError, an
# unexpected universal type where a value was expected ("'Real' object has no
# attribute 'native'"), lengths and numbers out of range.
_ASN1_DAMAGE = (ValueError, TypeError, KeyError, AttributeError, IndexError, ArithmeticError)


def _load_cms(data: bytes) -> cms.SignedData:
    try:
        if pem.detect(data):
            _, _, data = pem.unarmor(data)
        info = cms.ContentInfo.load(data)
        if info["content_type"].native != "signed_data":
            raise Unreadable("not a CMS SignedData structure")
        signed = info["content"]
        signed.native  # noqa: B018  (parse the whole structure now, not half-way later)
        return signed
    except _ASN1_DAMAGE as exc:
        raise Unreadable(f"{type(exc).__name__}: {exc}") from exc


async def _validate_cms(
    data: bytes, detached: bytes | None, context: ValidationContext, job
) -> list[SignatureResult]:
    from pyhanko.sign.validation.generic_cms import (
        async_validate_cms_signature,
        async_validate_detached_cms,
    )
    from pyhanko.sign.validation.status import StandardCMSSignatureStatus

    signed = _load_cms(data)
    attached = signed["encap_content_info"]["content"].native is not None
    if not attached and detached is None:
        return [
            SignatureResult(
                index=1,
                format="CAdES",
                indication=Indication.INDETERMINATE,
                sub_indication="SIGNED_DATA_NOT_FOUND",
                reasons=[Reason("detached_data_required")],
                signer=None,
            )
        ]
    results = []
    for index, signer_info in enumerate(signed["signer_infos"], start=1):
        one = signed.copy()
        one["signer_infos"] = cms.SignerInfos([signer_info])
        try:
            if attached:
                status = await async_validate_cms_signature(
                    one,
                    status_cls=StandardCMSSignatureStatus,
                    validation_context=context,
                    key_usage_settings=_key_usage(),
                )
            else:
                status = await async_validate_detached_cms(
                    detached,
                    one,
                    signer_validation_context=context,
                    ts_validation_context=context,
                    key_usage_settings=_key_usage(),
                )
        except _ASN1_DAMAGE as exc:
            results.append(_broken(index, "CAdES", exc))
            continue
        result = _from_status(
            index, "CAdES", status, job, context, await _chain_failure(status, context)
        )
        _residual(result, status)
        results.append(result)
    return results


# --- From pyHanko's status to our report ---------------------------------------


def _broken(index: int, fmt: str, exc: Exception, field_name: str | None = None) -> SignatureResult:
    return SignatureResult(
        index=index,
        format=fmt,
        indication=Indication.TOTAL_FAILED,
        sub_indication="FORMAT_FAILURE",
        reasons=[Reason("unreadable", f"{type(exc).__name__}: {exc}"[:300])],
        signer=None,
        field_name=field_name,
    )


def _hierarchy(path_certs: list[x509.Certificate], job) -> str | None:
    """The hierarchy the signer belongs to: that of its issuing CA when the trust
    list knows it (a government CA reached through a cross-certificate is still
    government), else that of the root the path ends at."""
    known: dict[str, str] = job["hierarchies"]
    for certificate in reversed(path_certs[:-1]):
        found = known.get(certificates.fingerprint(certificate))
        if found:
            return found
    return None


async def _chain_failure(status, context: ValidationContext) -> str | None:
    """Why a chain that reaches a trusted root still failed, when pyHanko does not say.

    pyHanko files every path-validation error without a sub-indication of its
    own under CERTIFICATE_CHAIN_GENERAL_FAILURE, the missing revocation status
    (certvalidator's InsufficientRevinfoError) included, which ETSI EN 319
    102-1 calls TRY_LATER. Only then is the signer's path validated once more,
    with the same context (its answers and its cache), to learn the cause.
    """
    from pyhanko_certvalidator import CertificateValidator
    from pyhanko_certvalidator import errors as cv_errors

    problem = status.trust_problem_indic
    if (
        problem is None
        or problem.standard_name != "CERTIFICATE_CHAIN_GENERAL_FAILURE"
        or status.validation_path is None
    ):
        return None
    path = list(status.validation_path)
    validator = CertificateValidator(
        status.signing_cert,
        intermediate_certs=[c for c in path if c != status.signing_cert],
        validation_context=context,
    )
    try:
        await validator.async_validate_path()
    except cv_errors.InsufficientRevinfoError:
        return "TRY_LATER"
    except Exception:  # any other cause keeps pyHanko's general verdict
        return None
    return None


def _from_status(
    index: int, fmt: str, status, job, context: ValidationContext, chain_failure: str | None = None
) -> SignatureResult:
    signer_cert = status.signing_cert
    path = list(status.validation_path) if status.validation_path is not None else [signer_cert]
    result = SignatureResult(
        index=index,
        format=fmt,
        indication=Indication.TOTAL_PASSED,
        sub_indication=None,
        reasons=[],
        signer=certificates.describe(signer_cert),
        chain=[certificates.describe(c) for c in reversed(path)],
        hierarchy=_hierarchy(path, job) if status.validation_path is not None else None,
        digest_algorithm=status.md_algorithm,
        signature_algorithm=status.pkcs7_signature_mechanism,
    )
    if status.signer_reported_dt is not None:
        result.claimed_signing_time = status.signer_reported_dt.isoformat()
    timestamp = status.timestamp_validity
    if timestamp is not None:
        result.timestamp = {
            "time": timestamp.timestamp.isoformat(),
            "authority": timestamp.signing_cert.subject.native.get("common_name")
            or timestamp.signing_cert.subject.human_friendly,
            "valid": bool(timestamp.intact and timestamp.valid and timestamp.trusted),
        }
        if result.timestamp["valid"]:
            result.best_signature_time = timestamp.timestamp.isoformat()
        else:
            result.reasons.append(Reason("timestamp_invalid"))
    result.revocation = _revocation(status, job, context)
    _decide(result, status, path, chain_failure)
    return result


def answered(certificate: x509.Certificate, context: ValidationContext) -> dict[str, Any]:
    """The revocation status of a certificate whose path validated: "good" when an
    OCSP response or a CRL about it was at hand, else "not_available" — what a
    soft-fail policy lets pass when the CA could not be asked."""
    for response in context.ocsps:
        try:
            for single in response.basic_ocsp_response["tbs_response_data"]["responses"]:
                cert_id = single["cert_id"]
                if cert_id["serial_number"].native != certificate.serial_number:
                    continue
                algorithm = cert_id["hash_algorithm"]["algorithm"].native
                issuer_hash = hashlib.new(algorithm, certificate.issuer.dump()).digest()
                if cert_id["issuer_name_hash"].native == issuer_hash:
                    return {"status": "good"}
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    for revocation_list in context.crls:
        try:
            if revocation_list.issuer == certificate.issuer:
                return {"status": "good"}
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return {"status": "not_available"}


def _revocation(status, job, context: ValidationContext) -> dict[str, Any]:
    details = status.revocation_details
    if details is not None:
        return {
            "status": "revoked",
            "revoked_at": details.revocation_date.isoformat(),
            "reason": details.revocation_reason.native,
            "ca_revoked": details.ca_revoked,
        }
    if status.validation_path is None:
        return {"status": "not_checked"}
    if status.trust_problem_indic is not None:
        return {"status": "unknown"}
    return answered(status.signing_cert, context)


def _decide(
    result: SignatureResult, status, path: list[x509.Certificate], chain_failure: str | None
) -> None:
    """Set the ETSI indication, most severe finding first."""

    def verdict(indication: Indication, sub: str, *reasons: Reason) -> None:
        result.indication, result.sub_indication = indication, sub
        result.reasons.extend(reasons)

    if not status.intact:
        return verdict(Indication.TOTAL_FAILED, "HASH_FAILURE")
    if (status.md_algorithm or "").lower() in certificates.WEAK_DIGESTS:
        return verdict(
            Indication.INDETERMINATE, "CRYPTO_CONSTRAINTS_FAILURE", Reason("weak_digest")
        )
    weak = [c for c in path if certificates.key_is_weak(c)]
    if weak:
        return verdict(
            Indication.INDETERMINATE,
            "CRYPTO_CONSTRAINTS_FAILURE",
            Reason("weak_key", certificates.key_description(weak[0])),
        )
    if not status.valid:
        return verdict(Indication.TOTAL_FAILED, "SIG_CRYPTO_FAILURE")
    revoked_later = _revoked_after_best_time(result, status)
    if (
        status.revocation_details is not None
        and not status.revocation_details.ca_revoked
        and not revoked_later
    ):
        return verdict(Indication.TOTAL_FAILED, "REVOKED")
    best_time = (
        dt.datetime.fromisoformat(result.best_signature_time)
        if result.best_signature_time
        else dt.datetime.now(dt.UTC)
    )
    if status.signing_cert.not_valid_before > best_time:
        # ETSI EN 319 102-1: the best signature time lies before the signer's
        # certificate became valid, so the signature cannot be valid.
        return verdict(Indication.TOTAL_FAILED, "NOT_YET_VALID")
    problem = status.trust_problem_indic
    if revoked_later and problem is not None and problem.standard_name in _REVOCATION_PROBLEMS:
        problem = None  # the revocation came after the proven signing time
    if problem is not None:
        name = chain_failure or problem.standard_name
        indication = (
            Indication.TOTAL_FAILED if problem.status.name == "FAILED" else Indication.INDETERMINATE
        )
        reasons = []
        # pyHanko also files a path that does reach a trusted root, but could not
        # be validated (no revocation answer under hard-fail, for one), under
        # CERTIFICATE_CHAIN_GENERAL_FAILURE: that is no untrusted root.
        if name == "NO_CERTIFICATE_CHAIN_FOUND" or (
            name == "CERTIFICATE_CHAIN_GENERAL_FAILURE" and status.validation_path is None
        ):
            reasons.append(Reason("untrusted_root"))
        elif name == "TRY_LATER":
            reasons.append(Reason("revocation_unknown"))
        return verdict(indication, name, *reasons)
    return None


_REVOCATION_PROBLEMS = {"REVOKED", "REVOKED_NO_POE", "GENERIC"}


def _revoked_after_best_time(result: SignatureResult, status) -> bool:
    """True when a trusted signature timestamp predates the signer's revocation.

    ETSI EN 319 102-1 § 5.5.4: the timestamp is proof that the signature
    existed while the certificate was still good, so a later revocation does
    not invalidate it (the report still shows the revocation and its date).
    """
    details = status.revocation_details
    if details is None or details.ca_revoked or not result.best_signature_time:
        return False
    return details.revocation_date > dt.datetime.fromisoformat(result.best_signature_time)


def _residual(result: SignatureResult, status) -> None:
    """pyHanko's own verdict has the last word: anything it rejects that the
    checks above did not name (an invalid timestamp, a seed-value violation)
    cannot pass — except the revocation already judged by its date above."""
    if _revoked_after_best_time(result, status):
        return
    if result.indication == Indication.TOTAL_PASSED and not status.bottom_line:
        result.indication, result.sub_indication = Indication.INDETERMINATE, "GENERIC"
