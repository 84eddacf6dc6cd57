"""Attachments: files that envelopes reference by SHA-256, and how they travel.

An envelope names its attachments by digest, size and media type; the files
live in each node's content-addressed store (``<data folder>/exchange-files/
ab/cd/<sha256>``), written through a temporary file, hashed while streaming,
and renamed into place only when the digest and size match — so a name in the
store always holds exactly those bytes, and a crash mid-transfer leaves at
most a temporary file (``sweep`` removes it).

Before posting a batch, the sending worker offers the receiving node every
file the batch references (``HEAD`` then, if missing, a streamed ``PUT
/api/v1/exchange/files/{sha256}``); the receiver accepts an envelope only once
every file it references is in its store with the stated size
(``attachment_missing`` otherwise, retried). Files are limited to
``LIENTHONG_EXCHANGE_MAX_ATTACHMENT_BYTES`` each.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from django.conf import settings

SHA256_RE = re.compile(r"[0-9a-f]{64}")
CHUNK = 256 * 1024


# code: (HTTP status, Vietnamese, English)
REFUSALS = {
    "invalid_digest": (422, "Mã băm SHA-256 không hợp lệ.", "Not a SHA-256 digest."),
    "attachment_too_large": (
        413,
        "Tệp đính kèm vượt quá giới hạn cho phép.",
        "The attachment is larger than allowed.",
    ),
    "digest_mismatch": (
        422,
        "Nội dung tệp không khớp mã băm SHA-256 đã nêu.",
        "The file's content does not match the stated SHA-256.",
    ),
    "size_mismatch": (
        422,
        "Kích thước tệp không khớp độ dài đã nêu.",
        "The file's size does not match the stated length.",
    ),
}


class AttachmentRefused(ValueError):
    """A file that cannot be stored; ``code`` is stable."""

    def __init__(self, code: str, detail: str = ""):
        self.code, self.detail = code, detail
        super().__init__(f"{code}: {detail}" if detail else code)


def root() -> Path:
    return Path(settings.DATA_DIR) / "exchange-files"


def path_of(sha256: str) -> Path:
    if not SHA256_RE.fullmatch(sha256):
        raise AttachmentRefused("invalid_digest", sha256[:80])
    return root() / sha256[:2] / sha256[2:4] / sha256


def size_of(sha256: str) -> int | None:
    """The stored file's size, or None when the store does not hold it."""
    try:
        return path_of(sha256).stat().st_size
    except FileNotFoundError:
        return None


def store(chunks: Iterable[bytes], *, sha256: str | None = None, size: int | None = None) -> str:
    """Stream ``chunks`` into the store; returns the digest. With ``sha256``/``size``
    given, bytes that do not match are refused and nothing is kept."""
    limit = settings.EXCHANGE_MAX_ATTACHMENT_BYTES
    if size is not None and size > limit:
        raise AttachmentRefused("attachment_too_large", f"{size} > {limit}")
    if sha256 is not None:
        path_of(sha256)  # validates the digest's form
    folder = root() / "incoming"
    folder.mkdir(parents=True, exist_ok=True)
    digest, written = hashlib.sha256(), 0
    handle, temporary = tempfile.mkstemp(dir=folder, prefix="part-")
    try:
        with os.fdopen(handle, "wb") as output:
            for chunk in chunks:
                written += len(chunk)
                if written > limit:
                    raise AttachmentRefused("attachment_too_large", f"more than {limit} bytes")
                digest.update(chunk)
                output.write(chunk)
            output.flush()
            os.fsync(output.fileno())
        actual = digest.hexdigest()
        if sha256 is not None and actual != sha256:
            raise AttachmentRefused("digest_mismatch", f"the bytes hash to {actual}")
        if size is not None and written != size:
            raise AttachmentRefused("size_mismatch", f"{written} bytes, not {size}")
        final = path_of(actual)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temporary, final)  # atomic: the name appears with all its bytes
        return actual
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def store_bytes(data: bytes) -> str:
    return store([data])


# The request body of an upload, as the API documents it (both upload routes).
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def store_upload(request, sha256: str) -> tuple[str, int]:
    """Store a streamed request body under ``sha256`` (checked against its
    Content-Length when given); (digest, size), or AttachmentRefused."""
    length = request.META.get("CONTENT_LENGTH") or ""
    stored = store(
        chunks_of(request), sha256=sha256, size=int(length) if length.isdigit() else None
    )
    return stored, size_of(stored)


def chunks_of(stream) -> Iterator[bytes]:
    """A request body (or any file-like object) read a chunk at a time."""
    while chunk := stream.read(CHUNK):
        yield chunk


def read(sha256: str) -> Iterator[bytes]:
    with open(path_of(sha256), "rb") as source:
        while chunk := source.read(CHUNK):
            yield chunk


def missing(attachments: Iterable) -> list[str]:
    """The digests among an envelope's attachments (envelope.Attachment) that the store
    does not hold with the stated size."""
    return [a.sha256 for a in attachments if size_of(a.sha256) != a.size]


def digests(attachments: Iterable) -> str:
    """The digests as the messages keep them (one text column: who may fetch what)."""
    return " ".join(a.sha256 for a in attachments)


def sweep(*, older_than_seconds: int = 24 * 3600, delete: bool = False) -> list[Path]:
    """Temporary files left by interrupted transfers, older than the given age (a dry
    run unless ``delete``)."""
    folder = root() / "incoming"
    if not folder.exists():
        return []
    cutoff = time.time() - older_than_seconds
    stale = [p for p in folder.iterdir() if p.is_file() and p.stat().st_mtime < cutoff]
    if delete:
        for path in stale:
            path.unlink(missing_ok=True)
    return stale
