"""Retention of the message log: the oldest records move to archive files.

An archive is a ZIP file::

    manifest.json      format, first and last sequence, the link the first record follows,
                       the last link, when, and the SHA-256 of the two files below
    records.jsonl      one record a line: every field, its leaf hash, link and content
    timestamps.jsonl   the RFC 3161 tokens over heads inside the archive (base64 DER)

with the SHA-256 of the whole file beside it (``FILE.sha256``, as ``sha256sum``
writes it). The archive ends at the last timestamped head before the cut-off
(when the node timestamps at all), so every archived record is covered by a
token in the same file and evidence can be built from it alone. The file is
written, flushed and fsynced (with its folder) before anything leaves the
database; the records are then deleted in one short transaction that moves
the checkpoint (``LogHead.archived_sequence``/``archived_digest``) to the
last archived link, so ``verify-log`` goes on verifying from there.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from lienthong.exchange import log
from lienthong.exchange.envelope import format_time
from lienthong.exchange.models import LogHead, LogRecord, LogTimestamp

FORMAT = "lienthong-message-log/2"


class ArchiveRefused(Exception):
    """The log cannot be archived as it is (a broken chain, a concurrent archive)."""


@dataclass(frozen=True)
class Archived:
    records: int
    first: int
    last: int
    digest: str
    sha256: str


def _stamp_line(stamp: LogTimestamp) -> dict:
    return {
        "sequence": stamp.sequence,
        "digest": stamp.digest,
        "time": format_time(stamp.time),
        "authority": stamp.authority,
        "token": base64.b64encode(bytes(stamp.token)).decode("ascii"),
        "tsa_certificate": base64.b64encode(bytes(stamp.tsa_certificate)).decode("ascii"),
    }


def _fsync_path(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def archive(*, before: dt.datetime, path) -> Archived | None:
    """Move the records made before ``before`` (the oldest, unbroken part of the chain,
    up to its last timestamped head) to the ZIP file ``path``; None if there are none."""
    path = Path(path)
    head = LogHead.objects.filter(pk=1).first()
    if head is None:
        return None
    start, previous = head.archived_sequence, head.archived_digest
    later = (
        LogRecord.objects.filter(sequence__gt=start, recorded_at__gte=before)
        .order_by("sequence")
        .values_list("sequence", flat=True)
        .first()
    )
    end = (later - 1) if later is not None else head.sequence
    if LogTimestamp.objects.exists():
        end = (
            LogTimestamp.objects.filter(sequence__gt=start, sequence__lte=end)
            .order_by("-sequence")
            .values_list("sequence", flat=True)
            .first()
        ) or start
    if end <= start:
        return None
    stamps = list(
        LogTimestamp.objects.filter(sequence__gt=start, sequence__lte=end).order_by("sequence")
    )
    temporary = path.with_name(path.name + ".partial")
    digests: dict[str, str] = {}
    expected, link = start + 1, previous
    problem = ""
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as output:
        hasher = hashlib.sha256()
        with output.open("records.jsonl", "w") as lines:
            records = LogRecord.objects.filter(sequence__gt=start, sequence__lte=end)
            for record in records.order_by("sequence").iterator(chunk_size=2000):
                line = log.fields(record)
                problem = (
                    f"record #{expected} is missing"
                    if record.sequence != expected
                    else log.record_problem(line, link)
                )
                if not problem and (
                    hashlib.sha256(record.content.encode()).hexdigest() != record.content_sha256
                ):
                    problem = "its content does not match its recorded digest"
                if problem:
                    break
                data = (json.dumps({**line, "content": record.content}) + "\n").encode()
                lines.write(data)
                hasher.update(data)
                expected, link = expected + 1, record.digest
        if problem:
            output.close()
            temporary.unlink()
            raise ArchiveRefused(f"the chain is broken at #{expected}: {problem}")
        digests["records.jsonl"] = hasher.hexdigest()
        stamped = b"".join((json.dumps(_stamp_line(s)) + "\n").encode() for s in stamps)
        output.writestr("timestamps.jsonl", stamped)
        digests["timestamps.jsonl"] = hashlib.sha256(stamped).hexdigest()
        manifest = {
            "format": FORMAT,
            "first": start + 1,
            "last": end,
            "previous_digest": previous,
            "last_digest": link,
            "created_at": format_time(timezone.now()),
            "files": digests,
        }
        output.writestr("manifest.json", json.dumps(manifest, indent=1))
    with open(temporary, "rb") as written:
        os.fsync(written.fileno())
        sha256 = hashlib.file_digest(written, "sha256").hexdigest()
    os.replace(temporary, path)
    checksum = path.with_name(path.name + ".sha256")
    checksum.write_text(f"{sha256}  {path.name}\n")
    _fsync_path(checksum)
    _fsync_path(path.parent)
    # Only now, with the file on disk, do the records leave the database.
    with transaction.atomic():
        locked = LogHead.objects.select_for_update().get(pk=1)
        if locked.archived_sequence != start:
            raise ArchiveRefused("another archive ran meanwhile; this file is a copy")
        LogRecord.objects.filter(sequence__lte=end).delete()
        LogTimestamp.objects.filter(sequence__lte=end).delete()
        LogHead.objects.filter(pk=1).update(archived_sequence=end, archived_digest=link)
    return Archived(end - start, start + 1, end, link, sha256)


@dataclass
class Contents:
    manifest: dict
    path: Path

    def records(self) -> Iterator[dict]:
        with zipfile.ZipFile(self.path) as archive, archive.open("records.jsonl") as lines:
            for raw in lines:
                yield json.loads(raw)

    def stamps(self) -> list[dict]:
        with zipfile.ZipFile(self.path) as archive:
            data = archive.read("timestamps.jsonl")
        return [json.loads(line) for line in data.splitlines() if line.strip()]


def open_archive(path) -> Contents:
    """An archive whose files match its manifest (ValueError otherwise)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            if manifest.get("format") != FORMAT:
                raise ValueError(f"unknown format {manifest.get('format')!r}")
            for name, digest in manifest["files"].items():
                hasher = hashlib.sha256()
                with archive.open(name) as member:
                    for block in iter(lambda: member.read(1 << 20), b""):
                        hasher.update(block)
                if hasher.hexdigest() != digest:
                    raise ValueError(f"{name} does not match the manifest")
    except (OSError, zipfile.BadZipFile, KeyError) as exc:
        raise ValueError(f"not a message-log archive ({type(exc).__name__})") from exc
    return Contents(manifest, path)


