"""Opening a dossier's files from the back office: the officers who may open the
dossier, the file as stored (never shown inline), each opening on record."""

import pytest

from lienthong.audit.models import AuditRecord
from lienthong.dossiers import attachments as dossier_files
from lienthong.portal.tests.conftest import PDF, submitted

from .conftest import page_of

pytestmark = pytest.mark.django_db


def file_of(agency, dossier, attachment) -> str:
    return page_of(agency, dossier) + f"files/{attachment.pk}/"


def test_the_page_links_each_file_and_the_officer_downloads_it_as_stored(
    as_user, lan, xanh, dossier
):
    [document] = dossier.attachments.all()
    client = as_user(lan)
    assert (
        f'href="{file_of(xanh, dossier, document)}"'
        in client.get(page_of(xanh, dossier)).content.decode()
    )

    response = client.get(file_of(xanh, dossier, document))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="giay-chung-sinh.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    [opened] = AuditRecord.objects.filter(action="attachment_opened")
    assert (opened.actor, opened.object_id, opened.changes["sha256"]) == (
        lan,
        str(dossier.pk),
        document.sha256,
    )


def test_a_file_of_another_dossier_or_another_agency_does_not_exist_here(
    as_user, lan, nam, mai, xanh, vang, procedure, dossier
):
    procedure.agencies.add(vang)
    elsewhere = submitted(mai, procedure, vang)
    [theirs] = elsewhere.attachments.all()
    [ours] = dossier.attachments.all()

    assert as_user(lan).get(file_of(xanh, dossier, theirs)).status_code == 404
    assert as_user(lan).get(file_of(vang, elsewhere, theirs)).status_code == 404
    assert as_user(nam).get(file_of(xanh, dossier, ours)).status_code == 404
    assert as_user(nam).get(file_of(vang, dossier, ours)).status_code == 404
    assert as_user(mai).get(file_of(xanh, dossier, ours)).status_code == 404
    assert not AuditRecord.objects.filter(action="attachment_opened").exists()


def test_a_file_whose_stored_copy_is_gone_or_altered_is_not_served(as_user, lan, xanh, dossier):
    [document] = dossier.attachments.all()
    stored = dossier_files.full_path(document.path)
    stored.chmod(0o644)
    stored.write_bytes(PDF + b"altered")
    assert as_user(lan).get(file_of(xanh, dossier, document)).status_code == 404
    stored.unlink()
    assert as_user(lan).get(file_of(xanh, dossier, document)).status_code == 404
