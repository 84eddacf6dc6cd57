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


# --- Two officers in two threads, each with its own database connection -----------------
#
# The dossier and the people are committed (the threads cannot see the test's
# own transaction), and removed afterwards. On PostgreSQL both threads read
# version 3 at once and the second UPDATE waits for the first to commit, then
# matches no row; on SQLite (IMMEDIATE transactions) the second waits for the
# first before it reads. Either way exactly one wins.


@pytest.fixture
def committed(django_db_setup, django_db_blocker, test_pki, settings, tmp_path):
    from django.contrib.auth import get_user_model
    from django.db import connections

    from lienthong.catalog.models import RequiredDocument
    from lienthong.catalog.tests.factories import ProcedureFactory
    from lienthong.directory.tests.factories import AgencyFactory
    from lienthong.dossiers.models import DossierCounter
    from lienthong.dossiers.tests.conftest import (
        FORM,
        citizen,
        import_agency_key,
        pdf,
    )
    from lienthong.identity.models import Account, OfficerRole

    settings.DOSSIERS_STORAGE_DIR = tmp_path / "store"
    settings.DOSSIERS_NOTIFY_BACKENDS = ["memory"]
    settings.TSA_URL = ""
    with django_db_blocker.unblock():
        agency = AgencyFactory(name="UBND Phường Chạy Đua (thử nghiệm)")
        procedure = ProcedureFactory(name="Thủ tục thử nghiệm đồng thời", time_limit=3)
        procedure.agencies.add(agency)
        document = RequiredDocument.objects.create(
            procedure=procedure, name="Tờ khai", accepted_types=["pdf"], position=1
        )
        procedure.form_fields.create(key="child_name", kind="text", label="Họ tên", position=1)
        mai = citizen("Nguyễn Thị Mai", "001190019345", phone="0912345678")
        staff = {
            role: grant(officer(f"{role}.race", f"Cán bộ {role}"), agency, role)
            for role in (Role.ONE_STOP_OFFICER, Role.SPECIALIST, Role.LEADER)
        }
        key = import_agency_key(test_pki, agency)
        dossier = services.submit(
            actor=mai,
            procedure=procedure,
            agency=agency,
            form_data={"child_name": FORM["child_name"]},
            documents={document.pk: [pdf()]},
        )
        dossier = services.accept(actor=staff[Role.ONE_STOP_OFFICER], dossier=dossier,
                                  expected_version=1)  # fmt: skip
        dossier = services.process(actor=staff[Role.SPECIALIST], dossier=dossier,
                                   expected_version=2)  # fmt: skip
    yield dossier, staff
    with django_db_blocker.unblock():
        Dossier.objects.filter(pk=dossier.pk).delete()
        DossierCounter.objects.filter(agency=agency).delete()
        key.delete()
        users = [mai, *staff.values()]
        OfficerRole.objects.filter(user__in=users).delete()
        Account.objects.filter(user__in=users).delete()
        for user in users:
            get_user_model().objects.filter(pk=user.pk).update(
                is_active=False, username=f"retired-{user.pk}"
            )
        procedure.agencies.clear()
        procedure.delete()
        connections.close_all()


def test_two_officers_acting_in_two_threads_one_wins_and_nothing_is_lost(
    committed, django_db_blocker
):
    import threading

    from django.db import connection

    from lienthong.dossiers.models import ResultDocument, SupplementRequest
    from lienthong.dossiers.tests.conftest import result_pdf, upload

    dossier, staff = committed
    start = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def leader_approves():
        start.wait()
        outcomes["approve"] = services.approve(
            actor=staff[Role.LEADER],
            dossier=Dossier.objects.get(pk=dossier.pk),
            expected_version=3,
            result=upload(result_pdf()),
        )

    def specialist_asks_for_more():
        start.wait()
        outcomes["supplement"] = services.request_supplement(
            actor=staff[Role.SPECIALIST],
            dossier=Dossier.objects.get(pk=dossier.pk),
            reason="Thiếu bản chính",
            expected_version=3,
        )

    def run(name, work):
        try:
            with django_db_blocker.unblock():
                work()
        except DossierConflict as exc:
            outcomes[name] = exc
        except Exception as exc:  # a failure of the test itself, reported below
            outcomes[name] = repr(exc)
        finally:
            from django.db import connections

            connections.close_all()

    threads = [
        threading.Thread(target=run, args=("approve", leader_approves)),
        threading.Thread(target=run, args=("supplement", specialist_asks_for_more)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    refused = [o for o in outcomes.values() if isinstance(o, DossierConflict)]
    won = [o for o in outcomes.values() if isinstance(o, Dossier)]
    assert len(refused) == 1 and len(won) == 1, (connection.vendor, outcomes)
    assert refused[0].code == "stale_dossier"
    with django_db_blocker.unblock():
        stored = Dossier.objects.get(pk=dossier.pk)
        assert stored.version == 4
        results = ResultDocument.objects.filter(dossier=stored).count()
        requests = SupplementRequest.objects.filter(dossier=stored).count()
        events = list(stored.events.values_list("action", flat=True))
    if isinstance(outcomes["approve"], Dossier):
        assert (stored.status, results, requests) == (Status.DONE, 1, 0)
        assert events[-1] == "done"
    else:
        assert (stored.status, results, requests) == (Status.SUPPLEMENT_REQUESTED, 0, 1)
        assert stored.result_id is None and events[-1] == "supplement_requested"
    assert events.count("done") + events.count("supplement_requested") == 1
