"""Attachments: limited in size and type, content-addressed, never half-written."""

from __future__ import annotations

import hashlib
import io
import os
import time

import pytest
from django.core.management import call_command

from lienthong.dossiers import attachments
from lienthong.dossiers.errors import AttachmentRefused, DossierConflict
from lienthong.dossiers.models import Attachment, Dossier
from lienthong.dossiers.tests.conftest import PDF, birth_certificate, pdf, submit


def stored_files(settings) -> list[str]:
    root = settings.DOSSIERS_STORAGE_DIR
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_the_same_content_is_stored_once_under_its_digest(people, settings):
    first = submit(people.procedure, people.xanh, people.mai)
    second = submit(people.procedure, people.xanh, people.binh)

    a, b = first.attachments.get(), second.attachments.get()
    assert a.sha256 == b.sha256 == hashlib.sha256(PDF).hexdigest()
    assert (a.size, a.media_type, a.original_name) == (
        len(PDF),
        "application/pdf",
        "giay-chung-sinh.pdf",
    )
    assert stored_files(settings) == [f"blobs/{a.sha256[:2]}/{a.sha256}"]
    with attachments.open_blob(a.path) as blob:
        assert blob.read() == PDF


def stream(content: bytes, name: str = "giay-chung-sinh.pdf") -> io.BytesIO:
    """An upload that does not declare its size: only reading it tells."""
    upload = io.BytesIO(content)
    upload.name = name
    return upload


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: pdf(extra=b"x" * 70 * 1024), "too_large"),
        (lambda: stream(PDF + b"x" * 70 * 1024), "too_large"),
        (lambda: stream(b""), "empty_file"),
        (lambda: pdf(name="giay-chung-sinh.docx"), "type_not_accepted"),
        (lambda: pdf(name="anh.jpg"), "type_not_accepted"),  # this document takes PDF only
    ],
    ids=["declared-too-large", "streamed-too-large", "empty", "docx", "jpg-for-pdf-only"],
)
def test_a_file_too_large_empty_or_of_a_type_not_accepted_is_refused_and_nothing_kept(
    people, settings, make, code
):
    documents = {birth_certificate(people.procedure).pk: [make()]}
    with pytest.raises(AttachmentRefused) as refused:
        submit(people.procedure, people.xanh, people.mai, documents=documents)
    assert refused.value.code == code
    assert not Dossier.objects.exists()
    assert stored_files(settings) == []


def test_a_file_whose_content_is_not_its_type_is_refused(people):
    fake = stream(b"MZ\x90\x00 not a pdf")
    with pytest.raises(AttachmentRefused) as refused:
        submit(
            people.procedure,
            people.xanh,
            people.mai,
            documents={birth_certificate(people.procedure).pk: [fake]},
        )
    assert refused.value.code == "content_mismatch"


class BrokenUpload(io.BytesIO):
    """An upload whose connection drops after the first chunk."""

    name = "giay-chung-sinh.pdf"

    def read(self, size=-1):
        if self.tell() > 0:
            raise ConnectionResetError("client went away")
        return super().read(attachments.CHUNK)


def test_a_crash_mid_upload_leaves_neither_a_half_file_nor_a_row(people, settings):
    upload = BrokenUpload(PDF + b"x" * (attachments.CHUNK * 2))
    with pytest.raises(ConnectionResetError):
        submit(
            people.procedure,
            people.xanh,
            people.mai,
            documents={birth_certificate(people.procedure).pk: [upload]},
        )
    assert stored_files(settings) == []
    assert not Attachment.objects.exists()
    assert not Dossier.objects.exists()


def test_a_dossier_that_rolls_back_after_the_file_was_stored_leaves_only_an_unnamed_blob(
    people, settings
):
    # The second document is refused after the first was written: the dossier
    # and its rows roll back; the blob stays, named by no row, for the sweep.
    documents = {birth_certificate(people.procedure).pk: [pdf(), pdf(name="x.exe")]}
    with pytest.raises(AttachmentRefused):
        submit(people.procedure, people.xanh, people.mai, documents=documents)
    assert not Attachment.objects.exists()
    assert len([f for f in stored_files(settings) if f.startswith("blobs/")]) == 1


def age(path, days: float) -> None:
    old = time.time() - days * 86400
    os.utime(path, (old, old))


def test_the_sweep_removes_old_orphans_only_and_by_default_only_lists_them(people, settings):
    kept = submit(people.procedure, people.xanh, people.mai).attachments.get()
    age(attachments.full_path(kept.path), 3)
    orphan = attachments.store_bytes(PDF + b"orphan", name="o.pdf")
    young_orphan = attachments.store_bytes(PDF + b"young", name="y.pdf")
    age(attachments.full_path(orphan.path), 2)
    temp = settings.DOSSIERS_STORAGE_DIR / "tmp" / "upload-crashed"
    temp.write_bytes(b"%PDF-half")
    age(temp, 2)

    listed = attachments.sweep()
    assert listed.dry_run
    assert listed.blobs == [attachments.full_path(orphan.path)]
    assert listed.temp_files == [temp]
    assert temp.exists() and attachments.full_path(orphan.path).exists()

    call_command("dossiers", "sweep", "--delete", stdout=io.StringIO())
    assert not temp.exists()
    assert not attachments.full_path(orphan.path).exists()
    assert attachments.full_path(kept.path).exists()
    assert attachments.full_path(young_orphan.path).exists()


def test_storing_content_again_makes_an_old_blob_young_so_the_sweep_spares_it(people, settings):
    blob = attachments.store_bytes(PDF, name="a.pdf")
    age(attachments.full_path(blob.path), 2)
    attachments.store_bytes(PDF, name="b.pdf")  # its row is about to be written
    assert attachments.sweep(dry_run=False).blobs == []
    assert attachments.full_path(blob.path).exists()


def test_answering_a_supplement_needs_a_file(people):
    from lienthong.dossiers import services

    dossier = submit(people.procedure, people.xanh, people.mai)
    asked = services.request_supplement(
        actor=people.lan, dossier=dossier, reason="Thiếu", expected_version=1
    )
    with pytest.raises(DossierConflict):
        services.answer_supplement(actor=people.mai, dossier=asked, files=[], expected_version=2)
    assert asked.supplement_requests.get().answered_at is None
