"""Electronic identifiers (Decision 20/2020/QĐ-TTg): format and generation scheme."""

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from lienthong.directory import identifiers
from lienthong.directory.models import Agency

GROUP = st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=4)


@pytest.mark.parametrize(
    "value",
    ["000.00.00.G12", "000.00.18.G12", "000.70.00.T01", "A.1", "234.25.00.T51"],
)
def test_it_accepts_well_formed_identifiers(value):
    assert identifiers.is_valid_identifier(value)
    identifiers.validate_identifier(value)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "identifier_empty"),
        ("000.00.00.g12", "identifier_format"),
        ("G12", "identifier_format"),
        ("000..00.G12", "identifier_format"),
        (".000.00.G12", "identifier_format"),
        ("000.00.00.G12.", "identifier_format"),
        ("000.00.00.Đ12", "identifier_format"),
        ("000 00 00 G12", "identifier_format"),
        ("000.00.00.G12\n", "identifier_format"),
        ("0" * 30 + ".12345", "identifier_too_long"),
    ],
)
def test_it_refuses_malformed_identifiers_with_a_precise_code(value, code):
    assert not identifiers.is_valid_identifier(value)
    with pytest.raises(ValidationError) as excinfo:
        identifiers.validate_identifier(value)
    assert excinfo.value.code == code


@given(st.lists(GROUP, min_size=2, max_size=8))
def test_any_dot_joined_groups_within_35_characters_are_valid(groups):
    value = ".".join(groups)
    assert identifiers.is_valid_identifier(value) == (len(value) <= 35)


@given(st.text(max_size=50))
def test_validator_and_predicate_always_agree(value):
    try:
        identifiers.validate_identifier(value)
        raised = False
    except ValidationError:
        raised = True
    assert raised != identifiers.is_valid_identifier(value)


def test_generated_identifiers_follow_the_documented_scheme():
    assert identifiers.generate_provincial_committee(1) == "000.00.00.T01"
    assert identifiers.generate_department(40, 3) == "000.00.03.T40"
    assert identifiers.generate_commune_committee(1, 70) == "000.70.00.T01"
    assert identifiers.generate_commune_committee(51, 23425) == "234.25.00.T51"


def test_generated_identifiers_never_use_an_official_level_one_letter(db):
    generated = Agency.objects.filter(identifier_generated=True).values_list(
        "identifier", flat=True
    )
    letters = {identifiers.level_one_group(code)[0] for code in generated}
    assert letters == {"X", "T"}


@pytest.mark.parametrize("bad", [0, 100, -1])
def test_generation_refuses_out_of_range_codes(bad):
    with pytest.raises(ValueError, match="between"):
        identifiers.generate_provincial_committee(bad)


def test_every_agency_in_the_reference_data_has_a_valid_unique_identifier(db):
    codes = list(Agency.objects.values_list("identifier", flat=True))
    assert len(codes) == len(set(codes)) > 3700
    assert all(identifiers.is_valid_identifier(code) for code in codes)


def test_official_identifiers_are_kept_and_marked(db):
    finance = Agency.objects.get(identifier="000.00.00.G12")
    assert finance.name == "Bộ Tài chính"
    assert finance.identifier_generated is False
