"""Attachment files: checked, content-addressed, written so that a crash leaves nothing half-done.

Files live under ``settings.DOSSIERS_STORAGE_DIR``:

- ``tmp/upload-*``: a file being received;
- ``blobs/ab/abcdef…``: a complete file, named by the SHA-256 of its content.

``store`` writes the upload to a temporary name while hashing it, flushes it
to disk, then renames it (``os.replace``, atomic on one file system) to its
digest. So a name under ``blobs/`` only ever holds complete content, and the
same content is stored once however many dossiers carry it. The caller
creates the ``Attachment`` row afterwards, in its transaction: a crash before
the rename leaves a temporary file; a crash (or rollback) after it leaves a
blob no row names. ``sweep`` removes both once they are a day old. Nothing
leaves a row without its file.

**Staged uploads.** A dossier form that comes back without being submitted (the
address picker without JavaScript, an error) keeps the files already chosen:
``stage`` stores each as a submission does (checked, content-addressed) and names
it with a ``StagedUpload`` row bound to the browser session and the form, for
``STAGED_FOR``; the final submission takes them (``staged_file``) and
``discard_staged`` drops the rows. The blob comes first, the row after: a crash in
between leaves a blob no row names, which ``sweep`` removes like any other. A staged
blob is not swept while its row lives; ``sweep`` deletes expired rows first (not in a
dry run), so their blobs go with the next sweep once old enough.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import mimetypes
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from lienthong.dossiers.errors import AttachmentRefused

CHUNK = 64 * 1024
TMP_PREFIX = "upload-"
# Magic numbers of the types whose content is checked against the file name:
# a ".pdf" that is not a PDF is refused rather than stored.
SIGNATURES = {
    "pdf": (b"%PDF-",),
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "png": (b"\x89PNG\r\n\x1a\n",),
}
MEDIA_TYPES = {
    "pdf": "application/pdf",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
}


def root() -> Path:
    return Path(settings.DOSSIERS_STORAGE_DIR)


def blob_path(sha256: str) -> str:
    """Where content with this digest is stored, relative to ``root()``."""
    return f"blobs/{sha256[:2]}/{sha256}"


def full_path(relative: str) -> Path:
    return root() / relative


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size: int
    media_type: str
    original_name: str
    path: str


def extension(name: str) -> str:
    return Path(name).suffix.lower().lstrip(".")


def accepted_types(document: Any | None) -> list[str]:
    """The file types accepted for ``document`` (a RequiredDocument): its own list,
    else the node's default (``DOSSIERS_ACCEPTED_TYPES``)."""
    listed = list(getattr(document, "accepted_types", None) or [])
    types = listed or list(settings.DOSSIERS_ACCEPTED_TYPES)
    return [t.lower().lstrip(".") for t in types]


def _chunks(upload: Any) -> Iterator[bytes]:
    if hasattr(upload, "seek"):
        upload.seek(0)
    if hasattr(upload, "chunks"):
        yield from upload.chunks(CHUNK)
        return
    reader: BinaryIO = upload
    while chunk := reader.read(CHUNK):
        yield chunk


def store(upload: Any, *, accepted: Iterable[str], max_bytes: int | None = None) -> StoredBlob:
    """Check and store one uploaded file (anything with ``name`` and ``read``/``chunks``).

    Raises AttachmentRefused (``type_not_accepted``, ``too_large``,
    ``empty_file``, ``content_mismatch``) before anything is kept.
    """
    name = Path(getattr(upload, "name", "") or "file").name[:255]
    kind = extension(name)
    if kind not in set(accepted):
        raise AttachmentRefused("type_not_accepted", accepted=sorted(set(accepted)))
    limit = settings.DOSSIERS_MAX_ATTACHMENT_BYTES if max_bytes is None else max_bytes
    declared = getattr(upload, "size", None)
    if declared is not None and declared > limit:
        raise AttachmentRefused("too_large", limit=limit)

    temp_dir = root() / "tmp"
    temp_dir.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=temp_dir, prefix=TMP_PREFIX)
    digest, size, head = hashlib.sha256(), 0, b""
    try:
        with os.fdopen(handle, "wb") as out:
            for chunk in _chunks(upload):
                size += len(chunk)
                # Counted while reading: a client's declared size is not trusted.
                if size > limit:
                    raise AttachmentRefused("too_large", limit=limit)
                if len(head) < 16:
                    head += chunk[: 16 - len(head)]
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size == 0:
            raise AttachmentRefused("empty_file")
        signatures = SIGNATURES.get(kind)
        if signatures and not head.startswith(signatures):
            raise AttachmentRefused("content_mismatch")
        sha256 = digest.hexdigest()
        relative = blob_path(sha256)
        final = full_path(relative)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            # Same content already stored: keep one copy. Touch it so that a
            # sweep running now sees a young file and leaves it for the row
            # about to name it.
            os.utime(final)
            os.unlink(temp_name)
        else:
            os.replace(temp_name, final)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    media_type = (
        MEDIA_TYPES.get(kind) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    )
    return StoredBlob(
        sha256=sha256, size=size, media_type=media_type, original_name=name, path=relative
    )


