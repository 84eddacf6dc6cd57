"""Legal time limits counted in working days, on Vietnam's calendar of public holidays.

The rules this module applies (docs/catalog.md explains them for operators):

* A working day is Monday to Friday, except public holidays and compensatory
  days off; a make-up working day (a Saturday worked in exchange for a bridged
  day off) is a working day. The days come from the ``Holiday`` table, which
  operators amend per year.
* Office hours are 08:00-17:00, Vietnam time (UTC+7, no daylight saving).
* Receipt: a dossier received on a working day before 17:00 is received that
  day (before 08:00: at 08:00). One received after 17:00, or on a day off, is
  received at 08:00 on the next working day. This is the convention of this
  node, stated here so that it can be changed in one place.
* A time limit of N working days ends at 17:00 on the N-th working day after
  the day of receipt: as in the Civil Code's counting of periods, the day of
  receipt is not counted. N = 0 means the same day (17:00 on the day of
  receipt). A half day ends at noon: N + 0.5 days end at 12:00 on the
  (N + 1)-th working day.
* Pauses (for instance while a supplement is awaited) stop the clock: the
  office hours they cover do not count, so the deadline moves later by that
  much working time. A pause never brings a deadline earlier.
* Some laws set a time limit in days, not working days (15 days for a
  construction permit): ``add_calendar_days`` counts every day from the day
  after receipt, adds the time paused in whole days (rounded up), and when the
  last day is a day off the limit ends on the next working day (Civil Code
  2015, Articles 147 and 148).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
OFFICE_OPENS = dt.time(8, 0)
NOON = dt.time(12, 0)
OFFICE_CLOSES = dt.time(17, 0)
WORKING_DAY = dt.timedelta(hours=9)  # 08:00-17:00
HALF_DAY = dt.timedelta(hours=4)  # 08:00-12:00: the working time a half day adds
# No real calendar has a year without a working day; a table that says so is
# broken, and a bounded search turns that into an error instead of a hang.
MAX_DAYS_SEARCHED = 3 * 366
MAX_TIME_LIMIT = Decimal(3650)

Pause = tuple[dt.datetime, dt.datetime]


@dataclass(frozen=True)
class WorkingCalendar:
    """Which days are worked: weekdays, less ``days_off``, plus ``working_days``."""

    days_off: frozenset[dt.date] = frozenset()
    working_days: frozenset[dt.date] = frozenset()

    @classmethod
    def from_database(cls) -> WorkingCalendar:
        """The calendar of the ``Holiday`` table (one small query)."""
        from lienthong.catalog.models import Holiday, HolidayKind

        days_off, working = set(), set()
        for day, kind in Holiday.objects.values_list("date", "kind"):
            (working if kind == HolidayKind.WORKING_DAY else days_off).add(day)
        return cls(frozenset(days_off), frozenset(working))

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.working_days:
            return True
        if day in self.days_off:
            return False
        return day.weekday() < 5

    def next_working_day(self, day: dt.date) -> dt.date:
        """The first working day strictly after ``day``."""
        for offset in range(1, MAX_DAYS_SEARCHED):
            candidate = day + dt.timedelta(days=offset)
            if self.is_working_day(candidate):
                return candidate
        raise ValueError(f"no working day within {MAX_DAYS_SEARCHED} days after {day}")

    def nth_working_day_after(self, day: dt.date, n: int) -> dt.date:
        """The n-th working day after ``day``; ``day`` itself when n is 0."""
        for _ in range(n):
            day = self.next_working_day(day)
        return day


def _local(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("a time-zone-aware datetime is required")
    return moment.astimezone(VIETNAM)


def _at(day: dt.date, time: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, time, tzinfo=VIETNAM)


def _time_limit(days: int | float | Decimal) -> tuple[int, bool]:
    """(whole days, plus a half day?) of a time limit, refusing what is not a half-day multiple."""
    value = Decimal(str(days))
    if value < 0 or value > MAX_TIME_LIMIT or (value * 2) % 1:
        raise ValueError(f"a time limit is 0 to {MAX_TIME_LIMIT} in half days, not {days}")
    whole = int(value)
    return whole, value != whole


def counting_start(start: dt.datetime, calendar: WorkingCalendar) -> dt.datetime:
    """When the clock starts for something received at ``start`` (see the module's rules)."""
    local = _local(start)
    day = local.date()
    if calendar.is_working_day(day) and local.time() < OFFICE_CLOSES:
        return max(local, _at(day, OFFICE_OPENS))
    return _at(calendar.next_working_day(day), OFFICE_OPENS)


def _merged(paused: Iterable[Pause]) -> list[Pause]:
    """Pauses in local time, sorted, overlaps merged, so no time is subtracted twice."""
    pauses = []
    for begin, end in paused:
        begin, end = _local(begin), _local(end)
        if end < begin:
            raise ValueError(f"a pause cannot end ({end}) before it begins ({begin})")
        if end > begin:
            pauses.append((begin, end))
    pauses.sort()
    merged: list[Pause] = []
    for begin, end in pauses:
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def _unpaused(low: dt.datetime, high: dt.datetime, pauses: Sequence[Pause]) -> list[Pause]:
    """The parts of [low, high] outside every pause, in order."""
    parts, cursor = [], low
    for begin, end in pauses:
        if end <= cursor or begin >= high:
            continue
        if begin > cursor:
            parts.append((cursor, begin))
        cursor = max(cursor, end)
        if cursor >= high:
            break
    if cursor < high:
        parts.append((cursor, high))
    return parts


def _office_hours(
    start: dt.datetime, calendar: WorkingCalendar, pauses: Sequence[Pause]
) -> Iterable[Pause]:
    """The counted (working, unpaused) intervals from ``start`` on, endlessly, in order."""
    day = start.date()
    for _ in range(int(MAX_TIME_LIMIT) * 3):
        if calendar.is_working_day(day):
            low = max(start, _at(day, OFFICE_OPENS))
            high = _at(day, OFFICE_CLOSES)
            if low < high:
                yield from _unpaused(low, high, pauses)
        day += dt.timedelta(days=1)


def _counted_time(
    start: dt.datetime, end: dt.datetime, calendar: WorkingCalendar, pauses: Sequence[Pause]
) -> dt.timedelta:
    # timedelta, not float seconds: exact to the microsecond, so counting back
    # a computed deadline gives exactly the time limit it came from.
    total = dt.timedelta(0)
    for low, high in _office_hours(start, calendar, pauses):
        if low >= end:
            break
        total += min(high, end) - low
    return total


def _advance(
    start: dt.datetime, budget: dt.timedelta, calendar: WorkingCalendar, pauses: Sequence[Pause]
) -> dt.datetime:
    """The first moment at which ``budget`` of counted time has passed since ``start``."""
    remaining = budget
    for low, high in _office_hours(start, calendar, pauses):
        length = high - low
        if remaining <= length:
            return low + remaining
        remaining -= length
    raise ValueError("the deadline lies beyond the calendar's search horizon")


def add_working_days(
    start: dt.datetime,
    days: int | float | Decimal,
    *,
    paused: Iterable[Pause] = (),
    calendar: WorkingCalendar | None = None,
) -> dt.datetime:
    """The deadline of a time limit of ``days`` working days for something received at ``start``.

    ``days`` is a whole or half number of days (0 = the same day). ``paused``
    lists (begin, end) periods during which the clock stopped; the office
    hours they cover are added back. The answer is in Vietnam time.
    """
    calendar = calendar or WorkingCalendar.from_database()
    whole, half = _time_limit(days)
    begin = counting_start(start, calendar)
    receipt_day = begin.date()
    if half:
        deadline = _at(calendar.nth_working_day_after(receipt_day, whole + 1), NOON)
    else:
        deadline = _at(calendar.nth_working_day_after(receipt_day, whole), OFFICE_CLOSES)
    pauses = _merged(paused)
    if not pauses:
        return deadline
    budget = _counted_time(begin, deadline, calendar, [])
    return _advance(begin, budget, calendar, pauses)


def add_calendar_days(
    start: dt.datetime,
    days: int,
    *,
    paused: Iterable[Pause] = (),
    calendar: WorkingCalendar | None = None,
) -> dt.datetime:
    """The deadline of a time limit of ``days`` days (not working days); see the module's rules."""
    calendar = calendar or WorkingCalendar.from_database()
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_TIME_LIMIT:
        raise ValueError(f"a time limit in days is a whole number 0 to {MAX_TIME_LIMIT}")
    receipt_day = counting_start(start, calendar).date()
    paused_time = sum((end - begin for begin, end in _merged(paused)), dt.timedelta(0))
    paused_days = paused_time.days + (1 if paused_time % dt.timedelta(days=1) else 0)
    last = receipt_day + dt.timedelta(days=days + paused_days)
    if not calendar.is_working_day(last):
        last = calendar.next_working_day(last)
    return _at(last, OFFICE_CLOSES)


def working_days_between(
    start: dt.datetime,
    end: dt.datetime,
    *,
    paused: Iterable[Pause] = (),
    calendar: WorkingCalendar | None = None,
) -> Decimal:
    """How much of a time limit the span from receipt at ``start`` to ``end`` uses.

    The answer is the smallest time limit, in half working days, whose counted
    working time covers the span, so that
    ``working_days_between(s, add_working_days(s, d, paused=p), paused=p) == d``.
    Work finished after hours on the day of receipt used 0 days. To know
    whether something is late, compare ``end`` with ``add_working_days``.
    """
    calendar = calendar or WorkingCalendar.from_database()
    begin = counting_start(start, calendar)
    used = _counted_time(begin, _local(end), calendar, _merged(paused))
    rest_of_receipt_day = _at(begin.date(), OFFICE_CLOSES) - begin
    if used <= rest_of_receipt_day:
        return Decimal(0)
    whole, part = divmod(used - rest_of_receipt_day, WORKING_DAY)
    if not part:
        return Decimal(whole)
    if part <= HALF_DAY:
        return Decimal(whole) + Decimal("0.5")
    return Decimal(whole + 1)
