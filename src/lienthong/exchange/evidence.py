"""Evidence for one dossier: a self-contained archive anyone can verify offline.

``build(correlation_id)`` gathers, from this node's message log (and from log
archive files, when given), every envelope, query and query response recorded
under that correlation id (the dossier code) and every receipt that names
those envelopes, exactly as signed, with what proves them::

    manifest.json                  format, correlation id, node, time, SHA-256 of every file
    objects/<sha-256>.jws          the signed objects, as sent or received
    log.json                       "records": their log records in full (no content);
                                   "chain": the records between each of them and the first
                                   timestamped head after it, by leaf hash only;
                                   "timestamps": those heads (sequence, link, token file)
    timestamps/<sequence>.tsr      the RFC 3161 tokens (DER)
    certificates/<sha-256>.pem     intermediates and cross-certificates of the trust list,
                                   and the time-stamping authorities' certificates
    roots/<sha-256>.pem            the trust anchors (the trust list's enabled roots)
    revocation/<sha-256>.ocsp|.crl the OCSP responses and CRLs about those certificates still
                                   in the node's revocation cache, if any

``verify`` (verify_evidence.py, which runs without Django) needs nothing but
the archive.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from lienthong.exchange.envelope import format_time
from lienthong.exchange.verify_evidence import (
    FORMAT,
    Report,
    jws_parts,
    verify,  # noqa: F401 (re-exported)
)

RECEIPT_KINDS = ("receipt-sent", "receipt-received")
# How long after a dossier's last envelope its receipts are looked for in the log when the
# messages themselves (which point to their receipts) were purged.
RECEIPT_SEARCH_DAYS = 30


class NotTimestamped(Exception):
    """Some records of the dossier are not yet covered by a timestamped head."""


class UnusableArchive(Exception):
    """A message-log archive file given does not match its own manifest."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _pem(der: bytes) -> bytes:
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)


class _Database:
    """The records the database still holds."""

    def matching(self, correlation_id: str) -> list[dict]:
        from lienthong.exchange import log
        from lienthong.exchange.models import LogRecord

        return [
            {**log.fields(r), "content": r.content}
            for r in LogRecord.objects.filter(correlation_id=correlation_id).order_by("sequence")
        ]

    def receipts(self, envelope_ids: set[str], after: int, until: dt.datetime) -> list[dict]:
        from lienthong.exchange import log
        from lienthong.exchange.models import InboundMessage, LogRecord, OutboundMessage

        # The messages point to their receipts (stored once, with their SHA-256, the
        # digest their log records carry); the log is searched only for those purged.
        known = {
            digest
            for model in (OutboundMessage, InboundMessage)
            for digest in model.objects.filter(envelope_id__in=envelope_ids, receipt__isnull=False)
            .values_list("receipt__sha256", flat=True)
            .distinct()
        }
        found = [
            {**log.fields(r), "content": r.content}
            for r in LogRecord.objects.filter(content_sha256__in=known, kind__in=RECEIPT_KINDS)
        ]
        named = {e for r in found for e in _named(r["content"])}
        if envelope_ids - named:
            window = LogRecord.objects.filter(
                sequence__gt=after, kind__in=RECEIPT_KINDS, recorded_at__lte=until
            ).exclude(content_sha256__in=known)
            for record in window.order_by("sequence").iterator(chunk_size=500):
                if envelope_ids & _named(record.content):
                    found.append({**log.fields(record), "content": record.content})
        return found

    def covering(self, sequence: int) -> dict | None:
        from lienthong.exchange.models import LogTimestamp

        stamp = LogTimestamp.objects.filter(sequence__gte=sequence).order_by("sequence").first()
        if stamp is None:
            return None
        return {
            "sequence": stamp.sequence,
            "digest": stamp.digest,
            "token": bytes(stamp.token),
            "tsa_certificate": bytes(stamp.tsa_certificate),
        }

    def entries(self, ranges: list[tuple[int, int]]) -> dict[int, dict]:
        from django.db.models import Q

        from lienthong.exchange import log
        from lienthong.exchange.models import LogRecord

        if not ranges:
            return {}
        query = Q()
        for first, last in ranges:
            query |= Q(sequence__gte=first, sequence__lte=last)
        return {
            r.sequence: log.fields(r)
            for r in LogRecord.objects.filter(query).defer("content").iterator(chunk_size=2000)
        }


class _Archive:
    """The records of a message-log archive file (log_archive.py)."""

    def __init__(self, path):
        from lienthong.exchange import log_archive

        try:
            self.contents = log_archive.open_archive(path)
        except ValueError as exc:
            raise UnusableArchive(f"{path}: {exc}") from exc

    def matching(self, correlation_id: str) -> list[dict]:
        return [r for r in self.contents.records() if r["correlation_id"] == correlation_id]

    def receipts(self, envelope_ids: set[str], after: int, until: dt.datetime) -> list[dict]:
        return [
            r
            for r in self.contents.records()
            if r["kind"] in RECEIPT_KINDS
            and r["sequence"] > after
            and envelope_ids & _named(r["content"])
        ]

    def covering(self, sequence: int) -> dict | None:
        for stamp in sorted(self.contents.stamps(), key=lambda s: s["sequence"]):
            if stamp["sequence"] >= sequence:
                return {
                    "sequence": stamp["sequence"],
                    "digest": stamp["digest"],
                    "token": base64.b64decode(stamp["token"]),
                    "tsa_certificate": base64.b64decode(stamp.get("tsa_certificate", "")),
                }
        return None

    def entries(self, ranges: list[tuple[int, int]]) -> dict[int, dict]:
        return {
            r["sequence"]: {k: v for k, v in r.items() if k != "content"}
            for r in self.contents.records()
            if any(first <= r["sequence"] <= last for first, last in ranges)
        }


