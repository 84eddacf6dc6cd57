"""JWS — the exchange's envelope signature — validated in-process, and fast.

An envelope is a JWS over the RFC 8785 canonical JSON of a dict, its
protected header carrying ``alg`` (RS256, ES256, ES384 or ES512) and the
signer's chain in ``x5c``, leaf first (see ``signing.sign_jws``). Both
serialisations are read: compact (``a.b.c``, what ``sign_jws`` writes) and
flattened JSON (``{"protected", "payload", "signature"}``; a general JSON
serialisation with exactly one signature is read as flattened). Headers
outside the protected header are ignored: they are not signed.

Envelopes are small and bounded (``MAX_TOKEN_BYTES``, the limits of
``signing.jws_registry``), so unlike PDF or XML they are checked in the
calling process, without the sandbox: a receiving node verifies thousands of
them per second.

What makes that possible is a cache of chain validations. Building and
validating a path (with revocation) costs milliseconds, and every envelope of
an agency carries the same chain; so the outcome of path validation is kept
in a small in-process LRU (``CHAIN_CACHE_SIZE`` entries) under

    (leaf fingerprint, x5c[1:] as sent, trust-list version, policy)

(the same base64 text is the same certificate) until the earliest of: ``CHAIN_CACHE_SECONDS`` (5 minutes) after it was
computed, the nextUpdate of the OCSP responses and CRLs about the path's
certificates, and the notAfter of every certificate in the path (a
not-yet-valid leaf: its notBefore). An outcome that may change soon — the
revocation status could not be obtained, the validation timed out — is kept
``RETRY_CACHE_SECONDS`` only, so a CA's unreachable responder is not asked
again for every envelope. The signer's certificate, its description for the
report and its public key are cached too, under the x5c[0] text, and the
decoded protected header under its segment as sent. A warm
verification is then: parse the header, one signature verification, the
canonical-JSON check and a dictionary lookup — no database query, no
certificate parsing. ``statistics()`` counts path validations and cache hits;
``clear_caches()`` forgets everything.

The trust-list version is a digest of the enabled rows of the trust list
(fingerprint, kind, hierarchy), read from the database at most every
``TRUST_LIST_RECHECK_SECONDS`` (2 s) per process. Any change — a root or
intermediate disabled, enabled, added or deleted, by the admin, the
``lienthong trust`` command or another process of the node — changes the
version, so cached outcomes stop being used within those 2 seconds in every
process. Signals (trust/signals.py) make the next verification re-read it at
once in the process that saved a trust-list row; they are only a shortcut,
since ``services.set_enabled`` writes with ``QuerySet.update`` (no signal) and
other processes never see them. A validation at a given time (``at``) is
never cached. Revocation itself is seen when the answer the outcome relied on
reaches its nextUpdate, as for the other formats.

Call ``verify_jws`` from synchronous code (in an async view: through
``sync_to_async``), like the rest of the ORM.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import dataclasses
import datetime as dt
import hashlib
import json
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import rfc8785
import structlog
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from django.db import DatabaseError
from joserfc import errors as jose_errors
from joserfc import jws
from joserfc.jwk import ECKey, RSAKey

from lienthong.trust import revocation, selectors, signing
from lienthong.trust.models import TrustedCertificate
from lienthong.trust.validation import certificates
from lienthong.trust.validation.engine import Policy, _hierarchy, answered
from lienthong.trust.validation.report import (
    CertificateInfo,
    Indication,
    Reason,
    SignatureResult,
    ValidationReport,
)

if TYPE_CHECKING:
    from pyhanko_certvalidator import CertificateValidator, ValidationContext

logger = structlog.get_logger(__name__)

FORMAT = "JWS"
ALGORITHMS = signing.JWS_ALGORITHMS
# The registry's own limits, plus room for the JSON serialisation around them
# (member names, an unprotected header, whitespace).
MAX_TOKEN_BYTES = (
    signing.JWS_MAX_HEADER_LENGTH
    + signing.JWS_MAX_PAYLOAD_LENGTH
    + signing.JWS_MAX_SIGNATURE_LENGTH
    + 8 * 1024
)
MAX_CHAIN_CERTIFICATES = 10

CHAIN_CACHE_SIZE = 1024
CHAIN_CACHE_SECONDS = 300.0
RETRY_CACHE_SECONDS = 30.0
KEY_CACHE_SIZE = 1024
HEADER_CACHE_SIZE = 256
TRUST_LIST_RECHECK_SECONDS = 2.0

_DIGESTS = {"RS256": "sha256", "ES256": "sha256", "ES384": "sha384", "ES512": "sha512"}
_B64URL = re.compile(rb"[A-Za-z0-9_-]*")
_NOT_BMP = re.compile(rb"[\xf0-\xff]")  # lead bytes of 4-byte UTF-8 sequences

# The registry of sign_jws, except that unknown header parameters are ignored
# (RFC 7515 § 4: unless listed in "crit", which is still enforced).
_REGISTRY = signing.jws_registry()
_REGISTRY.strict_check_header = False

# The clock of the caches (monotonic; tests replace it).
_clock = time.monotonic


# --- Results -------------------------------------------------------------------------


def _result(
    indication: str,
    sub: str | None,
    *reasons: Reason,
    leaf: _Leaf | None = None,
    alg: str | None = None,
) -> SignatureResult:
    return SignatureResult(
        index=1,
        format=FORMAT,
        indication=str(indication),
        sub_indication=sub,
        reasons=list(reasons),
        signer=_copy(leaf.info) if leaf is not None else None,
        digest_algorithm=_DIGESTS.get(alg or ""),
        signature_algorithm=alg if alg in _DIGESTS else None,
    )


def _copy(info: CertificateInfo) -> CertificateInfo:
    # A copy of what the caches hold (cheaper than dataclasses.replace).
    return CertificateInfo(**{**info.__dict__, "identifiers": list(info.identifiers)})


class _Refusal(Exception):
    """Verification stops here, with this result."""

    def __init__(self, result: SignatureResult):
        self.result = result
        super().__init__(result.sub_indication)


def _unreadable(detail: str, **kwargs) -> _Refusal:
    return _Refusal(
        _result(Indication.TOTAL_FAILED, "FORMAT_FAILURE", Reason("unreadable", detail), **kwargs)
    )


# --- Parsing -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    header_segment: bytes
    payload_segment: bytes
    signature_segment: bytes
    header: dict[str, Any]


def _b64url(segment: bytes, what: str, *, decode: bool = True) -> bytes:
    if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise _unreadable(f"{what}: not base64url")
    if not decode:
        return b""
    return base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))


def _segments(data: bytes) -> tuple[bytes, bytes, bytes]:
    """(protected header, payload, signature) segments, whatever the serialisation."""
    text = data.strip()
    if text.startswith(b"\xef\xbb\xbf"):
        text = text[3:].lstrip()
    if not text.startswith(b"{"):
        parts = text.split(b".")
        if len(parts) != 3:
            raise _unreadable("not a JWS (compact: three base64url parts separated by dots)")
        return parts[0], parts[1], parts[2]
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise _unreadable(f"JSON: {exc}"[:300]) from exc
    if not isinstance(document, dict):
        raise _unreadable("not a JWS JSON serialisation")
    member = document
    if "signatures" in document:
        signatures = document["signatures"]
        if not isinstance(signatures, list) or len(signatures) != 1:
            raise _unreadable("a JWS with several signatures is not an envelope")
        member = signatures[0]
        if not isinstance(member, dict):
            raise _unreadable("not a JWS JSON serialisation")
    protected, signature = member.get("protected"), member.get("signature")
    payload = document.get("payload", "")
    if not all(isinstance(v, str) for v in (protected, signature, payload)):
        raise _unreadable("a JWS JSON serialisation needs protected, payload and signature strings")
    try:
        return protected.encode("ascii"), payload.encode("ascii"), signature.encode("ascii")
    except UnicodeEncodeError as exc:
        raise _unreadable("not base64url") from exc


def _parse(data: bytes) -> _Token:
    header_segment, payload_segment, signature_segment = _segments(data)
    for segment, limit, what in (
        (header_segment, signing.JWS_MAX_HEADER_LENGTH, "protected header"),
        (payload_segment, signing.JWS_MAX_PAYLOAD_LENGTH, "payload"),
        (signature_segment, signing.JWS_MAX_SIGNATURE_LENGTH, "signature"),
    ):
        if len(segment) > limit:
            raise _Refusal(
                _result(
                    Indication.INDETERMINATE,
                    "GENERIC",
                    Reason("too_large", f"{what} > {limit} bytes"),
                )
            )
    header = _header(header_segment)
    _b64url(signature_segment, "signature", decode=False)  # the payload: when decoded
    return _Token(header_segment, payload_segment, signature_segment, header)


# Decoded protected headers, keyed by their segment as sent: every envelope signed
# with one key carries the same header (alg, kid, x5c, x5t#S256), a few kilobytes
# of base64 and JSON to decode otherwise. The same bytes decode to the same header.
_headers: OrderedDict[bytes, dict[str, Any]] = OrderedDict()
_headers_lock = threading.Lock()


def _header(segment: bytes) -> dict[str, Any]:
    """The protected header, decoded (a shared dict: read it, do not change it)."""
    with _headers_lock:
        found = _headers.get(segment)
        if found is not None:
            _headers.move_to_end(segment)
            return found
    try:
        header = json.loads(_b64url(segment, "protected header"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise _unreadable(f"protected header: {exc}"[:300]) from exc
    if not isinstance(header, dict):
        raise _unreadable("protected header: not a JSON object")
    with _headers_lock:
        _headers[segment] = header
        while len(_headers) > HEADER_CACHE_SIZE:
            _headers.popitem(last=False)
    return header


def _x5c(header: dict[str, Any], alg: str) -> list[str]:
    """The x5c header's certificates, as sent (base64 text), leaf first."""
    x5c = header.get("x5c")
    if x5c is None or x5c == []:
        raise _Refusal(
            _result(
                Indication.INDETERMINATE,
                "NO_SIGNING_CERTIFICATE_FOUND",
                Reason("jws_no_certificate"),
                alg=alg,
            )
        )
    if not isinstance(x5c, list) or not all(isinstance(c, str) for c in x5c):
        raise _unreadable("x5c: not a list of base64 strings", alg=alg)
    if len(x5c) > MAX_CHAIN_CERTIFICATES:
        raise _unreadable(f"x5c: more than {MAX_CHAIN_CERTIFICATES} certificates", alg=alg)
    return x5c


