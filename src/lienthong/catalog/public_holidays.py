"""Vietnam's public holidays for one year, as the ``holidays`` package computes them.

The package follows the Labour Code (lunar Tết and Hùng Kings' day
included) and the Government's yearly announcements of swapped days. It is
the starting point of the ``Holiday`` table, which operators then amend,
because the days off of civil servants are announced every year.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import holidays
from holidays.countries.vietnam import VietnamStaticHolidays

from lienthong.catalog.models import HolidayKind

SOURCE = f"holidays {holidays.__version__}"


@dataclass(frozen=True)
class HolidaySpec:
    date: dt.date
    name: str
    name_en: str
    kind: str


def from_package(year: int) -> list[HolidaySpec]:
    """Holidays, compensatory days off and make-up working days of ``year``, by date."""
    vietnamese = holidays.country_holidays("VN", years=year, language="vi")
    english = holidays.country_holidays("VN", years=year, language="en_US")
    statutory = holidays.country_holidays("VN", years=year, observed=False)
    swapped = {swap.day_off for swap in _swaps(year)}
    specs = [
        HolidaySpec(
            date=day,
            name=name,
            name_en=english.get(day, ""),
            kind=(
                HolidayKind.HOLIDAY
                if day in statutory and day not in swapped
                else HolidayKind.DAY_OFF
            ),
        )
        for day, name in sorted(vietnamese.items())
    ]
    worked = [
        HolidaySpec(
            date=swap.worked,
            name=f"Ngày làm việc bù cho ngày nghỉ {swap.day_off:%d/%m/%Y}",
            name_en=f"Working day in exchange for the day off on {swap.day_off:%d/%m/%Y}",
            kind=HolidayKind.WORKING_DAY,
        )
        for swap in _swaps(year - 1) + _swaps(year) + _swaps(year + 1)
        if swap.worked.year == year
    ]
    return sorted(specs + worked, key=lambda spec: spec.date)


@dataclass(frozen=True)
class Swap:
    day_off: dt.date
    worked: dt.date


def _swaps(year: int) -> list[Swap]:
    """The days off of ``year`` bridged by working a weekend day.

    The package records each swap as a day off "substituted from" the worked
    day (``special_public_holidays``: month, day, worked month, worked day
    [, worked year]); the worked day can fall in the year before.
    """
    entries = VietnamStaticHolidays.special_public_holidays.get(year, ())
    if entries and isinstance(entries[0], int):
        entries = (entries,)
    return [
        Swap(
            day_off=dt.date(year, month, day),
            worked=dt.date(worked_year[0] if worked_year else year, worked_month, worked_day),
        )
        for month, day, worked_month, worked_day, *worked_year in entries
    ]
