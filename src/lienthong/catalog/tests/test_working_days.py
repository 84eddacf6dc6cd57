"""Deadlines in working days on Vietnam's calendar: worked examples and properties.

The calendar here is built from the holidays package in memory (the same days
``lienthong catalog holidays --load`` writes), so these tests need no database.
"""

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lienthong.catalog.models import HolidayKind
from lienthong.catalog.public_holidays import from_package
from lienthong.catalog.working_days import (
    VIETNAM,
    WorkingCalendar,
    add_calendar_days,
    add_working_days,
    working_days_between,
)

SPECS = [spec for year in (2026, 2027, 2028) for spec in from_package(year)]
CALENDAR = WorkingCalendar(
    days_off=frozenset(s.date for s in SPECS if s.kind != HolidayKind.WORKING_DAY),
    working_days=frozenset(s.date for s in SPECS if s.kind == HolidayKind.WORKING_DAY),
)


def at(text: str) -> dt.datetime:
    """A moment in Vietnam time, written dd/mm/yyyy HH:MM."""
    return dt.datetime.strptime(text, "%d/%m/%Y %H:%M").replace(tzinfo=VIETNAM)


def deadline(start: str, days, paused=()) -> str:
    return f"{add_working_days(at(start), days, paused=paused, calendar=CALENDAR):%d/%m/%Y %H:%M}"


def test_the_day_of_receipt_is_not_counted():
    # Monday 7/6/2027 → Tuesday 1, Wednesday 2, Thursday 3.
    assert deadline("07/06/2027 09:00", 3) == "10/06/2027 17:00"


def test_zero_days_is_the_same_day():
    assert deadline("07/06/2027 16:59", 0) == "07/06/2027 17:00"


def test_a_dossier_received_after_hours_counts_from_the_next_working_day():
    assert deadline("07/06/2027 17:00", 0) == "08/06/2027 17:00"
    assert deadline("11/06/2027 20:00", 1) == "15/06/2027 17:00"  # Friday evening


def test_a_dossier_received_at_the_weekend_counts_from_monday():
    assert deadline("12/06/2027 10:00", 1) == "15/06/2027 17:00"


def test_a_half_day_ends_at_noon_of_the_next_working_day():
    assert deadline("07/06/2027 09:00", Decimal("0.5")) == "08/06/2027 12:00"
    assert deadline("07/06/2027 09:00", 1.5) == "09/06/2027 12:00"


def test_tet_2027_is_skipped():
    # Days off from Thursday 4/2 to Wednesday 10/2/2027 (29 Tết to mùng 5).
    assert deadline("03/02/2027 10:00", 3) == "15/02/2027 17:00"
    assert deadline("05/02/2027 10:00", 0) == "11/02/2027 17:00"


def test_30_april_and_1_may_2027_are_skipped_with_the_day_off_in_lieu():
    # Friday 30/4 and Saturday 1/5 are holidays; Monday 3/5 is the day off in lieu.
    assert deadline("29/04/2027 09:00", 1) == "04/05/2027 17:00"


def test_national_day_2027_takes_two_days():
    # Thursday 2/9 and Friday 3/9/2027.
    assert deadline("01/09/2027 16:59", 2) == "07/09/2027 17:00"
    assert deadline("01/09/2027 17:30", 2) == "08/09/2027 17:00"


def test_a_make_up_working_saturday_counts_and_its_bridged_day_does_not():
    # 2026: Saturday 22/8 is worked in exchange for Monday 31/8 off; 1-2/9 are holidays.
    assert deadline("21/08/2026 10:00", 1) == "22/08/2026 17:00"
    assert deadline("28/08/2026 10:00", 1) == "03/09/2026 17:00"


def test_it_pauses_the_deadline_while_a_supplement_is_awaited():
    # 5 working days from Monday 7/6/2027: Monday 14/6. The supplement was awaited from
    # Tuesday 10:00 to Thursday 10:00 — 7 + 9 + 2 = 18 office hours, two working days.
    paused = [(at("08/06/2027 10:00"), at("10/06/2027 10:00"))]
    assert deadline("07/06/2027 09:00", 5) == "14/06/2027 17:00"
    assert deadline("07/06/2027 09:00", 5, paused) == "16/06/2027 17:00"


def test_a_pause_outside_office_hours_changes_nothing():
    night = [(at("08/06/2027 17:00"), at("09/06/2027 08:00"))]
    assert deadline("07/06/2027 09:00", 5, night) == "14/06/2027 17:00"


