"""Two officers acting on the same dossier at once: one wins, the other is told, nothing is lost."""

from __future__ import annotations

import pytest
from django.db.models import F

from lienthong.audit.models import AuditRecord
from lienthong.dossiers import services
from lienthong.dossiers.errors import DossierConflict
from lienthong.dossiers.models import Dossier, Status
from lienthong.dossiers.tests.conftest import grant, officer, submit
from lienthong.identity.models import Role


def test_of_two_officers_who_read_the_same_version_the_second_is_told_it_is_stale(people):
    tuan = grant(officer("tuan.motcua", "Ngô Anh Tuấn"), people.xanh, Role.ONE_STOP_OFFICER)
    dossier = submit(people.procedure, people.xanh, people.mai)
    lans_copy = Dossier.objects.get(pk=dossier.pk)
    tuans_copy = Dossier.objects.get(pk=dossier.pk)

    services.accept(actor=people.lan, dossier=lans_copy, expected_version=lans_copy.version)
    with pytest.raises(DossierConflict) as refused:
        services.reject(
            actor=tuan, dossier=tuans_copy, reason="Sai mẫu", expected_version=tuans_copy.version
        )

    assert refused.value.code == "stale_dossier"
    dossier.refresh_from_db()
    assert (dossier.status, dossier.version) == (Status.ACCEPTED, 2)
    assert [e.action for e in dossier.events.all()] == ["submitted", "accepted"]
    assert not AuditRecord.objects.filter(object_id=str(dossier.pk), action="rejected").exists()


def test_a_change_that_lands_between_reading_and_writing_makes_the_write_stale(people):
    # Another writer commits after this one checked the version but before its
    # UPDATE: the compare-and-set on version matches no row.
    dossier = submit(people.procedure, people.xanh, people.mai)

    def someone_else_writes(current, now):
        Dossier.objects.filter(pk=current.pk).update(version=F("version") + 1)

    with pytest.raises(DossierConflict) as refused:
        services._transition(
            actor=people.lan,
            dossier=dossier,
            to=Status.ACCEPTED,
            expected_version=1,
            before=someone_else_writes,
        )
    assert refused.value.code == "stale_dossier"
    dossier.refresh_from_db()
    assert (dossier.status, dossier.version) == (Status.NEW, 1)
    assert dossier.events.count() == 1


def test_the_winner_can_go_on_with_the_version_it_got_back(people):
    dossier = submit(people.procedure, people.xanh, people.mai)
    accepted = services.accept(actor=people.lan, dossier=dossier, expected_version=1)
    processing = services.process(
        actor=people.minh, dossier=accepted, expected_version=accepted.version
    )
    assert (processing.status, processing.version) == (Status.PROCESSING, 3)
