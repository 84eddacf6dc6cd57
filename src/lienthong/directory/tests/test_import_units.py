"""Importing administrative units: idempotent, transactional, reorganisation-ready."""

import datetime as dt
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from lienthong.audit.models import AuditRecord
from lienthong.directory import services
from lienthong.directory.models import AdministrativeUnit, Agency

pytestmark = pytest.mark.django_db


def package_rows():
    data, source = services.package_units_source()
    return services.parse_units(data), source


def test_running_the_import_twice_changes_nothing_and_records_nothing():
    rows, source = package_rows()
    audit_before = AuditRecord.objects.count()
    snapshot = list(AdministrativeUnit.objects.order_by("pk").values())

    report = services.import_units(actor="test", rows=rows, source=source)

    assert report.as_dict() == {"created": 0, "updated": 0, "closed": 0, "unchanged": 3355}
    assert list(AdministrativeUnit.objects.order_by("pk").values()) == snapshot
    assert AuditRecord.objects.count() == audit_before


def test_the_command_reports_what_it_did(capsys):
    call_command("import_units")
    assert "0 created, 0 updated, 0 closed, 3355 unchanged" in capsys.readouterr().out


def test_a_reorganisation_adds_new_versions_and_keeps_the_old_ones():
    """A later structure closes changed units the day before and adds new versions;
    what dossiers point at stays as it was."""
    rows, _ = package_rows()
    old_hoan_kiem = AdministrativeUnit.objects.get(code="00070", valid_to__isnull=True)
    renamed = [
        services.UnitRow(**{**r.__dict__, "name": "Phường Hoàn Kiếm Mới"})
        if r.code == "00070"
        else r
        for r in rows
        if r.code != "00073"  # one commune disappears in the new structure
    ]
    reorganisation = dt.date(2027, 1, 1)

    report = services.import_units(
        actor="test", rows=renamed, source="test", valid_from=reorganisation
    )

    assert (report.created, report.closed, report.updated) == (1, 2, 0)
    old_hoan_kiem.refresh_from_db()
    assert old_hoan_kiem.name == "Phường Hoàn Kiếm"
    assert old_hoan_kiem.valid_to == dt.date(2026, 12, 31)
    new = AdministrativeUnit.objects.get(code="00070", valid_to__isnull=True)
    assert (new.name, new.valid_from, new.parent.code) == (
        "Phường Hoàn Kiếm Mới",
        reorganisation,
        "01",
    )
    on_old_day = AdministrativeUnit.objects.valid_on(dt.date(2026, 6, 1))
    assert on_old_day.get(code="00070").name == "Phường Hoàn Kiếm"
    assert on_old_day.filter(code="00073").exists()
    assert not AdministrativeUnit.objects.valid_on(reorganisation).filter(code="00073").exists()
    record = AuditRecord.objects.filter(action="import").first()
    assert record.changes["created"] == 1
    assert record.changes["valid_from"] == "2027-01-01"


def test_an_import_older_than_the_structure_in_force_is_refused():
    rows, source = package_rows()
    with pytest.raises(services.ImportRefused, match="after"):
        services.import_units(
            actor="test", rows=rows, source=source, valid_from=dt.date(2020, 1, 1)
        )


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ([{"code": 1}], "province #1: 'name' is missing"),
        ([{"code": "01", "name": "X"}], "province #1: 'code' must be a whole number"),
        (
            [{"code": 1, "name": "A"}, {"code": 1, "name": "B"}],
            "province #2: code 01 appears twice",
        ),
        ([{"code": 1, "name": "A", "wards": [{"code": 123456, "name": "W"}]}], "ward #1: 'code'"),
        ([{"code": 1, "name": "A", "wards": "none"}], "'wards' must be a list"),
        (["text"], "province #1: expected an object"),
    ],
)
def test_malformed_records_are_refused_with_their_position(data, problem):
    with pytest.raises(services.ImportRefused) as excinfo:
        services.parse_units(data)
    assert any(problem in p for p in excinfo.value.problems)


def test_a_malformed_file_is_refused_with_the_line_number_and_nothing_is_written(tmp_path):
    broken = tmp_path / "units.json"
    broken.write_text(
        '[\n  {"code": 1, "name": "A"},\n  {"code": 2 "name": "B"}\n]', encoding="utf-8"
    )
    count = AdministrativeUnit.objects.count()
    with pytest.raises(CommandError, match=r"refused .*line 3: not valid JSON"):
        call_command("import_units", file=broken)
    assert AdministrativeUnit.objects.count() == count


def test_a_file_missing_units_of_the_same_date_is_refused_whole(tmp_path):
    data, _ = services.package_units_source()
    data[0]["wards"] = data[0]["wards"][1:]
    path = tmp_path / "units.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    count = AdministrativeUnit.objects.filter(valid_to__isnull=True).count()
    with pytest.raises(CommandError, match="missing from a data set with the same validity date"):
        call_command("import_units", file=path)
    assert AdministrativeUnit.objects.filter(valid_to__isnull=True).count() == count


def test_a_correction_with_the_same_date_is_applied_in_place():
    rows, source = package_rows()
    corrected = [
        services.UnitRow(**{**r.__dict__, "division_type": "phường (sửa)"})
        if r.code == "00070"
        else r
        for r in rows
    ]
    report = services.import_units(actor="test", rows=corrected, source=source)
    assert (report.updated, report.created, report.closed) == (1, 0, 0)
    assert AdministrativeUnit.objects.filter(code="00070").count() == 1


def test_agency_import_is_idempotent_and_restores_reference_values():
    assert services.import_agencies(actor="test").changed is False
    finance = Agency.objects.get(identifier="000.00.00.G12")
    Agency.objects.filter(pk=finance.pk).update(name="Bộ Tài chánh")
    report = services.import_agencies(actor="test")
    assert (report.updated, report.created) == (1, 0)
    finance.refresh_from_db()
    assert finance.name == "Bộ Tài chính"
    assert finance.search_name == "bo tai chinh 000.00.00.g12"


def test_agency_import_needs_units_first(monkeypatch):
    monkeypatch.setattr(
        AdministrativeUnit.objects, "current", lambda: AdministrativeUnit.objects.none()
    )
    with pytest.raises(CommandError, match="import-units"):
        call_command("import_agencies")


def test_an_official_identifier_set_by_an_operator_survives_the_next_import():
    committee = Agency.objects.get(identifier="000.00.00.T01")
    committee.identifier = "000.00.00.H26"
    committee.identifier_generated = False
    committee.save()

    report = services.import_agencies(actor="test")

    assert report.changed is False
    committee.refresh_from_db()
    assert (committee.identifier, committee.identifier_generated) == ("000.00.00.H26", False)
    assert not Agency.objects.filter(identifier="000.00.00.T01").exists()
    assert committee.children.count() == 12 + 126


def test_a_reference_identifier_already_used_by_a_hand_made_agency_is_refused():
    Agency.objects.filter(reference_key="commune:00070").delete()
    Agency.objects.create(identifier="000.70.00.T01", name="Hand-made", kind="department")
    with pytest.raises(services.ImportRefused, match="already used by another agency"):
        services.import_agencies(actor="test")