def _der(text: str, what: str, **kwargs) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _unreadable(f"{what}: {exc}"[:300], **kwargs) from exc


# --- The signer's certificate and key (cached per certificate) -------------------------


@dataclass(frozen=True)
class _Leaf:
    fingerprint: str  # SHA-256 of the DER, hex
    certificate: asn1_x509.Certificate
    info: CertificateInfo
    key: RSAKey | ECKey | None
    algorithm: str | None  # the alg its key signs with
    thumbprints: dict[str, str]  # x5t#S256 and x5t, base64url without padding


# Keyed by the base64 text of x5c[0] as sent: a warm verification neither
# decodes nor hashes the certificate.
_leaves: OrderedDict[str, _Leaf] = OrderedDict()
_leaves_lock = threading.Lock()


def _leaf(text: str, alg: str) -> _Leaf:
    with _leaves_lock:
        found = _leaves.get(text)
        if found is not None:
            _leaves.move_to_end(text)
            return found
    der = _der(text, "x5c[0]", alg=alg)
    try:
        certificate = asn1_x509.Certificate.load(der)
        info = certificates.describe(certificate)
        parsed = x509.load_der_x509_certificate(der)
        try:
            algorithm = signing.jws_algorithm(parsed)
        except (ValueError, KeyError):  # not RSA, or a curve JWS does not name
            algorithm, key = None, None
        else:
            key = (RSAKey if algorithm == "RS256" else ECKey).import_key(parsed.public_key())
    except Exception as exc:  # asn1crypto, cryptography, joserfc: many kinds on bad DER
        raise _unreadable(f"x5c[0]: {type(exc).__name__}: {exc}"[:300], alg=alg) from exc
    digest = hashlib.sha256(der).digest()
    thumbprints = {
        "x5t#S256": _b64url_text(digest),
        "x5t": _b64url_text(hashlib.sha1(der).digest()),  # noqa: S324  (RFC 7515's thumbprint)
    }
    found = _Leaf(digest.hex(), certificate, info, key, algorithm, thumbprints)
    with _leaves_lock:
        _leaves[text] = found
        while len(_leaves) > KEY_CACHE_SIZE:
            _leaves.popitem(last=False)
    return found


