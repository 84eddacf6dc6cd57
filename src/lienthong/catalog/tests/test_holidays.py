"""The holiday table: loaded from the holidays package per year, amended by operators."""

import datetime as dt

import pytest
from django.core.management import call_command

from lienthong.catalog import services
from lienthong.catalog.models import Holiday, HolidayKind, HolidaySource

pytestmark = pytest.mark.django_db


def kinds(year):
    return {h.date: h.kind for h in Holiday.objects.filter(date__year=year)}


def test_2027_has_tet_hung_kings_day_and_the_days_in_lieu(db):
    services.load_holidays(actor="test", year=2027)
    days = kinds(2027)
    tet = {dt.date(2027, 2, day) for day in range(4, 11)}
    assert tet <= days.keys()
    assert days[dt.date(2027, 2, 6)] == HolidayKind.HOLIDAY  # mùng 1 Tết
    assert days[dt.date(2027, 2, 10)] == HolidayKind.DAY_OFF  # in lieu of Sunday 7/2
    assert days[dt.date(2027, 4, 16)] == HolidayKind.HOLIDAY  # 10/3 lunar: Hùng Kings
    assert days[dt.date(2027, 5, 3)] == HolidayKind.DAY_OFF  # in lieu of Saturday 1/5
    assert Holiday.objects.get(date=dt.date(2027, 4, 16)).name == "Ngày Giỗ Tổ Hùng Vương"


def test_a_swapped_day_off_comes_with_its_make_up_working_saturday(db):
    services.load_holidays(actor="test", year=2026)
    days = kinds(2026)
    assert days[dt.date(2026, 8, 31)] == HolidayKind.DAY_OFF
    assert days[dt.date(2026, 8, 22)] == HolidayKind.WORKING_DAY


def test_loading_twice_changes_nothing(db):
    services.load_holidays(actor="test", year=2027)
    report = services.load_holidays(actor="test", year=2027)
    assert report.created == report.updated == 0
    assert report.unchanged == Holiday.objects.filter(date__year=2027).count()


def test_an_operators_amendment_survives_a_reload(db, operator, client):
    services.load_holidays(actor="test", year=2027)
    # The Government gives civil servants Monday 15/2/2027 too: the operator adds it.
    client.force_login(operator)
    response = client.post(
        "/admin/catalog/holiday/add/",
        {"date": "2027-02-15", "name": "Nghỉ Tết bổ sung", "name_en": "", "kind": "day_off"},
    )
    assert response.status_code == 302
    added = Holiday.objects.get(date=dt.date(2027, 2, 15))
    assert added.source == HolidaySource.OPERATOR

    services.load_holidays(actor="test", year=2027)

    assert Holiday.objects.filter(date=dt.date(2027, 2, 15)).exists()


def test_a_package_row_the_package_no_longer_lists_is_removed(db):
    Holiday.objects.create(
        date=dt.date(2027, 6, 1), name="cũ", kind=HolidayKind.HOLIDAY, source=HolidaySource.PACKAGE
    )
    services.load_holidays(actor="test", year=2027)
    assert not Holiday.objects.filter(date=dt.date(2027, 6, 1)).exists()


def test_the_command_shows_a_year_and_writes_only_with_load(db, capsys):
    call_command("catalog", "holidays", "--year", "2028")
    shown = capsys.readouterr().out
    assert "dry run" in shown
    assert "Tết Nguyên Đán" in shown
    assert not Holiday.objects.filter(date__year=2028).exists()

    call_command("catalog", "holidays", "--year", "2028", "--load")
    assert Holiday.objects.filter(date__year=2028).count() > 10


def test_the_seed_command_reports_what_it_did(catalog, capsys):
    call_command("catalog", "seed")
    assert "0 created, 0 updated, 22 unchanged" in capsys.readouterr().out
