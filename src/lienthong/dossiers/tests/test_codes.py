"""Dossier codes: {agency code}-{yymmdd}-{NNNN}, per agency and day, never twice."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import time_machine
from django.db import connection, connections, transaction

from lienthong.directory.models import Agency
from lienthong.dossiers import services
from lienthong.dossiers.models import DossierCounter, format_code
from lienthong.dossiers.tests.conftest import submit


def test_a_code_is_the_agency_code_the_day_and_a_four_digit_number():
    assert format_code("000.00.00.G12", dt.date(2026, 12, 1), 1) == "000.00.00.G12-261201-0001"
    assert format_code("000.00.00.G12", dt.date(2026, 12, 1), 10000) == "000.00.00.G12-261201-10000"


def test_numbers_run_per_agency_and_start_again_each_day(people):
    with time_machine.travel(dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC), tick=False):
        first = submit(people.procedure, people.xanh, people.mai)
        second = submit(people.procedure, people.xanh, people.binh)
        elsewhere = submit(people.procedure, people.do, people.mai)
    with time_machine.travel(dt.datetime(2026, 12, 2, 9, tzinfo=dt.UTC), tick=False):
        next_day = submit(people.procedure, people.xanh, people.mai)

    xanh = people.xanh.identifier
    assert [first.code, second.code] == [f"{xanh}-261201-0001", f"{xanh}-261201-0002"]
    assert elsewhere.code == f"{people.do.identifier}-261201-0001"
    assert next_day.code == f"{xanh}-261202-0001"


def test_the_day_of_the_code_is_the_day_in_vietnam(people):
    # 18:30 UTC on 1 December is 01:30 on 2 December in Hà Nội.
    with time_machine.travel(dt.datetime(2026, 12, 1, 18, 30, tzinfo=dt.UTC), tick=False):
        dossier = submit(people.procedure, people.xanh, people.mai)
    assert "-261202-" in dossier.code


def test_a_submission_that_fails_gives_its_number_back(people):
    with time_machine.travel(dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC), tick=False):
        with pytest.raises(Exception):  # noqa: B017  (a refused declaration)
            submit(people.procedure, people.xanh, people.mai, form_data={})
        dossier = submit(people.procedure, people.xanh, people.mai)
    assert dossier.code.endswith("-0001")


def test_sequential_allocations_never_repeat_a_number(people):
    at = dt.datetime(2026, 12, 1, 3, tzinfo=dt.UTC)
    with transaction.atomic():
        codes = [services.allocate_code(agency=people.xanh, at=at) for _ in range(50)]
    assert len(set(codes)) == 50
    assert codes[-1].endswith("-0050")


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks need PostgreSQL; SQLite serialises writers"
)
@pytest.mark.django_db
def test_concurrent_allocations_on_postgresql_never_collide():
    # The threads use their own connections and commit: the agency is
    # reference data every test database has, and the day is one no test
    # uses; the counter row is removed at the end.
    agency = Agency.objects.get(identifier="000.00.00.G12")
    at = dt.datetime(2099, 1, 1, 3, tzinfo=dt.UTC)
    threads, per_thread = 8, 5
    start = threading.Barrier(threads)
    codes: list[str] = []
    errors: list[BaseException] = []

    def allocate():
        try:
            start.wait()
            for _ in range(per_thread):
                with transaction.atomic():
                    codes.append(services.allocate_code(agency=agency, at=at))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    def clean_up():
        DossierCounter.objects.filter(agency=agency, day=dt.date(2099, 1, 1)).delete()
        connections.close_all()

    workers = [threading.Thread(target=allocate) for _ in range(threads)]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
    finally:
        cleaner = threading.Thread(target=clean_up)
        cleaner.start()
        cleaner.join(30)

    assert not errors
    numbers = sorted(int(code.rsplit("-", 1)[1]) for code in codes)
    assert numbers == list(range(1, threads * per_thread + 1))
