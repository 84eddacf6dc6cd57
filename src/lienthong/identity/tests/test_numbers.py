"""The personal ID number and the tax code are checked, with a message saying what is wrong."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from lienthong.identity.numbers import (
    birth_year,
    identifier_kind,
    tax_code_check_digit,
    validate_personal_id,
    validate_tax_code,
)


def refusal(validator, value) -> str:
    with pytest.raises(ValidationError) as caught:
        validator(value)
    return caught.value.code


@pytest.mark.parametrize(
    ("number", "year"),
    [("001190012345", 1990), ("079203004567", 2003), ("096085000001", 1985)],
)
def test_it_accepts_a_personal_id_number_and_reads_the_year_of_birth(number, year):
    validate_personal_id(number)
    assert birth_year(number) == year


@pytest.mark.parametrize("number", ["00119001234", "0011900123456", "00119001234a", ""])
def test_it_refuses_a_personal_id_number_that_is_not_12_digits(number):
    assert refusal(validate_personal_id, number) == "personal_id_format"


@pytest.mark.parametrize("province", ["000", "003", "097", "999"])
def test_it_refuses_a_personal_id_number_with_an_unknown_province_of_birth(province):
    assert refusal(validate_personal_id, f"{province}190012345") == "personal_id_province"


@pytest.mark.parametrize("century", "6789")
def test_it_refuses_a_century_digit_for_people_not_yet_born(century):
    assert refusal(validate_personal_id, f"001{century}90012345") == "personal_id_century"


def test_it_refuses_a_year_of_birth_in_the_future(time_machine):
    time_machine.move_to(dt.datetime(2026, 6, 1, tzinfo=dt.UTC))
    validate_personal_id("001226012345")
    assert refusal(validate_personal_id, "001227012345") == "personal_id_year"


def test_the_tax_code_check_digit_follows_the_weighted_sum_mod_11():
    # 0100109106: (29 + 17 + 63 + 5) mod 11 = 4, and 10 - 4 = 6.
    assert tax_code_check_digit("010010910") == 6


@pytest.mark.parametrize("code", ["0100109106", "0100109106-001", "0100109106-999"])
def test_it_accepts_a_tax_code_and_a_branch_tax_code(code):
    validate_tax_code(code)


@pytest.mark.parametrize("code", ["0100109107", "0100109105-001"])
def test_it_refuses_a_tax_code_with_a_wrong_check_digit(code):
    assert refusal(validate_tax_code, code) == "tax_code_check_digit"


@pytest.mark.parametrize("code", ["010010910", "0100109106-01", "0100109106001", "MST0100109"])
def test_it_refuses_a_tax_code_of_the_wrong_shape(code):
    assert refusal(validate_tax_code, code) == "tax_code_format"


def test_it_refuses_branch_000():
    assert refusal(validate_tax_code, "0100109106-000") == "tax_code_branch"


@pytest.mark.parametrize(
    ("identifier", "kind"),
    [
        ("001190012345", "personal_id"),
        ("0100109106", "tax_code"),
        ("0100109106-002", "tax_code"),
        ("hung.officer", "username"),
    ],
)
def test_it_tells_what_kind_of_identifier_was_typed(identifier, kind):
    assert identifier_kind(identifier) == kind