def test_counting_a_span_gives_the_time_limit_it_uses():
    start = at("03/02/2027 10:00")
    assert working_days_between(start, at("15/02/2027 17:00"), calendar=CALENDAR) == 3
    assert working_days_between(start, at("15/02/2027 09:00"), calendar=CALENDAR) == Decimal("2.5")
    assert working_days_between(start, at("03/02/2027 20:00"), calendar=CALENDAR) == 0


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="half days"):
        add_working_days(at("07/06/2027 09:00"), Decimal("0.3"), calendar=CALENDAR)
    with pytest.raises(ValueError, match="half days"):
        add_working_days(at("07/06/2027 09:00"), -1, calendar=CALENDAR)
    with pytest.raises(ValueError, match="time-zone-aware"):
        add_working_days(dt.datetime(2027, 6, 7, 9), 1, calendar=CALENDAR)
    with pytest.raises(ValueError, match="before it begins"):
        add_working_days(
            at("07/06/2027 09:00"),
            1,
            paused=[(at("08/06/2027 10:00"), at("08/06/2027 09:00"))],
            calendar=CALENDAR,
        )


def test_the_calendar_can_come_from_the_holiday_table(catalog):
    from_table = WorkingCalendar.from_database()
    assert not from_table.is_working_day(dt.date(2027, 2, 8))  # mùng 3 Tết
    assert from_table.is_working_day(dt.date(2026, 8, 22))  # make-up Saturday
    received = at("03/02/2027 10:00")
    assert add_working_days(received, 3) == add_working_days(received, 3, calendar=CALENDAR)


# Properties, over 2026-2027 received at any minute and paused at random.
moments = st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 12, 31)).map(
    lambda m: m.replace(second=0, microsecond=0, tzinfo=VIETNAM)
)
time_limits = st.integers(min_value=0, max_value=60).map(lambda halves: Decimal(halves) / 2)
pauses = st.lists(
    st.tuples(moments, st.integers(min_value=0, max_value=14 * 24 * 60)).map(
        lambda p: (p[0], p[0] + dt.timedelta(minutes=p[1]))
    ),
    max_size=3,
)
FAST = settings(max_examples=60, deadline=None)


@FAST
@given(start=moments, first=time_limits, second=time_limits, paused=pauses)
def test_a_longer_time_limit_never_ends_earlier(start, first, second, paused):
    low, high = sorted((first, second))
    earlier = add_working_days(start, low, paused=paused, calendar=CALENDAR)
    assert earlier <= add_working_days(start, high, paused=paused, calendar=CALENDAR)


@FAST
@given(first=moments, second=moments, days=time_limits)
def test_a_later_receipt_never_ends_earlier(first, second, days):
    early, late = sorted((first, second))
    assert add_working_days(early, days, calendar=CALENDAR) <= add_working_days(
        late, days, calendar=CALENDAR
    )


@FAST
@given(start=moments, days=time_limits, paused=pauses)
def test_counting_back_a_deadline_gives_its_time_limit(start, days, paused):
    end = add_working_days(start, days, paused=paused, calendar=CALENDAR)
    assert working_days_between(start, end, paused=paused, calendar=CALENDAR) == days


@FAST
@given(start=moments, days=time_limits, paused=pauses, extra=pauses)
def test_pauses_only_ever_push_the_deadline_later(start, days, paused, extra):
    unpaused = add_working_days(start, days, calendar=CALENDAR)
    with_pauses = add_working_days(start, days, paused=paused, calendar=CALENDAR)
    with_more = add_working_days(start, days, paused=paused + extra, calendar=CALENDAR)
    assert unpaused <= with_pauses <= with_more


@FAST
@given(start=moments, days=time_limits, paused=pauses)
def test_a_deadline_falls_in_office_hours_of_a_working_day(start, days, paused):
    end = add_working_days(start, days, paused=paused, calendar=CALENDAR)
    assert CALENDAR.is_working_day(end.date())
    assert dt.time(8, 0) < end.time() <= dt.time(17, 0)


def test_a_time_limit_in_days_counts_every_day_but_ends_on_a_working_day():
    received = at("07/06/2027 09:00")
    assert add_calendar_days(received, 15, calendar=CALENDAR) == at("22/06/2027 17:00")
    # Thursday + 2 days is a Saturday: the limit ends on Monday.
    assert add_calendar_days(at("01/07/2027 09:00"), 2, calendar=CALENDAR) == at("05/07/2027 17:00")
    # A pause of a day and a half adds two days.
    paused = [(at("08/06/2027 08:00"), at("09/06/2027 20:00"))]
    assert add_calendar_days(received, 15, paused=paused, calendar=CALENDAR) == at(
        "24/06/2027 17:00"
    )


def test_a_procedure_computes_its_own_deadline(catalog):
    from lienthong.catalog.models import Procedure

    received = at("03/02/2027 10:00")
    residence = Procedure.objects.get(code="LT.000004")  # 7 working days
    permit = Procedure.objects.get(code="LT.000009")  # 15 days
    card = Procedure.objects.get(code="LT.000007")  # none recorded
    assert residence.deadline(received, calendar=CALENDAR) == at("19/02/2027 17:00")
    assert permit.deadline(received, calendar=CALENDAR) == at("18/02/2027 17:00")
    assert card.deadline(received) is None
