"""Deadlines: counted from acceptance in working days, paused while a supplement is awaited."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from lienthong.catalog.models import Holiday, HolidayKind
from lienthong.dossiers import selectors, services
from lienthong.dossiers.models import Status
from lienthong.dossiers.tests.conftest import pdf, submit

VN = dt.timezone(dt.timedelta(hours=7))


def at(day: int, hour: int, month: int = 2, minute: int = 0) -> dt.datetime:
    return dt.datetime(2027, month, day, hour, minute, tzinfo=VN)


@pytest.fixture
def calendar(holidays_2026_2027):
    """Tết 2027: 4 to 10 February are days off (Thursday to Wednesday)."""
    assert Holiday.objects.filter(date=dt.date(2027, 2, 8)).exists()


def accepted_on(people, moment):
    with time_machine.travel(moment - dt.timedelta(hours=1), tick=False):
        dossier = submit(people.procedure, people.xanh, people.mai)
    with time_machine.travel(moment, tick=False):
        return services.accept(actor=people.lan, dossier=dossier, expected_version=1)


def test_the_deadline_is_computed_at_acceptance_and_skips_tet(people, calendar):
    # Three working days from Wednesday 3 Feb: Tết is off, so 11, 12 and 15 Feb.
    dossier = accepted_on(people, at(3, 10))
    assert dossier.due_at == at(15, 17)
    assert dossier.due_at == people.procedure.deadline(dossier.accepted_at)


def test_an_operators_extra_day_off_moves_the_deadline(people, calendar):
    Holiday.objects.create(date=dt.date(2027, 2, 12), name="Nghỉ bù", kind=HolidayKind.DAY_OFF)
    assert accepted_on(people, at(3, 10)).due_at == at(16, 17)


@pytest.fixture
def paused_over_tet(people, calendar):
    """Accepted Monday 1 Feb 09:00 (due Thursday 11 Feb without a pause); a
    supplement asked on Tuesday 2 Feb 08:00 and answered on Thursday 11 Feb 08:00."""
    dossier = accepted_on(people, at(1, 9))
    assert dossier.due_at == at(11, 17)
    with time_machine.travel(at(1, 10), tick=False):
        dossier = services.process(actor=people.minh, dossier=dossier, expected_version=2)
    with time_machine.travel(at(2, 8), tick=False):
        dossier = services.request_supplement(
            actor=people.minh, dossier=dossier, reason="Thiếu giấy chứng sinh", expected_version=3
        )
    return dossier


def test_it_pauses_the_deadline_while_a_supplement_is_awaited(people, paused_over_tet):
    dossier = paused_over_tet
    # Still waiting after the original deadline: the clock stands still, not late.
    assert not dossier.is_overdue(now=at(12, 10))
    assert not dossier.is_due_soon(now=at(11, 9))
    with time_machine.travel(at(11, 8), tick=False):
        answered = services.answer_supplement(
            actor=people.mai, dossier=dossier, files=[pdf("bo-sung.pdf")], expected_version=4
        )
    # Two working days paused (2 and 3 Feb; Tết was off anyway): 15 Feb, not 20 Feb.
    assert answered.status == Status.PROCESSING
    assert answered.due_at == at(15, 17)
    assert answered.pauses() == [(at(2, 8), at(11, 8))]


def test_due_soon_overdue_and_on_time_are_computed(people, paused_over_tet):
    with time_machine.travel(at(11, 8), tick=False):
        dossier = services.answer_supplement(
            actor=people.mai,
            dossier=paused_over_tet,
            files=[pdf("bo-sung.pdf")],
            expected_version=4,
        )
    assert not dossier.is_due_soon(now=at(11, 9))  # due Monday 15th, beyond the next working day
    assert dossier.is_due_soon(now=at(12, 9))
    assert not dossier.is_overdue(now=at(15, 16, minute=59))
    assert dossier.is_overdue(now=at(16, 9))
    assert dossier.timeliness() is None

    with time_machine.travel(at(15, 16), tick=False):
        done = services.approve(actor=people.hoa, dossier=dossier, expected_version=dossier.version)
    assert (done.timeliness(), done.is_overdue(now=at(20, 9))) == ("on_time", False)


def test_a_dossier_decided_after_its_deadline_stays_overdue(people, calendar):
    dossier = accepted_on(people, at(3, 10))
    with time_machine.travel(at(16, 9), tick=False):
        dossier = services.process(actor=people.minh, dossier=dossier, expected_version=2)
        done = services.approve(actor=people.hoa, dossier=dossier, expected_version=3)
    assert done.timeliness() == "overdue"


def test_the_officer_queue_sorts_new_due_soon_overdue_and_waiting(people, calendar):
    late = accepted_on(people, at(1, 9))  # due 11 Feb
    soon = accepted_on(people, at(3, 10))  # due 15 Feb
    with time_machine.travel(at(12, 9), tick=False):
        fresh = submit(people.procedure, people.xanh, people.binh)
        waiting = submit(people.procedure, people.xanh, people.mai)
        waiting = services.request_supplement(
            actor=people.lan, dossier=waiting, reason="Thiếu", expected_version=1
        )

    def queue(name):
        return list(selectors.officer_queue(people.lan, people.xanh, name, now=at(12, 9)))

    assert queue("new") == [fresh]
    assert queue("overdue") == [late]
    assert queue("due_soon") == [soon]
    assert queue("supplement") == [waiting]
    assert set(queue("open")) == {late, soon, fresh, waiting}