def _b64url_text(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _check_thumbprints(header: dict[str, Any], leaf: _Leaf, alg: str) -> None:
    """x5t#S256 and x5t, when present, must name the certificate x5c[0] carries."""
    for name, expected in leaf.thumbprints.items():
        value = header.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or value.rstrip("=") != expected:
            raise _Refusal(
                _result(
                    Indication.TOTAL_FAILED,
                    "FORMAT_FAILURE",
                    Reason("jws_certificate_mismatch", name),
                    leaf=leaf,
                    alg=alg,
                )
            )


# --- Canonical JSON -------------------------------------------------------------------


class _Slow(Exception):
    """The payload holds something the fast check does not decide (floats, large numbers)."""


def _fast_int(text: str) -> int:
    # Integers of up to 15 digits are exact doubles, which RFC 8785 writes as
    # Python does; longer ones go to the reference implementation.
    if len(text.lstrip("-")) > 15:
        raise _Slow
    return int(text)


def _big_as_float(text: str) -> int | float:
    # RFC 8785 numbers are IEEE doubles: an integer beyond 15 digits is read
    # as the double it denotes, whose canonical form then decides.
    return int(text) if len(text.lstrip("-")) <= 15 else float(text)


def _fast_float(text: str) -> float:
    # Within [1e-4, 1e16) and not integral, Python's repr and ECMAScript's
    # Number-to-string (RFC 8785 § 3.2.2.3) both write the shortest digits
    # that round-trip, in plain decimal notation; elsewhere they differ.
    value = float(text)
    if value.is_integer() or not 1e-4 <= abs(value) < 1e16:
        raise _Slow
    return value


def _no_constant(text: str):
    raise ValueError(f"{text} is not JSON")


def canonical_problem(payload: bytes) -> str | None:
    """None when ``payload`` is the RFC 8785 canonical JSON of an object, else why not.

    Fast path: for objects without integers beyond 15 digits, integral or
    very large or small floats, or characters outside the Basic Multilingual
    Plane, Python's compact sorted ``json.dumps`` writes exactly the RFC 8785
    form (the same escapes and numbers, and key order by UTF-16 code units
    equals order by code points within the BMP); anything else is decided by
    the ``rfc8785`` package, several times slower.
    """
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8"
    fast = _NOT_BMP.search(payload) is None
    try:
        if fast:
            try:
                value = json.loads(
                    text,
                    parse_int=_fast_int,
                    parse_float=_fast_float,
                    parse_constant=_no_constant,
                )
            except _Slow:
                fast = False
        if not fast:
            value = json.loads(text, parse_int=_big_as_float, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        return f"not JSON: {exc}"[:200]
    if not isinstance(value, dict):
        return "not a JSON object"
    try:
        if fast:
            canonical = json.dumps(
                value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
            ).encode("utf-8")
        else:
            canonical = rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, ValueError, TypeError, RecursionError) as exc:
        # UnicodeEncodeError (a lone surrogate) is a ValueError.
        return f"no canonical form: {exc}"[:200]
    if canonical != payload:
        return "not in RFC 8785 canonical form"
    return None


# --- Chain validation (cached) ------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    indication: str
    sub_indication: str | None
    reasons: tuple[Reason, ...]
    chain: tuple[CertificateInfo, ...]  # leaf first
    hierarchy: str | None
    revocation: dict[str, Any]
    expires: float  # on _clock


_outcomes: OrderedDict[tuple, _Outcome] = OrderedDict()
_outcomes_lock = threading.Lock()
# "generation" counts invalidations, so that a version read while the list
# changed is not kept as current.
_trust = {"version": "", "checked": float("-inf"), "generation": 0}
_trust_lock = threading.Lock()
_statistics = {"chain_validations": 0, "chain_cache_hits": 0}


def trust_list_version() -> str:
    """A digest of the enabled trust list, re-read at most every TRUST_LIST_RECHECK_SECONDS."""
    now = _clock()
    if now - _trust["checked"] < TRUST_LIST_RECHECK_SECONDS:
        return _trust["version"]
    generation = _trust["generation"]
    rows = sorted(
        TrustedCertificate.objects.filter(is_enabled=True).values_list(
            "fingerprint_sha256", "kind", "hierarchy"
        )
    )
    version = hashlib.sha256(json.dumps(rows).encode("ascii")).hexdigest()
    with _trust_lock:
        if _trust["generation"] == generation:
            _trust["version"], _trust["checked"] = version, now
    return version


def trust_list_changed() -> None:
    """Make the next verification in this process re-read the trust list (signals.py)."""
    with _trust_lock:
        _trust["checked"] = float("-inf")
        _trust["generation"] += 1


def clear_caches() -> None:
    """Forget cached outcomes, keys, counters and the trust-list version (tests, operators)."""
    with _outcomes_lock:
        _outcomes.clear()
    with _leaves_lock:
        _leaves.clear()
    with _headers_lock:
        _headers.clear()
    for name in _statistics:
        _statistics[name] = 0
    trust_list_changed()


def statistics() -> dict[str, int]:
    """How many chains were validated and how many verifications the cache answered."""
    return {**_statistics, "cached_outcomes": len(_outcomes), "cached_keys": len(_leaves)}


def _run(coroutine):
    """Run ``coroutine`` to completion, also when called from inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _validate_path(validator: CertificateValidator, context: ValidationContext, timeout):
    try:
        return await asyncio.wait_for(validator.async_validate_usage(set()), timeout)
    finally:
        await context.aclose()


def _next_updates(path: list[asn1_x509.Certificate], context: ValidationContext):
    """nextUpdate of every OCSP response and CRL the context holds about a certificate of the path."""
    found = []
    pairs = list(zip(path[1:], path[:-1], strict=True))  # (certificate, its issuer)
    for response in context.ocsps:
        try:
            basic = response.basic_ocsp_response
            singles = basic["tbs_response_data"]["responses"]
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        for single in singles:
            cert_id = single["cert_id"]
            for certificate, issuer in pairs:
                if cert_id["serial_number"].native != certificate.serial_number:
                    continue
                algorithm = cert_id["hash_algorithm"]["algorithm"].native
                try:
                    key_hash = hashlib.new(algorithm, bytes(issuer.public_key["public_key"]))
                except (ValueError, TypeError):
                    continue
                matches = key_hash.digest() == cert_id["issuer_key_hash"].native
                if matches and single["next_update"].native is not None:
                    found.append(single["next_update"].native)
    for certificate_list in context.crls:
        tbs = certificate_list["tbs_cert_list"]
        about_path = any(tbs["issuer"] == certificate.issuer for certificate, _ in pairs)
        if about_path and tbs["next_update"].native is not None:
            found.append(tbs["next_update"].native)
    return found


def _expiry(ttl: float, moments: list[dt.datetime], *, now: dt.datetime, clock: float) -> float:
    """The clock reading at which an outcome stops being usable."""
    seconds = ttl
    for moment in moments:
        remaining = (moment - now).total_seconds()
        if remaining > 0:
            seconds = min(seconds, remaining)
    return clock + seconds


def _parse_intermediates(leaf: _Leaf, intermediates: list[str]) -> list[asn1_x509.Certificate]:
    others = []
    for number, text in enumerate(intermediates, start=1):
        der = _der(text, f"x5c[{number}]", leaf=leaf)
        try:
            certificate = asn1_x509.Certificate.load(der)
            certificate.native  # noqa: B018  (parse it now, not half-way through path building)
        except (ValueError, TypeError, KeyError) as exc:
            raise _unreadable(f"x5c: {type(exc).__name__}: {exc}"[:300], leaf=leaf) from exc
        others.append(certificate)
    return others


def _attempt(leaf: _Leaf, others, policy: Policy, at, known, anchors, helpers):
    """One path validation: (path or None, the error or None, the context used)."""
    # Imported here: a process that never validates a chain (a node's set-up,
    # most CLI commands) does not pay for pyhanko-certvalidator's import.
    from pyhanko_certvalidator import CertificateValidator, ValidationContext
    from pyhanko_certvalidator import errors as cv_errors

    context = ValidationContext(
        trust_roots=anchors,
        other_certs=helpers,
        allow_fetching=policy.allow_fetching,
        revocation_mode=policy.revocation_mode,
        ocsps=known["known_ocsp"],
        crls=known["known_crl"],
        time_tolerance=dt.timedelta(seconds=30),
        # At a time of the caller's choosing, today's answers count: a
        # certificate not revoked now was not revoked then.
        **({"moment": at, "retroactive_revinfo": True} if at is not None else {}),
    )
    validator = CertificateValidator(
        leaf.certificate, intermediate_certs=others, validation_context=context
    )
    try:
        return _run(_validate_path(validator, context, policy.timeout_seconds)), None, context
    except (cv_errors.PathError, cv_errors.ValidationError, TimeoutError) as exc:
        return None, exc, context
    except (ValueError, TypeError, KeyError) as exc:  # a malformed certificate met on the way
        return None, exc, context


def _chain_outcome(
    leaf: _Leaf, intermediates: list[str], policy: Policy, at: dt.datetime | None
) -> _Outcome:
    """Path validation, with revocation, mapped to ETSI indications as xades.py does.

    Cached revocation answers first: pyhanko-certvalidator fetches whenever
    fetching is allowed, even when it holds a fresh answer, so when the node
    has answers a pass that neither fetches nor accepts a missing answer runs
    first, and the requested policy only if that pass does not settle it.
    """
    from pyhanko_certvalidator import errors as cv_errors

    _statistics["chain_validations"] += 1
    clock, now = _clock(), dt.datetime.now(dt.UTC)
    others = _parse_intermediates(leaf, intermediates)
    known = revocation.known_answers()
    anchors, helpers = selectors.anchors(at=at), selectors.other_certificates()
    path, error, context = None, None, None
    if policy.allow_fetching and (known["known_ocsp"] or known["known_crl"]):
        offline = dataclasses.replace(policy, allow_fetching=False, revocation_mode="require")
        path, error, context = _attempt(leaf, others, offline, at, known, anchors, helpers)
    if path is None:
        path, error, context = _attempt(leaf, others, policy, at, known, anchors, helpers)
        _remember_answers(context, known)
    signer = leaf.certificate
    bounds = [signer.not_valid_after]

    def outcome(indication, sub, *reasons, ttl=CHAIN_CACHE_SECONDS, status=None, chain=(), **kw):
        return _Outcome(
            indication=str(indication),
            sub_indication=sub,
            reasons=tuple(reasons),
            chain=tuple(chain),
            hierarchy=kw.get("hierarchy"),
            revocation=status or {},
            expires=_expiry(ttl, bounds, now=now, clock=clock),
        )

    if isinstance(error, cv_errors.RevokedError):
        status = {"status": "revoked", "ca_revoked": not error.is_ee_cert}
        if error.revocation_dt is not None:
            status["revoked_at"] = error.revocation_dt.isoformat()
        if error.reason is not None:
            status["reason"] = error.reason.native
        if not error.is_ee_cert:
            # ETSI EN 319 102-1: nothing proves the signature predates the CA's revocation.
            return outcome(Indication.INDETERMINATE, "REVOKED_CA_NO_POE", status=status)
        return outcome(Indication.TOTAL_FAILED, "REVOKED", status=status)
    if isinstance(error, cv_errors.PathBuildingError):
        return outcome(
            Indication.INDETERMINATE,
            "NO_CERTIFICATE_CHAIN_FOUND",
            Reason("untrusted_root"),
            status={"status": "not_checked"},
        )
    if isinstance(error, cv_errors.ExpiredError):
        return outcome(Indication.INDETERMINATE, "OUT_OF_BOUNDS_NO_POE")
    if isinstance(error, cv_errors.NotYetValidError):
        bounds.append(signer.not_valid_before)  # it may become valid
        # The best signature time (now) lies before the certificate's validity
        # (ETSI EN 319 102-1), as engine.py judges PDF and CMS.
        return outcome(Indication.TOTAL_FAILED, "NOT_YET_VALID")
    if isinstance(error, cv_errors.InsufficientRevinfoError):
        return outcome(
            Indication.INDETERMINATE,
            "TRY_LATER",
            Reason("revocation_unknown"),
            status={"status": "unknown"},
            ttl=RETRY_CACHE_SECONDS,
        )
    if isinstance(error, cv_errors.DisallowedAlgorithmError):
        return outcome(
            Indication.INDETERMINATE, "CRYPTO_CONSTRAINTS_FAILURE", Reason("weak_digest")
        )
    if isinstance(error, TimeoutError):
        return outcome(
            Indication.INDETERMINATE, "GENERIC", Reason("too_slow"), ttl=RETRY_CACHE_SECONDS
        )
    if error is not None:
        return outcome(
            Indication.INDETERMINATE,
            "CERTIFICATE_CHAIN_GENERAL_FAILURE",
            Reason("untrusted_root", f"{type(error).__name__}: {error}"[:200]),
            ttl=RETRY_CACHE_SECONDS,
        )
    chain = list(path)
    bounds.extend(c.not_valid_after for c in chain)
    bounds.extend(_next_updates(chain, context))
    hierarchies = {t.fingerprint_sha256: t.hierarchy for t in selectors.trust_list(enabled=True)}
    common = {
        "status": answered(signer, context),
        "chain": [certificates.describe(c) for c in reversed(chain)],
        "hierarchy": _hierarchy(chain, {"hierarchies": hierarchies}),
    }
    weak = [c for c in chain if certificates.key_is_weak(c)]
    if weak:
        return outcome(
            Indication.INDETERMINATE,
            "CRYPTO_CONSTRAINTS_FAILURE",
            Reason("weak_key", certificates.key_description(weak[0])),
            **common,
        )
    usage = signer.key_usage_value.native if signer.key_usage_value else []
    if usage and not ({"digital_signature", "non_repudiation"} & set(usage)):
        return outcome(
            Indication.INDETERMINATE, "CHAIN_CONSTRAINTS_FAILURE", Reason("key_usage"), **common
        )
    return outcome(Indication.TOTAL_PASSED, None, **common)


def _remember_answers(context: ValidationContext, known: dict[str, list[bytes]]) -> None:
    """Keep what the validation fetched (not what it was given) for the next one."""
    given = set(known["known_ocsp"]) | set(known["known_crl"])
    fetched_ocsp = [d for d in (r.dump() for r in context.ocsps) if d not in given]
    fetched_crl = [d for d in (c.dump() for c in context.crls) if d not in given]
    if fetched_ocsp or fetched_crl:
        revocation.remember(ocsp_answers=fetched_ocsp, crl_answers=fetched_crl)


def _cached_outcome(
    leaf: _Leaf, x5c: list[str], policy: Policy, at: dt.datetime | None
) -> _Outcome:
    if at is not None:  # a validation in the past (or future) is a one-off
        return _chain_outcome(leaf, x5c[1:], policy, at)
    # The other certificates as sent: the same text is the same certificate.
    key = (leaf.fingerprint, tuple(x5c[1:]), trust_list_version(), policy)
    now = _clock()
    with _outcomes_lock:
        found = _outcomes.get(key)
        if found is not None and found.expires > now:
            _outcomes.move_to_end(key)
            _statistics["chain_cache_hits"] += 1
            return found
    found = _chain_outcome(leaf, x5c[1:], policy, None)
    if found.expires > _clock():
        with _outcomes_lock:
            _outcomes[key] = found
            _outcomes.move_to_end(key)
            while len(_outcomes) > CHAIN_CACHE_SIZE:
                _outcomes.popitem(last=False)
    return found


# --- Verification ---------------------------------------------------------------------------


def _default_policy() -> Policy:
    from lienthong.trust.validation.service import default_policy

    return default_policy()


def verify_jws(
    token: str | bytes,
    *,
    policy: Policy | None = None,
    at: dt.datetime | None = None,
    detached: bytes | None = None,
) -> SignatureResult:
    """Verify one envelope signature: format, algorithm, signature, canonical JSON, chain.

    Never raises for bad input: whatever ``token`` is, the answer is a
    ``SignatureResult`` (format "JWS") whose indication, sub-indication and
    reasons say what was found. ``at`` validates the chain at another time
    (uncached); ``detached`` is the payload of a JWS with detached content
    (RFC 7515 appendix F).
    """
    try:
        return _verify(token, policy or _default_policy(), at, detached)
    except _Refusal as refusal:
        return refusal.result
    except DatabaseError:
        raise  # the node's trouble, not the sender's: no verdict
    except Exception:  # a bug, not bad input: log it, answer INDETERMINATE
        logger.exception("JWS verification crashed")
        return _result(Indication.INDETERMINATE, "GENERIC", Reason("internal_error"))


def _verify(
    token: str | bytes, policy: Policy, at: dt.datetime | None, detached: bytes | None
) -> SignatureResult:
    if isinstance(token, str):
        try:
            data = token.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _unreadable("not UTF-8 text") from exc
    else:
        data = bytes(token)
    if len(data) > MAX_TOKEN_BYTES:
        return _result(
            Indication.INDETERMINATE,
            "GENERIC",
            Reason("too_large", f"{len(data)} > {MAX_TOKEN_BYTES} bytes"),
        )
    parsed = _parse(data)
    header = parsed.header
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        shown = alg if isinstance(alg, str) else json.dumps(alg)
        return _result(
            Indication.TOTAL_FAILED,
            "FORMAT_FAILURE",
            Reason("jws_algorithm", f"{shown[:40]} (accepted: {', '.join(ALGORITHMS)})"),
        )
    if header.get("b64", True) is not True:
        raise _unreadable("unencoded payload (RFC 7797) is not accepted", alg=alg)
    x5c = _x5c(header, alg)
    leaf = _leaf(x5c[0], alg)
    _check_thumbprints(header, leaf, alg)
    if leaf.algorithm != alg:
        return _result(
            Indication.TOTAL_FAILED,
            "SIG_CRYPTO_FAILURE",
            Reason("jws_algorithm", f"{alg} does not fit the certificate's {leaf.info.key} key"),
            leaf=leaf,
            alg=alg,
        )

    # The signature, over the payload as sent.
    payload_segment = parsed.payload_segment
    if not payload_segment:
        if detached is None:
            return _result(
                Indication.INDETERMINATE,
                "SIGNED_DATA_NOT_FOUND",
                Reason("detached_data_required"),
                leaf=leaf,
                alg=alg,
            )
        if len(detached) > signing.MAX_JSON_BYTES:
            return _result(
                Indication.INDETERMINATE,
                "GENERIC",
                Reason("too_large", f"> {signing.MAX_JSON_BYTES} bytes"),
                leaf=leaf,
                alg=alg,
            )
        payload_segment = base64.urlsafe_b64encode(detached).rstrip(b"=")
    payload = _b64url(payload_segment, "payload")
    signed = jws.CompactSignature(dict(header), payload)  # a copy: the header is shared
    signed.segments.update(
        {
            "header": parsed.header_segment,
            "payload": payload_segment,
            "signature": parsed.signature_segment,
        }
    )
    try:
        intact = jws.validate_compact(signed, leaf.key, registry=_REGISTRY)
    except (jose_errors.JoseError, ValueError, TypeError) as exc:
        raise _unreadable(f"{type(exc).__name__}: {exc}"[:300], leaf=leaf, alg=alg) from exc
    if not intact:
        return _result(
            Indication.TOTAL_FAILED,
            "SIG_CRYPTO_FAILURE",
            Reason("jws_payload_mismatch"),
            leaf=leaf,
            alg=alg,
        )

    # The envelope's own rule: the payload is RFC 8785 canonical JSON of an object.
    problem = canonical_problem(payload)
    if problem is not None:
        return _result(
            Indication.INDETERMINATE,
            "FORMAT_FAILURE",
            Reason("jws_not_canonical", problem),
            leaf=leaf,
            alg=alg,
        )

    outcome = _cached_outcome(leaf, x5c, policy, at)
    result = _result(
        outcome.indication, outcome.sub_indication, *outcome.reasons, leaf=leaf, alg=alg
    )
    result.chain = [_copy(c) for c in outcome.chain]
    result.hierarchy = outcome.hierarchy
    result.revocation = dict(outcome.revocation)
    result.coverage = "entire_document"
    result.modified_after_signing = False
    return result


def validate_jws_report(
    token: str | bytes,
    *,
    filename: str,
    policy: Policy | None = None,
    at: dt.datetime | None = None,
    detached: bytes | None = None,
) -> ValidationReport:
    """``verify_jws`` as a validation report, as the page, the API and the command show it.

    A file that is not a readable JWS at all (or too large) has no signature
    in the report, only the reason, like a damaged PDF.
    """
    policy = policy or _default_policy()
    data = token.encode("utf-8", "surrogatepass") if isinstance(token, str) else bytes(token)
    result = verify_jws(token, policy=policy, at=at, detached=detached)
    whole_file = (
        result.signer is None
        and result.reasons
        and result.reasons[0].code in {"unreadable", "too_large", "internal_error"}
    )
    return ValidationReport(
        document_name=filename,
        document_sha256=hashlib.sha256(data).hexdigest(),
        document_format="jws",
        validated_at=dt.datetime.now(dt.UTC).isoformat(),
        policy=policy.as_dict(),
        signatures=[] if whole_file else [result],
        indication=result.indication,
        sub_indication=result.sub_indication,
        reasons=result.reasons if whole_file else [],
    )