def store_bytes(content: bytes, *, name: str, accepted: Iterable[str] | None = None) -> StoredBlob:
    """``store`` for content already in memory (a generated result, a received file)."""
    import io

    buffer = io.BytesIO(content)
    buffer.name = name
    return store(buffer, accepted=accepted if accepted is not None else [extension(name)])


def open_blob(relative: str) -> BinaryIO:
    return full_path(relative).open("rb")


# --- Staged uploads ----------------------------------------------------------------------

# How long a file chosen on a form that came back is kept for its submission.
STAGED_FOR = dt.timedelta(hours=2)


def stage(
    upload: Any, *, session_key: str, form_key: str, field: str, accepted: Iterable[str]
) -> Any:
    """Store ``upload`` (checked as ``store`` checks it: AttachmentRefused) and keep it
    for the form ``form_key`` of the session ``session_key`` under the input
    ``field``, replacing the file staged there before. Returns the ``StagedUpload``."""
    from lienthong.dossiers.models import StagedUpload

    if not session_key:
        raise ValueError("a staged upload needs a session")
    blob = store(upload, accepted=accepted)
    now = timezone.now()
    with transaction.atomic():
        StagedUpload.objects.filter(
            session_key=session_key, form_key=form_key, field=field
        ).delete()
        return StagedUpload.objects.create(
            session_key=session_key,
            form_key=form_key,
            field=field,
            sha256=blob.sha256,
            size=blob.size,
            media_type=blob.media_type,
            original_name=blob.original_name,
            path=blob.path,
            staged_at=now,
            expires_at=now + STAGED_FOR,
        )


def staged(session_key: str, form_key: str, *, now=None) -> dict[str, Any]:
    """{input name: StagedUpload} of the form, not expired and whose blob is still its
    size (a blob gone is simply not offered: she chooses the file again)."""
    from lienthong.dossiers.models import StagedUpload

    if not session_key:
        return {}
    rows = StagedUpload.objects.filter(
        session_key=session_key, form_key=form_key, expires_at__gt=now or timezone.now()
    )
    found = {}
    for row in rows:
        path = full_path(row.path)
        if path.is_file() and path.stat().st_size == row.size:
            found[row.field] = row
    return found


def staged_file(row: Any) -> File:
    """A staged upload as an upload the dossiers service stores (its digest is checked
    again when it is stored, like any file)."""
    handle = open_blob(row.path)
    return File(handle, name=row.original_name)


def discard_staged(session_key: str, form_key: str) -> int:
    """Drop the form's staged rows (after its submission: the dossier's attachments
    name the blobs now)."""
    from lienthong.dossiers.models import StagedUpload

    deleted, _kinds = StagedUpload.objects.filter(
        session_key=session_key, form_key=form_key
    ).delete()
    return deleted


@dataclass
class SweepReport:
    temp_files: list[Path] = field(default_factory=list)
    blobs: list[Path] = field(default_factory=list)
    dry_run: bool = True
    expired_staged: int = 0


def sweep(
    *, dry_run: bool = True, older_than: dt.timedelta = dt.timedelta(days=1), now=None
) -> SweepReport:
    """Temporary files and blobs no attachment names, older than ``older_than``;
    removed unless ``dry_run`` (the default). Young files are left alone: they may
    belong to an upload whose transaction has not committed yet."""
    from lienthong.dossiers.models import Attachment, StagedUpload

    moment = now or timezone.now()
    cutoff = (moment - older_than).timestamp()
    report = SweepReport(dry_run=dry_run)
    expired = StagedUpload.objects.filter(expires_at__lte=moment)
    report.expired_staged = expired.count() if dry_run else expired.delete()[0]
    temp_dir = root() / "tmp"
    if temp_dir.is_dir():
        for path in sorted(temp_dir.glob(f"{TMP_PREFIX}*")):
            if path.stat().st_mtime < cutoff:
                report.temp_files.append(path)
    blob_dir = root() / "blobs"
    old = [p for p in sorted(blob_dir.glob("*/*")) if p.is_file() and p.stat().st_mtime < cutoff]
    for start in range(0, len(old), 500):
        batch = old[start : start + 500]
        digests = [p.name for p in batch]
        named = set(
            Attachment.objects.filter(sha256__in=digests).values_list("sha256", flat=True)
        ) | set(
            StagedUpload.objects.filter(sha256__in=digests, expires_at__gt=moment).values_list(
                "sha256", flat=True
            )
        )
        report.blobs.extend(p for p in batch if p.name not in named)
    if not dry_run:
        for path in report.temp_files:
            path.unlink(missing_ok=True)
        for path in report.blobs:
            # Checked again just before removal: an upload of the same content
            # may have touched it since it was listed.
            if path.exists() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
    return report
