"""The revocation-answer cache: OCSP responses and CRLs kept until their nextUpdate."""

from __future__ import annotations

import datetime as dt
import hashlib

from asn1crypto import crl, ocsp
from django.db import IntegrityError, transaction

from lienthong.trust.models import RevocationAnswer


def known_answers() -> dict[str, list[bytes]]:
    """Still-valid answers, for a validation to use before fetching anything."""
    usable = RevocationAnswer.objects.usable()
    return {
        "known_ocsp": [bytes(a.der) for a in usable if a.kind == RevocationAnswer.Kind.OCSP],
        "known_crl": [bytes(a.der) for a in usable if a.kind == RevocationAnswer.Kind.CRL],
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
    for kind, answers, reader in (
        (RevocationAnswer.Kind.OCSP, ocsp_answers, _ocsp_times),
        (RevocationAnswer.Kind.CRL, crl_answers, _crl_times),
    ):
        for der in answers:
            digest = hashlib.sha256(der).hexdigest()
            if RevocationAnswer.objects.filter(digest_sha256=digest).exists():
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
    return added


def purge_expired() -> int:
    deleted, _ = RevocationAnswer.objects.exclude(next_update__gt=dt.datetime.now(dt.UTC)).delete()
    return deleted
