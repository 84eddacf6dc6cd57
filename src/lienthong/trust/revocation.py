"""The revocation-answer cache: OCSP responses and CRLs used until their nextUpdate.

Past its nextUpdate an answer is no longer used, but it is kept for
``settings.TRUST_REVOCATION_KEEP_DAYS`` as the record of what the node knew
when it accepted a signature (``answers_about`` finds them for the exchange's
evidence archives); ``purge_expired`` deletes it after that.

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
from cryptography import x509
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
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


def _serials(values) -> str:
    """Serial numbers as stored in ``RevocationAnswer.serials``: ",hex,hex,"."""
    return "," + ",".join(f"{value:x}" for value in values) + ","


def _ocsp_facts(der: bytes) -> dict:
    response = ocsp.OCSPResponse.load(der)
    basic = response.basic_ocsp_response
    singles = basic["tbs_response_data"]["responses"]
    responder = basic["tbs_response_data"]["responder_id"]
    serials = _serials(single["cert_id"]["serial_number"].native for single in singles)
    return {
        "this_update": singles[0]["this_update"].native,
        "next_update": singles[0]["next_update"].native,
        "issuer": str(responder.native)[:500],
        # An answer about more certificates than the column holds is found by none.
        "serials": serials if len(serials) <= 2000 else "",
    }


def _crl_facts(der: bytes) -> dict:
    tbs = crl.CertificateList.load(der)["tbs_cert_list"]
    return {
        "this_update": tbs["this_update"].native,
        "next_update": tbs["next_update"].native,
        "issuer": tbs["issuer"].human_friendly[:500],
        "issuer_sha256": hashlib.sha256(tbs["issuer"].dump()).hexdigest(),
    }


def facts(kind: str, der: bytes) -> dict:
    """The fields of a RevocationAnswer read from the answer itself (ValueError,
    KeyError, TypeError or IndexError when it cannot be read)."""
    return (_ocsp_facts if kind == RevocationAnswer.Kind.OCSP else _crl_facts)(der)


def remember(*, ocsp_answers: list[bytes], crl_answers: list[bytes]) -> int:
    """Store new answers that carry a nextUpdate; return how many were added.

    Answers without nextUpdate promise nothing about the future and are not
    cached. Duplicates (the same bytes) are ignored.
    """
    added = 0
    _, cached = _rows()
    for kind, answers in (
        (RevocationAnswer.Kind.OCSP, ocsp_answers),
        (RevocationAnswer.Kind.CRL, crl_answers),
    ):
        for der in answers:
            digest = hashlib.sha256(der).hexdigest()
            if digest in cached or RevocationAnswer.objects.filter(digest_sha256=digest).exists():
                continue
            try:
                fields = facts(kind, der)
            except (ValueError, KeyError, TypeError, IndexError):
                continue
            if fields["next_update"] is None or fields["next_update"] <= dt.datetime.now(dt.UTC):
                continue
            try:
                with transaction.atomic():
                    RevocationAnswer.objects.create(
                        kind=kind, der=der, digest_sha256=digest, **fields
                    )
                added += 1
            except IntegrityError:
                continue  # stored meanwhile by a concurrent validation
    if added:
        forget_cached()
    return added


def answers_about(certificates: list[x509.Certificate]) -> list[tuple[str, bytes]]:
    """Every answer kept, used or past, that may speak of these certificates: the OCSP
    responses naming one of their serial numbers and the CRLs of their issuers, as
    (kind, DER). The caller checks what each says (a serial number is unique only
    per issuer)."""
    wanted = Q()
    for serial in {c.serial_number for c in certificates}:
        wanted |= Q(kind=RevocationAnswer.Kind.OCSP, serials__contains=_serials([serial]))
    issuers = {hashlib.sha256(c.issuer.public_bytes()).hexdigest() for c in certificates}
    if issuers:
        wanted |= Q(kind=RevocationAnswer.Kind.CRL, issuer_sha256__in=issuers)
    if not wanted:
        return []
    return [
        (kind, bytes(der))
        for kind, der in RevocationAnswer.objects.filter(wanted)
        .order_by("pk")
        .values_list("kind", "der")
    ]


def purge_expired() -> int:
    """Delete the answers past their nextUpdate by more than the time they are kept."""
    keep = dt.timedelta(days=settings.TRUST_REVOCATION_KEEP_DAYS)
    deleted, _ = RevocationAnswer.objects.filter(
        next_update__lte=dt.datetime.now(dt.UTC) - keep
    ).delete()
    forget_cached()
    return deleted
