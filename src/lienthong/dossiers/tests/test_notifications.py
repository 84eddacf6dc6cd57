"""The applicant is told of every status change, after it commits, through the configured backends."""

from __future__ import annotations

import json

import pytest

from lienthong.dossiers import notifications, services
from lienthong.dossiers.errors import DossierConflict
from lienthong.dossiers.tests.conftest import MAI_PHONE, submit
from lienthong.identity import sms


def test_a_status_change_is_notified_once_it_commits(people, django_capture_on_commit_callbacks):
    dossier = submit(people.procedure, people.xanh, people.mai)
    notifications.MemoryBackend.outbox.clear()
    with django_capture_on_commit_callbacks(execute=False) as pending:
        services.accept(actor=people.lan, dossier=dossier, expected_version=1)
    assert notifications.MemoryBackend.outbox == []  # not before the commit
    for callback in pending:
        callback()
    [notice] = notifications.MemoryBackend.outbox
    assert (notice.code, notice.status, notice.phone, notice.email) == (
        dossier.code,
        2,
        MAI_PHONE,
        "mai@example.test",
    )
    assert notice.text == f"Hồ sơ {dossier.code}: Hồ sơ đã được tiếp nhận."


def test_a_refused_change_notifies_nobody(people, django_capture_on_commit_callbacks):
    dossier = submit(people.procedure, people.xanh, people.mai)
    with (
        django_capture_on_commit_callbacks(execute=True) as pending,
        pytest.raises(DossierConflict),
    ):
        services.accept(actor=people.mai, dossier=dossier, expected_version=1)
    assert pending == []


def test_the_file_and_sms_backends_write_where_the_demo_reads(
    people, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.DATA_DIR = tmp_path
    settings.DOSSIERS_NOTIFY_BACKENDS = ["file", "sms"]
    settings.IDENTITY_SMS_BACKEND = "memory"
    sms.MemoryGateway.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        dossier = submit(people.procedure, people.xanh, people.mai)

    [line] = (tmp_path / "dossiers" / "notifications.jsonl").read_text().splitlines()
    assert json.loads(line)["code"] == dossier.code
    assert [m.phone for m in sms.MemoryGateway.outbox] == [MAI_PHONE]
    sms.MemoryGateway.outbox.clear()


def test_a_failing_backend_does_not_undo_the_change(
    people, settings, django_capture_on_commit_callbacks
):
    class Broken(notifications.Backend):
        def send(self, notice):
            raise OSError("mail server down")

    settings.DOSSIERS_NOTIFY_BACKENDS = ["memory"]
    notifications.BACKENDS["broken"] = Broken
    try:
        settings.DOSSIERS_NOTIFY_BACKENDS = ["broken", "memory"]
        with django_capture_on_commit_callbacks(execute=True):
            dossier = submit(people.procedure, people.xanh, people.mai)
    finally:
        del notifications.BACKENDS["broken"]
    assert notifications.MemoryBackend.outbox[-1].code == dossier.code