def verify_archive(path) -> log.Verification:
    """Check an archive on its own: its manifest; every record follows from the one before,
    starting at the link its manifest names; every timestamp covers the link it names
    (its token's signature is checked by ``verify-log`` and evidence, which have roots)."""
    from lienthong.exchange.verify_evidence import timestamp_problem

    if not zipfile.is_zipfile(path):
        return _verify_legacy_archive(path)
    count, previous = 0, ""
    try:
        contents = open_archive(path)
        manifest = contents.manifest
        previous, expected = manifest["previous_digest"], manifest["first"]
        links = {}
        for line in contents.records():
            if line["sequence"] != expected:
                return log.Verification(count, previous, expected, f"record #{expected} missing")
            content_sha256 = hashlib.sha256(line["content"].encode("utf-8")).hexdigest()
            problem = (
                "its content does not match its recorded digest"
                if content_sha256 != line["content_sha256"]
                else log.record_problem(line, previous)
            )
            if problem:
                return log.Verification(count, previous, expected, problem)
            previous, expected, count = line["digest"], expected + 1, count + 1
            links[line["sequence"]] = line["digest"]
        if expected - 1 != manifest["last"] or previous != manifest["last_digest"]:
            return log.Verification(count, previous, expected, "the file ends early")
        for stamp in contents.stamps():
            token = base64.b64decode(stamp["token"])
            # Without roots, only whom the authority chains to is left unjudged.
            problem = timestamp_problem(token, stamp["digest"], [], []) or ""
            if links.get(stamp["sequence"]) != stamp["digest"] or (
                problem and not problem.startswith("time-stamping authority:")
            ):
                return log.Verification(count, previous, stamp["sequence"],
                                        "a timestamp does not cover the record it names")  # fmt: skip
        return log.Verification(count, previous, timestamps=len(contents.stamps()))
    except (ValueError, KeyError, TypeError) as exc:
        return log.Verification(count, previous, count + 1, f"unreadable: {exc}"[:200])


def _verify_legacy_archive(path) -> log.Verification:
    """An archive written before leaf hashes (JSON lines, "lienthong-message-log/1"): a
    header line, version-1 records with their content, then their timestamps."""
    count, previous = 0, ""
    try:
        with open(path, encoding="utf-8") as lines:
            header = json.loads(next(lines))
            previous, expected = header["previous_digest"], header["first"]
            links = {}
            for raw in lines:
                line = json.loads(raw)
                if "timestamp_of" in line:
                    if links.get(line["timestamp_of"]) != line["digest"]:
                        return log.Verification(count, previous, line["timestamp_of"],
                                                "a timestamp does not cover the record it names")  # fmt: skip
                    continue
                line = {**line, "version": 1, "leaf": ""}
                content_sha256 = hashlib.sha256(line["content"].encode("utf-8")).hexdigest()
                problem = (
                    "its content does not match its recorded digest"
                    if line["sequence"] != expected or content_sha256 != line["content_sha256"]
                    else log.record_problem(line, previous)
                )
                if problem:
                    return log.Verification(count, previous, expected, problem)
                previous, expected, count = line["digest"], expected + 1, count + 1
                links[line["sequence"]] = line["digest"]
            if expected - 1 != header["last"]:
                return log.Verification(count, previous, expected, "the file ends early")
    except (OSError, ValueError, KeyError, StopIteration) as exc:
        return log.Verification(count, previous, count + 1, f"unreadable: {type(exc).__name__}")
    return log.Verification(count, previous)
