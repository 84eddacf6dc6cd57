"""The validation service: trust material from the node's trust list, a bounded
run of the engine, a report in ETSI vocabulary."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from typing import Any

from django.conf import settings
from django.utils import timezone

from lienthong.trust import revocation, selectors
from lienthong.trust.models import CertificateKind
from lienthong.trust.validation.engine import Policy, sniff
from lienthong.trust.validation.report import Indication, Reason, ValidationReport
from lienthong.trust.validation.sandbox import SandboxFailure, run_bounded

REVOCATION_MODES = ("soft-fail", "hard-fail", "require")


def default_policy() -> Policy:
    return Policy(
        revocation_mode=settings.TRUST_REVOCATION_MODE,
        allow_fetching=settings.TRUST_FETCH_REVOCATION,
        timeout_seconds=settings.TRUST_VALIDATION_TIMEOUT,
    )


# The trust material is read again when the trust-list version changes (jws.py:
# re-read at most every 2 seconds), when a root's validity begins or ends, and
# at the latest after this many seconds.
MATERIAL_MAX_AGE = dt.timedelta(minutes=5)
_material: dict[str, Any] = {"version": None, "until": None, "value": None}
_material_lock = threading.Lock()


def trust_material() -> dict[str, Any]:
    """What the engine needs from the trust list: anchors, helpers, hierarchies.

    Kept per process under the trust-list version, so a validation costs no
    trust-list query while the list is unchanged.
    """
    from lienthong.trust.validation.jws import trust_list_version

    version = trust_list_version()
    now = timezone.now()
    with _material_lock:
        if _material["version"] == version and _material["until"] > now:
            return _material["value"]
    enabled = list(selectors.trust_list(enabled=True))
    value = {
        "anchors": [c.dump() for c in selectors.anchors(at=now)],
        "others": [c.dump() for c in selectors.other_certificates()],
        "hierarchies": {t.fingerprint_sha256: t.hierarchy for t in enabled},
    }
    boundaries = [
        moment
        for t in enabled
        if t.kind == CertificateKind.ROOT
        for moment in (t.not_before, t.not_after)
        if moment > now
    ]
    with _material_lock:
        _material.update(
            version=version, until=min([now + MATERIAL_MAX_AGE, *boundaries]), value=value
        )
    return value


def forget_trust_material() -> None:
    """Make the next validation in this process read the trust list again."""
    with _material_lock:
        _material.update(version=None, until=None, value=None)


def validate_document(
    *,
    data: bytes,
    filename: str,
    detached: bytes | None = None,
    policy: Policy | None = None,
) -> ValidationReport:
    """Validate every signature of a PDF, XML or CMS file, or a JWS, against the trust list.

    Never raises for bad input: a damaged, oversized, slow or unsupported file
    ends as a report whose indication says so, with the reason. A JWS (an
    exchange envelope: small and bounded) is checked in this process
    (jws.py); the other formats in the sandbox.
    """
    policy = policy or default_policy()
    limit = settings.TRUST_MAX_DOCUMENT_BYTES
    if len(data) > limit or (detached is not None and len(detached) > limit):
        return _failure(data, filename, policy, "too_large", f"> {limit} bytes")
    if sniff(data) == "jws":
        from lienthong.trust.validation import jws

        return jws.validate_jws_report(data, filename=filename, policy=policy, detached=detached)
    job = {
        "data": data,
        "detached": detached,
        "filename": filename,
        "policy": policy.as_dict(),
        **trust_material(),
        **revocation.known_answers(),
    }
    try:
        outcome = run_bounded(
            job,
            timeout=policy.timeout_seconds + 10,
            memory_bytes=settings.TRUST_VALIDATION_MEMORY_BYTES,
        )
    except SandboxFailure as failure:
        return _failure(data, filename, policy, failure.code)
    revocation.remember(
        ocsp_answers=outcome["revinfo"]["ocsp"],
        crl_answers=outcome["revinfo"]["crl"],
    )
    return ValidationReport.from_dict(outcome["report"])


def _failure(
    data: bytes, filename: str, policy: Policy, code: str, detail: str = ""
) -> ValidationReport:
    return ValidationReport(
        document_name=filename,
        document_sha256=hashlib.sha256(data).hexdigest(),
        document_format=sniff(data),
        validated_at=dt.datetime.now(dt.UTC).isoformat(),
        policy=policy.as_dict(),
        signatures=[],
        indication=Indication.INDETERMINATE,
        sub_indication="GENERIC",
        reasons=[Reason(code, detail)],
    )
