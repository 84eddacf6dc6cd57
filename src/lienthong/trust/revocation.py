"""The revocation-answer cache: OCSP responses and CRLs kept until their nextUpdate.

The answers live in the database, shared by every process of the node. Each
process also keeps the list it last read for ``RECHECK_SECONDS``, so that a
validation does not query the table: an answer stored by another process is
seen within those seconds (until then a validation may fetch it once more),
one stored by this process at once, and an answer is never used past its own
nextUpdate, which is checked on every use.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time

from asn1crypto import crl, ocsp
from django.db import IntegrityError, transaction
from django.utils import timezone

from lienthong.trust.models import RevocationAnswer

RECHECK_SECONDS = 2.0
_clock = time.monotonic
# (kind, der, digest, next_update) of the usable answers, as last read.
_known: dict = {"rows": [], "digests": frozenset(), "checked": float("-inf")}
_known_lock = threading.Lock()


def _rows() -> tuple[list[tuple], frozenset[str]]:
    with _known_lock:
        if _clock() - _known["checked"] < RECHECK_SECONDS:
            return _known["rows"], _known["digests"]
    rows = [
        (kind, bytes(der), digest, next_update)
        for kind, der, digest, next_update in RevocationAnswer.objects.usable()
        .order_by("pk")
        .values_list("kind", "der", "digest_sha256", "next_update")
    ]
    digests = frozenset(row[2] for row in rows)
    with _known_lock:
        _known.update(rows=rows, digests=digests, checked=_clock())
    return rows, digests


def forget_cached() -> None:
    """Make the next validation in this process read the answers again."""
    with _known_lock:
        _known.update(rows=[], digests=frozenset(), checked=float("-inf"))


def known_answers() -> dict[str, list[bytes]]:
    """Still-valid answers, for a validation to use before fetching anything."""
    rows, _ = _rows()
    now = timezone.now()
    usable = [(kind, der) for kind, der, _, next_update in rows if next_update > now]
    return {
        "known_ocsp": [der for kind, der in usable if kind == RevocationAnswer.Kind.OCSP],
        "known_crl": [der for kind, der in usable if kind == RevocationAnswer.Kind.CRL],
    }


def _ocsp_times(der: bytes):
    response = ocsp.OCSPResponse.load(der)
    basic = response.basic_ocsp_response
    single = basic["tbs_response_data"]["responses"][0]
    responder = basic["tbs_response_data"]["responder_id"]
    return single["this_update"].native, single["next_update"].native, str(responder.native)


def _crl_times(der: bytes):
    tbs = crl.CertificateList.load(der)["tbs_cert_list"]
    return tbs["this_update"].native, tbs["next_update"].native, tbs["issuer"].human_friendly


def remember(*, ocsp_answers: list[bytes], crl_answers: list[bytes]) -> int:
    """Store new answers that carry a nextUpdate; return how many were added.

    Answers without nextUpdate promise nothing about the future and are not
    cached. Duplicates (the same bytes) are ignored.
    """
    added = 0
    _, cached = _rows()
    for kind, answers, reader in (
        (RevocationAnswer.Kind.OCSP, ocsp_answers, _ocsp_times),
        (RevocationAnswer.Kind.CRL, crl_answers, _crl_times),
    ):
        for der in answers:
            digest = hashlib.sha256(der).hexdigest()
            if digest in cached or RevocationAnswer.objects.filter(digest_sha256=digest).exists():
                continue
            try:
                this_update, next_update, issuer = reader(der)
            except (ValueError, KeyError, TypeError, IndexError):
                continue
            if next_update is None or next_update <= dt.datetime.now(dt.UTC):
                continue
            try:
                with transaction.atomic():
                    RevocationAnswer.objects.create(
                        kind=kind,
                        der=der,
                        digest_sha256=digest,
                        issuer=issuer[:500],
                        this_update=this_update,
                        next_update=next_update,
                    )
                added += 1
            except IntegrityError:
                continue  # stored meanwhile by a concurrent validation
    if added:
        forget_cached()
    return added


def purge_expired() -> int:
    deleted, _ = RevocationAnswer.objects.exclude(next_update__gt=dt.datetime.now(dt.UTC)).delete()
    forget_cached()
    return deleted
