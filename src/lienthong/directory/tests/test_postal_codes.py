"""Postal codes: the CSV import (all or nothing, line numbers) and the address check."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from lienthong.audit.models import AuditRecord
from lienthong.directory.addresses import Address
from lienthong.directory.models import AdministrativeUnit, PostalCode, UnitLevel
from lienthong.directory.postal_codes import import_postal_codes, parse_postal_csv
from lienthong.directory.services import ImportRefused

pytestmark = pytest.mark.django_db

# The layout of the official table. The codes are placeholders of the right
# shape chosen for the test: the repository ships no postal-code data.
GOOD = (
    "\ufeffma_buu_chinh,ma_don_vi_hanh_chinh,ten_doi_tuong_gan_ma\n"
    "11011,00070,Phường Hoàn Kiếm\n"
    "11012,00070,Bưu cục Hoàn Kiếm\n"
    "46000,40,Tỉnh Nghệ An\n"
).encode()


def write(tmp_path, content: bytes, name="codes.csv"):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_the_official_layout_imports_and_a_second_run_changes_nothing(tmp_path, capsys):
    path = write(tmp_path, GOOD)
    call_command("import_postal_codes", str(path))
    assert "3 created" in capsys.readouterr().out
    assert set(PostalCode.objects.values_list("code", "unit__code")) == {
        ("11011", "00070"),
        ("11012", "00070"),
        ("46000", "40"),
    }
    records = AuditRecord.objects.filter(object_type="directory.postalcode").count()

    call_command("import_postal_codes", str(path))

    assert "0 created, 0 updated, 3 unchanged" in capsys.readouterr().out
    assert PostalCode.objects.count() == 3
    assert AuditRecord.objects.filter(object_type="directory.postalcode").count() == records


def test_english_headers_and_semicolons_are_accepted():
    rows = parse_postal_csv(b"postal_code;unit_code;label\n11011;00070;X\n")
    assert [(r.code, r.unit_code, r.label, r.line) for r in rows] == [("11011", "00070", "X", 2)]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "line 1: the file is empty"),
        (b"code,unit\n1,2\n", "line 1: missing column(s) ma_buu_chinh, ma_don_vi_hanh_chinh"),
        (
            b"ma_buu_chinh,ma_don_vi_hanh_chinh\n1101,00070\n",
            "line 2: postal code '1101' is not 5 digits",
        ),
        (b"ma_buu_chinh,ma_don_vi_hanh_chinh\n11011,0007\n", "line 2: unit code '0007'"),
        (
            b"ma_buu_chinh,ma_don_vi_hanh_chinh\n11011,00070,x\n",
            "line 2: expected 2 fields, found 3",
        ),
        (
            b"ma_buu_chinh,ma_don_vi_hanh_chinh\n11011,00070\n\n11011,00070\n",
            "line 4: repeats line 2",
        ),
        (b"ma_buu_chinh,ma_don_vi_hanh_chinh\n11011,\xff\n", "line 2: not UTF-8 text"),
        ("ma_buu_chinh,ma_don_vi_hanh_chinh\n１１０１１,00070\n".encode(), "is not 5 digits"),
    ],
)
def test_malformed_files_are_refused_with_the_line_and_the_reason(content, problem):
    with pytest.raises(ImportRefused) as excinfo:
        parse_postal_csv(content)
    assert any(problem in p for p in excinfo.value.problems), excinfo.value.problems


def test_one_bad_line_refuses_the_whole_file_and_nothing_is_written(tmp_path):
    path = write(tmp_path, GOOD + b"99999,99999,Nowhere\n")
    with pytest.raises(
        CommandError, match="line 5: no administrative unit in force has code 99999"
    ):
        call_command("import_postal_codes", str(path))
    assert PostalCode.objects.count() == 0


def test_a_missing_file_fails_with_a_one_line_reason(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_postal_codes", str(tmp_path / "absent.csv"))


def test_an_address_checks_commune_province_and_code():
    import_postal_codes(actor="test", rows=parse_postal_csv(GOOD), source="test")

    commune, province = Address("1 Tràng Tiền", "00070", "01", "11011").validate()
    assert (commune.name, province.name) == ("Phường Hoàn Kiếm", "Thành phố Hà Nội")

    with pytest.raises(ValidationError) as excinfo:
        Address("1 Tràng Tiền", "00070", "01", "46000").validate()
    assert excinfo.value.error_dict["postal_code"][0].code == "postal_code_not_for_commune"

    with pytest.raises(ValidationError) as excinfo:
        Address("1 Tràng Tiền", "00070", "40", "").validate()
    assert excinfo.value.error_dict["commune_code"][0].code == "commune_not_in_province"


def test_where_the_table_does_not_know_the_commune_only_the_format_is_checked():
    Address("Số 5", "00073", "01", "12345").validate()
    with pytest.raises(ValidationError) as excinfo:
        Address("Số 5", "00073", "01", "1234A").validate()
    assert excinfo.value.error_dict["postal_code"][0].code == "postal_code_format"


def test_unknown_units_and_an_empty_street_are_reported_together():
    with pytest.raises(ValidationError) as excinfo:
        Address(" ", "99999", "99", "").validate()
    codes = {field: errors[0].code for field, errors in excinfo.value.error_dict.items()}
    assert codes == {
        "street": "street_required",
        "province_code": "unknown_province",
        "commune_code": "unknown_commune",
    }


def test_an_address_in_its_province_is_checked_with_one_query(django_assert_num_queries):
    with django_assert_num_queries(1):
        commune, province = Address("Số 5", "00073", "01").validate()
    assert commune.parent_id == province.pk and province.code == "01"


def test_a_commune_whose_province_version_ended_is_not_in_the_province_of_that_day():
    hanoi = AdministrativeUnit.objects.get(level=UnitLevel.PROVINCE, code="01", valid_to=None)
    day = dt.date(2026, 1, 1)
    AdministrativeUnit.objects.filter(pk=hanoi.pk).update(valid_to=day - dt.timedelta(days=1))
    AdministrativeUnit.objects.create(
        level=UnitLevel.PROVINCE,
        code="01",
        name=hanoi.name,
        division_type=hanoi.division_type,
        codename=hanoi.codename,
        valid_from=day,
    )
    with pytest.raises(ValidationError) as excinfo:
        Address("Số 5", "00073", "01").validate(on=day)
    assert excinfo.value.error_dict["commune_code"][0].code == "commune_not_in_province"