def _named(receipt: str) -> set[str]:
    """The envelope ids a signed receipt names."""
    try:
        return {e.get("envelope_id") for e in jws_parts(receipt)[1].get("entries", [])}
    except (ValueError, KeyError, TypeError, AttributeError):
        return set()


def _revocation_answers(certificates: list[bytes]) -> dict[str, bytes]:
    """The OCSP responses and CRLs the node keeps (trust.revocation: used, or past their
    nextUpdate and kept as proof) that speak of these certificates, by serial number
    or issuer: "revocation/<sha-256>.ocsp" or ".crl". What each says, and about which
    issuer's certificate, the verifier judges (verify_evidence)."""
    from lienthong.trust import revocation

    parsed = [x509.load_der_x509_certificate(der) for der in certificates]
    return {
        f"revocation/{_sha256(der)}.{kind}": der for kind, der in revocation.answers_about(parsed)
    }


def build(correlation_id: str, *, archives: Iterable = (), tsa_url: str = "") -> bytes:
    """The evidence archive of one correlation id, as ZIP bytes.

    LookupError: nothing under that id. NotTimestamped: a record is not yet
    covered by a timestamped head (with ``tsa_url``, the head is timestamped
    first when it needs to be)."""
    from lienthong.exchange import log
    from lienthong.node import this_node
    from lienthong.trust.models import CertificateKind, TrustedCertificate

    sources = [*(_Archive(path) for path in archives), _Database()]
    records: dict[int, dict] = {}
    for source in sources:
        records.update({r["sequence"]: r for r in source.matching(correlation_id)})
    if not records:
        raise LookupError(correlation_id)
    envelope_ids = {r["envelope_id"] for r in records.values() if r["envelope_id"]}
    first = min(records)
    until = dt.datetime.fromisoformat(
        max(r["recorded_at"] for r in records.values()).replace("Z", "+00:00")
    ) + dt.timedelta(days=RECEIPT_SEARCH_DAYS)
    for source in sources:
        records.update({r["sequence"]: r for r in source.receipts(envelope_ids, first, until)})

    def covering(sequence: int) -> dict | None:
        found = [s for s in (source.covering(sequence) for source in sources) if s is not None]
        return min(found, key=lambda s: s["sequence"]) if found else None

    if tsa_url and covering(max(records)) is None:
        log.timestamp_head(tsa_url)  # TimestampFailed goes to the caller
    ranges, used = [], {}
    for sequence in sorted(records):
        stamp = covering(sequence)
        if stamp is None:
            raise NotTimestamped(sequence)
        ranges.append((sequence + 1, stamp["sequence"]))
        used[stamp["sequence"]] = stamp
    hidden: dict[int, dict] = {}
    for source in sources:
        hidden.update(source.entries(ranges))
    chain = []
    for sequence, entry in sorted(hidden.items()):
        if sequence in records:
            continue
        if entry["version"] >= 2:
            chain.append({"sequence": sequence, "leaf": entry["leaf"]})
        else:  # version 1: no leaf hash; its fields, never its content
            chain.append({k: v for k, v in entry.items() if k not in ("leaf", "digest")})

    files: dict[str, bytes] = {}
    shown = []
    certificates: dict[str, bytes] = {}
    for _, record in sorted(records.items()):
        content = record["content"].encode("utf-8")
        files[f"objects/{record['content_sha256']}.jws"] = content
        shown.append({k: v for k, v in record.items() if k != "content"})
        # The signer's chain rides in the object's x5c; a copy beside it, for readers.
        try:
            for encoded in jws_parts(record["content"])[0].get("x5c", []):
                der = base64.b64decode(encoded)
                certificates[_sha256(der)] = der
        except (ValueError, TypeError, AttributeError):
            pass  # the verifier reports an unreadable object
    timestamps = []
    for sequence, stamp in sorted(used.items()):
        files[f"timestamps/{sequence}.tsr"] = stamp["token"]
        if stamp["tsa_certificate"]:
            certificates[_sha256(stamp["tsa_certificate"])] = stamp["tsa_certificate"]
        timestamps.append(
            {"sequence": sequence, "digest": stamp["digest"], "token": f"timestamps/{sequence}.tsr"}
        )
    files["log.json"] = json.dumps(
        {"records": shown, "chain": chain, "timestamps": timestamps}, indent=1
    ).encode()
    for der, kind in TrustedCertificate.objects.filter(is_enabled=True).values_list("der", "kind"):
        der = bytes(der)
        folder = "roots" if kind == CertificateKind.ROOT else "certificates"
        files[f"{folder}/{_sha256(der)}.pem"] = _pem(der)
    for digest, der in certificates.items():
        files[f"certificates/{digest}.pem"] = _pem(der)
    files.update(_revocation_answers(list(certificates.values())))
    manifest = {
        "format": FORMAT,
        "correlation_id": correlation_id,
        "node": this_node().identifier,
        "created_at": format_time(dt.datetime.now(dt.UTC)),
        "files": {name: _sha256(data) for name, data in sorted(files.items())},
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, indent=1))
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
    return buffer.getvalue()


Verification = Report
