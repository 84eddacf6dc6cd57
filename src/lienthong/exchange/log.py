"""The message log: a hash chain over every envelope and receipt the node sends or receives.

Record n's digest is SHA-256 over the canonical JSON (RFC 8785) of
``[previous digest, sequence, kind, envelope id, correlation id, recorded at,
SHA-256 of the content]``; the first record's previous digest is 64 zeros.
Appending locks the one ``LogHead`` row, so concurrent writers (several web
and worker processes on PostgreSQL) still form a single chain, and the record
is written in the caller's transaction: a message and its log record commit
or roll back together.

The head is timestamped periodically by an RFC 3161 authority
(``timestamp_head``; ``lienthong exchange timestamp-log``, and the worker
every ``LIENTHONG_EXCHANGE_LOG_TIMESTAMP_SECONDS`` when ``LIENTHONG_TSA_URL``
is set): the token proves that every record up to that one existed, as it
is, at that time. ``verify`` checks the tokens too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import rfc8785
from django.db import transaction
from django.utils import timezone

from lienthong.exchange.envelope import format_time
from lienthong.exchange.models import LogHead, LogRecord, LogTimestamp

GENESIS = "0" * 64


def _digest(previous: str, sequence: int, kind: str, envelope_id: str, correlation_id: str,
            recorded_at: str, content_sha256: str) -> str:  # fmt: skip
    fields = [previous, sequence, kind, envelope_id, correlation_id, recorded_at, content_sha256]
    return hashlib.sha256(rfc8785.dumps(fields)).hexdigest()


def append(*, kind: str, envelope_id: str, correlation_id: str, content: str) -> LogRecord:
    """Add one record at the head of the chain (inside the caller's transaction)."""
    return append_many([(kind, envelope_id, correlation_id, content)])[0]


def append_many(items: list[tuple[str, str, str, str]]) -> list[LogRecord]:
    """Add ``(kind, envelope id, correlation id, content)`` records, in order, under one
    lock of the head (inside the caller's transaction)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("the message log is written inside the message's transaction")
    head, _ = LogHead.objects.select_for_update().get_or_create(pk=1)
    recorded_at = timezone.now()
    moment = format_time(recorded_at)
    previous, sequence, records = head.digest, head.sequence, []
    for kind, envelope_id, correlation_id, content in items:
        sequence += 1
        content_sha256 = hashlib.sha256(content.encode("utf-8")).hexdigest()
        digest = _digest(
            previous, sequence, kind, envelope_id, correlation_id, moment, content_sha256
        )
        records.append(
            LogRecord(
                sequence=sequence,
                kind=kind,
                envelope_id=envelope_id,
                correlation_id=correlation_id,
                recorded_at=recorded_at,
                content=content,
                content_sha256=content_sha256,
                previous_digest=previous,
                digest=digest,
            )
        )
        previous = digest
    LogRecord.objects.bulk_create(records)
    LogHead.objects.filter(pk=1).update(sequence=sequence, digest=previous)
    return records


class TimestampFailed(Exception):
    """The time-stamping authority could not be reached or answered wrongly."""


def timestamp_head(url: str) -> LogTimestamp | None:
    """Have the head of the log timestamped (RFC 3161); None if nothing new since the last."""
    import asyncio

    from asn1crypto import tsp
    from pyhanko.sign.timestamps import TimestampRequestError
    from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper

    head = LogHead.objects.filter(pk=1).first()
    if head is None or head.sequence == 0:
        return None
    last = LogTimestamp.objects.order_by("-sequence").first()
    if last is not None and last.sequence >= head.sequence:
        return None
    stamper = RequestsHTTPTimeStamper(url, timeout=30)
    try:
        token = asyncio.run(stamper.async_timestamp(bytes.fromhex(head.digest), "sha256"))
    except (TimestampRequestError, OSError, ValueError) as exc:
        raise TimestampFailed(f"{type(exc).__name__}: {exc}"[:300]) from exc
    info = token["content"]["encap_content_info"]["content"].parsed
    if not isinstance(info, tsp.TSTInfo):
        raise TimestampFailed("the answer is not a timestamp token")
    return LogTimestamp.objects.create(
        sequence=head.sequence,
        digest=head.digest,
        time=info["gen_time"].native,
        authority=url[:300],
        token=token.dump(),
    )


def _timestamp_problem(stamp: LogTimestamp, record: LogRecord | None) -> str:
    """Why a stored timestamp does not prove its record, or ""."""
    import asyncio

    from asn1crypto import cms
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko_certvalidator import ValidationContext

    from lienthong.trust import selectors

    if record is None or record.digest != stamp.digest:
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
    """Walk the chain kept in the database (from the last archived record's digest on);
    name the first record that does not follow from the one before."""
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
        elif record.previous_digest != previous:
            problem = "it does not link to the record before it"
        elif record.digest != _digest(
            previous,
            record.sequence,
            record.kind,
            record.envelope_id,
            record.correlation_id,
            format_time(record.recorded_at),
            record.content_sha256,
        ):
            problem = "its digest does not match its fields"
        if problem:
            return Verification(count, previous, record.sequence, problem)
        previous, expected, count = record.digest, expected + 1, count + 1
    if head is not None and (head.sequence != start + count or head.digest != previous):
        return Verification(
            count, previous, start + count + 1, "the chain's head does not match its end"
        )
    stamps = list(LogTimestamp.objects.filter(sequence__gt=start).order_by("sequence"))
    records = LogRecord.objects.in_bulk([s.sequence for s in stamps], field_name="sequence")
    for stamp in stamps:
        problem = _timestamp_problem(stamp, records.get(stamp.sequence))
        if problem:
            return Verification(count, previous, stamp.sequence, problem, len(stamps))
    return Verification(count, previous, timestamps=len(stamps))


# --- Retention: moving old records to archive files ----------------------------------------


def _line(record: LogRecord) -> dict:
    return {
        "sequence": record.sequence,
        "kind": record.kind,
        "envelope_id": record.envelope_id,
        "correlation_id": record.correlation_id,
        "recorded_at": format_time(record.recorded_at),
        "content": record.content,
        "content_sha256": record.content_sha256,
        "previous_digest": record.previous_digest,
        "digest": record.digest,
    }


@dataclass(frozen=True)
class Archived:
    records: int
    first: int
    last: int
    digest: str


def archive(*, before, path) -> Archived | None:
    """Move the records made before ``before`` (the oldest part of the chain) to ``path``,
    a JSON-lines file, with the timestamps over them; None if there are none.

    The file is written and flushed to disk first; the records leave the
    database only then, in one transaction that also moves the chain's start
    (``LogHead.archived_*``), so ``verify`` goes on from the archived digest and
    ``verify_archive`` checks the file on its own. A failure leaves the
    database as it was (at worst, a file holding copies).
    """
    import json
    import os
    from pathlib import Path

    path = Path(path)
    with transaction.atomic():
        head, _ = LogHead.objects.select_for_update().get_or_create(pk=1)
        records = list(
            LogRecord.objects.filter(
                sequence__gt=head.archived_sequence, recorded_at__lt=before
            ).order_by("sequence")
        )
        # Only an unbroken prefix of the chain can leave.
        kept = []
        for expected, record in enumerate(records, start=head.archived_sequence + 1):
            if record.sequence != expected:
                break
            kept.append(record)
        if not kept:
            return None
        stamps = list(
            LogTimestamp.objects.filter(
                sequence__gt=head.archived_sequence, sequence__lte=kept[-1].sequence
            ).order_by("sequence")
        )
        header = {
            "format": "lienthong-message-log/1",
            "first": kept[0].sequence,
            "last": kept[-1].sequence,
            "previous_digest": head.archived_digest,
        }
        temporary = path.with_name(path.name + ".partial")
        with open(temporary, "w", encoding="utf-8") as output:
            output.write(json.dumps(header) + "\n")
            for record in kept:
                output.write(json.dumps(_line(record)) + "\n")
            for stamp in stamps:
                output.write(
                    json.dumps(
                        {
                            "timestamp_of": stamp.sequence,
                            "digest": stamp.digest,
                            "time": format_time(stamp.time),
                            "authority": stamp.authority,
                            "token": bytes(stamp.token).hex(),
                        }
                    )
                    + "\n"
                )
            output.flush()
            os.fsync(output.fileno())
        os.replace(temporary, path)
        last = kept[-1]
        LogRecord.objects.filter(sequence__lte=last.sequence).delete()
        LogTimestamp.objects.filter(sequence__lte=last.sequence).delete()
        LogHead.objects.filter(pk=1).update(
            archived_sequence=last.sequence, archived_digest=last.digest
        )
    return Archived(len(kept), kept[0].sequence, last.sequence, last.digest)


def verify_archive(path) -> Verification:
    """Check an archive file on its own: every record follows from the one before it,
    starting at the digest its header names; timestamps match the records they name."""
    import json

    count, previous = 0, GENESIS
    try:
        with open(path, encoding="utf-8") as lines:
            header = json.loads(next(lines))
            previous, expected = header["previous_digest"], header["first"]
            digests = {}
            for raw in lines:
                line = json.loads(raw)
                if "timestamp_of" in line:
                    if digests.get(line["timestamp_of"]) != line["digest"]:
                        return Verification(count, previous, line["timestamp_of"],
                                            "a timestamp does not cover the record it names")  # fmt: skip
                    continue
                content_sha256 = hashlib.sha256(line["content"].encode("utf-8")).hexdigest()
                fields = (line["sequence"], line["kind"], line["envelope_id"],
                          line["correlation_id"], line["recorded_at"], content_sha256)  # fmt: skip
                if (
                    line["sequence"] != expected
                    or line["previous_digest"] != previous
                    or content_sha256 != line["content_sha256"]
                    or line["digest"] != _digest(previous, *fields)
                ):
                    return Verification(count, previous, expected, "record does not follow")
                previous, expected, count = line["digest"], expected + 1, count + 1
                digests[line["sequence"]] = line["digest"]
            if expected - 1 != header["last"]:
                return Verification(count, previous, expected, "the file ends early")
    except (OSError, ValueError, KeyError, StopIteration) as exc:
        return Verification(count, previous, count + 1, f"unreadable: {type(exc).__name__}")
    return Verification(count, previous)
