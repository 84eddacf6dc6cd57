"""The message log: a hash chain over every envelope, query and receipt the node sends or
receives.

Each record has a leaf hash over its own fields (kind, sequence, envelope or
query id, correlation id, time recorded, SHA-256 of the signed object) and a
link = SHA-256("lienthong-log-chain/2" || previous link || leaf hash); the
rules are in verify_evidence.py, which verifies evidence without Django. A
proof that one record reached a timestamped head therefore needs only the
*leaf hashes* of the records between, never their metadata. Records written
before leaf hashes existed are version 1 and keep their rule (migration 0010
explains why they are not recomputed).

Appending locks the one ``LogHead`` row (an ``UPDATE … RETURNING`` that also
advances it when this process wrote the head it finds: ``append_many``), so
concurrent writers (several web and worker processes on PostgreSQL) still form
a single chain, and the record is written in the caller's transaction: a
message and its log record commit or roll back together.

The head is timestamped by an RFC 3161 authority (``stamp_if_due`` from the
worker every ``LIENTHONG_EXCHANGE_LOG_TIMESTAMP_SECONDS`` when records were
added; ``lienthong exchange timestamp-log`` on demand). A token is verified
before it is stored; a failing authority never blocks the log: the failure is
kept on the head (admin, /metrics) and retried after a growing pause.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from lienthong.exchange import inserts
from lienthong.exchange.envelope import format_time
from lienthong.exchange.models import LogHead, LogRecord, LogTimestamp
from lienthong.exchange.verify_evidence import GENESIS, leaf_hash, link, record_link

__all__ = ["GENESIS", "append", "append_many", "stamp_if_due", "timestamp_head", "verify"]

VERSION = 2


def fields(record: LogRecord) -> dict:
    """A record as the hash rules (and archives and evidence) see it, without its content."""
    return {
        "sequence": record.sequence,
        "version": record.version,
        "kind": record.kind,
        "envelope_id": record.envelope_id,
        "correlation_id": record.correlation_id,
        "recorded_at": format_time(record.recorded_at),
        "content_sha256": record.content_sha256,
        "previous_digest": record.previous_digest,
        "leaf": record.leaf_hash,
        "digest": record.digest,
    }


def append(*, kind: str, envelope_id: str, correlation_id: str, content: str) -> LogRecord:
    """Add one record at the head of the chain (inside the caller's transaction)."""
    return append_many([(kind, envelope_id, correlation_id, content)])[0]


def append_many(items: list[tuple[str, str, str, str]]) -> list[LogRecord]:
    """Add ``(kind, envelope id, correlation id, content)`` records, in order, under one
    lock of the head (inside the caller's transaction).

    The head is advanced by one ``UPDATE … RETURNING`` that locks it (on PostgreSQL
    the row lock holds until the transaction ends, so writers queue on it and the
    chain stays one) and, if it still is the head this process last wrote, writes
    the new head computed from it in the same statement; otherwise it only returns
    the head as it is (locked), the records are computed from that and a second
    UPDATE writes it: the old select-for-update and update. Either way the links
    follow from the head as it stands under the lock, never from a guess.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("the message log is written inside the message's transaction")
    connection = transaction.get_connection()
    key = (connection.alias, str(connection.settings_dict["NAME"]))
    recorded_at = timezone.now()
    with _heads_lock:
        guess = _heads.get(key)
    records, head = (None, None)
    if guess is not None:
        records, head = _chained(items, guess, recorded_at)
    current = _advance(connection, guess, head)
    if current is None:  # no head yet: the first record of this database
        LogHead.objects.select_for_update().get_or_create(pk=1)
        current = _advance(connection, None, None)
    if records is None or current != head:
        # Another process wrote since (or this one's transaction rolled back): the head
        # returned is locked and current; chain from it.
        records, head = _chained(items, current, timezone.now())
        LogHead.objects.filter(pk=1).update(sequence=head[0], digest=head[1])
    inserts.insert(records)
    with _heads_lock:
        _heads[key] = head
    return records


# The head each database had after this process's last append, to advance it in one
# statement when nobody wrote since (append_many); a wrong guess only costs a second one.
_heads: dict[tuple[str, str], tuple[int, str]] = {}
_heads_lock = threading.Lock()

_ADVANCE = """
UPDATE {table} SET
    {sequence} = CASE WHEN {sequence} = %s AND {digest} = %s THEN %s ELSE {sequence} END,
    {digest} = CASE WHEN {sequence} = %s AND {digest} = %s THEN %s ELSE {digest} END
WHERE {id} = 1
RETURNING {sequence}, {digest}
"""


def _advance(connection, guess, head) -> tuple[int, str] | None:
    """Lock the head; move it from ``guess`` to ``head`` if it is still at ``guess``.
    The head as it is after the statement, or None if there is none."""
    old, new = guess or (-1, ""), head or (-1, "")
    quote = connection.ops.quote_name
    sql = _ADVANCE.format(
        table=quote(LogHead._meta.db_table),
        sequence=quote("sequence"),
        digest=quote("digest"),
        id=quote("id"),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*old, new[0], *old, new[1]])
        row = cursor.fetchone()
    return (int(row[0]), str(row[1])) if row is not None else None


def _chained(
    items: list[tuple[str, str, str, str]], head: tuple[int, str], recorded_at: dt.datetime
) -> tuple[list[LogRecord], tuple[int, str]]:
    """The records of ``items`` linked after ``head``, and the head after them."""
    moment = format_time(recorded_at)
    sequence, previous = head
    records = []
    for kind, envelope_id, correlation_id, content in items:
        sequence += 1
        content_sha256 = hashlib.sha256(content.encode("utf-8")).hexdigest()
        leaf = leaf_hash(
            {
                "sequence": sequence,
                "kind": kind,
                "envelope_id": envelope_id,
                "correlation_id": correlation_id,
                "recorded_at": moment,
                "content_sha256": content_sha256,
            }
        )
        digest = link(previous, leaf)
        records.append(
            LogRecord(
                sequence=sequence,
                version=VERSION,
                kind=kind,
                envelope_id=envelope_id,
                correlation_id=correlation_id,
                recorded_at=recorded_at,
                content=content,
                content_sha256=content_sha256,
                previous_digest=previous,
                leaf_hash=leaf,
                digest=digest,
            )
        )
        previous = digest
    return records, (sequence, previous)


def record_problem(line: dict, previous: str) -> str:
    """Why a record (as ``fields`` gives it, with its content or not) does not follow the
    link ``previous``, or ""."""
    if line["previous_digest"] != previous:
        return "it does not link to the record before it"
    if line["version"] >= 2:
        if line["leaf"] != leaf_hash(line):
            return "its leaf hash does not match its fields"
        expected = link(previous, line["leaf"])
    else:
        expected = record_link(previous, line)
    if line["digest"] != expected:
        return "its digest does not match its fields"
    return ""


# --- Timestamps of the head (RFC 3161) -----------------------------------------------------


class TimestampFailed(Exception):
    """The time-stamping authority could not be reached or answered wrongly."""


def timestamp_head(url: str) -> LogTimestamp | None:
    """Have the head of the log timestamped (RFC 3161); None if nothing new since the last.

    The token is verified — its imprint is the head's link, its signer a
    time-stamping certificate leading to the trust list — before it is
    stored; any failure is TimestampFailed and is kept on the head for the
    operator."""
    import asyncio

    from asn1crypto import cms
    from pyhanko.sign.timestamps import TimestampRequestError
    from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper

    head = LogHead.objects.filter(pk=1).first()
    # Nothing since the last timestamp (or since the last archive, which ends at one).
    if head is None or head.sequence <= head.archived_sequence:
        return None
    last = LogTimestamp.objects.order_by("-sequence").first()
    if last is not None and last.sequence >= head.sequence:
        return None
    stamper = RequestsHTTPTimeStamper(url, timeout=30)
    LogHead.objects.filter(pk=1).update(stamp_attempted_at=timezone.now())
    try:
        try:
            token = asyncio.run(stamper.async_timestamp(bytes.fromhex(head.digest), "sha256"))
            signed = token["content"]
            info = signed["encap_content_info"]["content"].parsed
            stamp = LogTimestamp(
                sequence=head.sequence,
                digest=head.digest,
                time=info["gen_time"].native,
                authority=url[:300],
                token=token.dump(),
            )
        except (TimestampRequestError, OSError, ValueError, KeyError, TypeError) as exc:
            raise TimestampFailed(f"{type(exc).__name__}: {exc}"[:300]) from exc
        problem = _timestamp_problem(stamp, head.digest)
        if problem:
            raise TimestampFailed(problem)
    except TimestampFailed as failed:
        LogHead.objects.filter(pk=1).update(
            stamp_failures=F("stamp_failures") + 1, stamp_error=str(failed)[:500]
        )
        raise
    stamp.tsa_certificate = _signer_certificate(cms.ContentInfo.load(bytes(stamp.token)))
    stamp.save()
    LogHead.objects.filter(pk=1).update(stamp_failures=0, stamp_error="")
    return stamp


def stamp_if_due(url: str, *, interval: int | None = None) -> LogTimestamp | None:
    """The worker's tick: timestamp the head if records were added, the last timestamp is
    ``interval`` seconds old (LIENTHONG_EXCHANGE_LOG_TIMESTAMP_SECONDS) and, after failures,
    the pause before the next attempt (a minute, doubling, at most the interval) is over.

    The schedule is kept in the database, so several workers and restarts share it."""
    from django.conf import settings

    interval = settings.EXCHANGE_LOG_TIMESTAMP_SECONDS if interval is None else interval
    head = LogHead.objects.filter(pk=1).first()
    if not url or head is None or head.sequence <= head.archived_sequence:
        return None
    last = LogTimestamp.objects.order_by("-sequence").first()
    if last is not None and last.sequence >= head.sequence:
        return None
    now = timezone.now()
    if last is not None and now - last.time < dt.timedelta(seconds=interval):
        return None
    if head.stamp_failures and head.stamp_attempted_at is not None:
        pause = min(60 * 2 ** (head.stamp_failures - 1), max(interval, 60))
        if now - head.stamp_attempted_at < dt.timedelta(seconds=pause):
            return None
    return timestamp_head(url)


def _signer_certificate(token) -> bytes:
    """The DER of the certificate that signed a timestamp token (b"" if it is not inside)."""
    signed = token["content"]
    sid = signed["signer_infos"][0]["sid"]
    for choice in signed["certificates"] or []:
        certificate = choice.chosen
        if sid.name == "issuer_and_serial_number":
            if certificate.serial_number == sid.chosen["serial_number"].native:
                return certificate.dump()
        elif certificate.key_identifier == sid.chosen.native:
            return certificate.dump()
    return b""


def _timestamp_problem(stamp: LogTimestamp, digest: str | None) -> str:
    """Why a timestamp does not prove the link ``digest`` (the record it names), or ""."""
    import asyncio

    from asn1crypto import cms
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko_certvalidator import ValidationContext

    from lienthong.trust import selectors

    if digest is None or digest != stamp.digest:
        return f"timestamp of #{stamp.sequence} does not cover the record now there"
    try:
        signed = cms.ContentInfo.load(bytes(stamp.token))["content"]
        context = ValidationContext(
            trust_roots=selectors.anchors(at=stamp.time),
            other_certs=selectors.other_certificates(),
            allow_fetching=False,
            revocation_mode="soft-fail",
            moment=stamp.time,
        )
        status = asyncio.run(
            validate_tst_signed_data(signed, context, lambda _: bytes.fromhex(stamp.digest))
        )
    except (ValueError, KeyError, TypeError) as exc:
        return f"timestamp of #{stamp.sequence} is unreadable ({type(exc).__name__})"
    if not status["intact"]:
        return f"timestamp of #{stamp.sequence} does not match the digest it claims"
    if not status["valid"] or status.get("trust_problem_indic") is not None:
        return f"timestamp of #{stamp.sequence} is not signed by a trusted authority"
    return ""


# --- Verification ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    records: int
    head: str
    broken_at: int | None = None
    problem: str = ""
    timestamps: int = 0

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def verify(batch_size: int = 2000) -> Verification:
    """Walk the chain kept in the database (from the checkpoint the last archive left:
    ``LogHead.archived_*``); name the first record that does not follow from the one
    before; check every timestamp kept."""
    head = LogHead.objects.filter(pk=1).first()
    start = head.archived_sequence if head else 0
    previous, expected, count = (head.archived_digest if head else GENESIS), start + 1, 0
    queryset = LogRecord.objects.order_by("sequence")
    for record in queryset.iterator(chunk_size=batch_size):
        if record.sequence != expected:
            return Verification(count, previous, expected, f"record #{expected} is missing")
        problem = ""
        if hashlib.sha256(record.content.encode("utf-8")).hexdigest() != record.content_sha256:
            problem = "its content does not match its recorded digest"
        else:
            problem = record_problem(fields(record), previous)
        if problem:
            return Verification(count, previous, record.sequence, problem)
        previous, expected, count = record.digest, expected + 1, count + 1
    if head is not None and (head.sequence != start + count or head.digest != previous):
        return Verification(
            count, previous, start + count + 1, "the chain's head does not match its end"
        )
    stamps = list(LogTimestamp.objects.filter(sequence__gt=start).order_by("sequence"))
    digests = dict(
        LogRecord.objects.filter(sequence__in=[s.sequence for s in stamps]).values_list(
            "sequence", "digest"
        )
    )
    for stamp in stamps:
        problem = _timestamp_problem(stamp, digests.get(stamp.sequence))
        if problem:
            return Verification(count, previous, stamp.sequence, problem, len(stamps))
    return Verification(count, previous, timestamps=len(stamps))
