"""Rules of the catalogue's writes, and checking what a citizen enters in a form field."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from lienthong.catalog import services
from lienthong.catalog.forms import clean_field_value
from lienthong.catalog.models import AuthorityKind, FieldKind, InterconnectedProcedure
from lienthong.catalog.statuses import status_text
from lienthong.catalog.tests.factories import FormFieldFactory, ProcedureFactory

pytestmark = pytest.mark.django_db


def interconnect(*steps, code="LT.900101"):
    return services.save_interconnected(
        actor="test", code=code, name="Liên thông thử nghiệm", online_level="full", steps=steps
    )


def test_an_interconnected_procedure_chains_steps_in_order_and_is_audited(db):
    civil = ProcedureFactory(authority_kind=AuthorityKind.JUSTICE)
    police = ProcedureFactory(authority_kind=AuthorityKind.PUBLIC_SECURITY)

    group, changed = interconnect(police.code, civil.code)

    assert changed == "created"
    assert [s.procedure for s in group.steps.order_by("position")] == [police, civil]


def test_an_interconnected_procedure_refuses_two_steps_of_the_same_authority(db):
    first, second = ProcedureFactory.create_batch(2, authority_kind=AuthorityKind.JUSTICE)

    with pytest.raises(services.CatalogError) as refused:
        interconnect(first.code, second.code)

    assert refused.value.code == "same_authority_twice"
    assert not InterconnectedProcedure.objects.filter(code="LT.900101").exists()


@pytest.mark.parametrize(
    ("steps", "code"),
    [((), "too_few_steps"), (("LT.999999", "1.001193"), "unknown_procedure")],
)
def test_an_interconnected_procedure_needs_two_known_steps(db, steps, code):
    with pytest.raises(services.CatalogError) as refused:
        interconnect(*steps)
    assert refused.value.code == code


def test_an_interconnected_procedure_cannot_take_a_procedure_code(db):
    taken = ProcedureFactory()
    other = ProcedureFactory(authority_kind=AuthorityKind.SOCIAL_SECURITY)
    with pytest.raises(services.CatalogError) as refused:
        interconnect(taken.code, other.code, code=taken.code)
    assert refused.value.code == "code_taken"


@pytest.mark.parametrize(
    ("kind", "given", "stored"),
    [
        (FieldKind.TEXT, "  Nguyễn Văn An ", "Nguyễn Văn An"),
        (FieldKind.NUMBER, "2,5", Decimal("2.5")),
        (FieldKind.DATE, "30/04/2027", dt.date(2027, 4, 30)),
        (FieldKind.DATE, "2027-04-30", dt.date(2027, 4, 30)),
        (FieldKind.PERSONAL_ID, "001203004567", "001203004567"),
        (FieldKind.PHONE, "+84 912 345 678", "0912345678"),
        (FieldKind.EMAIL, "an@example.vn", "an@example.vn"),
    ],
)
def test_a_valid_value_is_stored_in_its_plain_form(db, kind, given, stored):
    assert clean_field_value(FormFieldFactory(kind=kind), given) == stored


@pytest.mark.parametrize(
    ("kind", "given", "code"),
    [
        (FieldKind.NUMBER, "mười", "invalid_number"),
        (FieldKind.NUMBER, "-1", "invalid_number"),
        (FieldKind.DATE, "31/02/2027", "invalid_date"),
        (FieldKind.PERSONAL_ID, "12345678901", "invalid_personal_id"),
        (FieldKind.PERSONAL_ID, "00120300456A", "invalid_personal_id"),
        (FieldKind.PHONE, "912345678", "invalid_phone"),
        (FieldKind.EMAIL, "an@", "invalid_email"),
        (FieldKind.TEXT, "x" * 501, "too_long"),
        (FieldKind.TEXT, "   ", "required"),
    ],
)
def test_a_wrong_value_is_refused_with_a_stable_code(db, kind, given, code):
    with pytest.raises(ValidationError) as refused:
        clean_field_value(FormFieldFactory(kind=kind), given)
    assert refused.value.code == code


def test_an_optional_field_may_be_left_empty(db):
    assert clean_field_value(FormFieldFactory(kind=FieldKind.EMAIL, required=False), "") is None


def test_a_choice_must_be_one_of_the_options(db):
    field = FormFieldFactory(
        kind=FieldKind.CHOICE,
        choices=[{"value": "nam", "label": "Nam"}, {"value": "nu", "label": "Nữ"}],
    )
    assert clean_field_value(field, "nu") == "nu"
    with pytest.raises(ValidationError) as refused:
        clean_field_value(field, "khac")
    assert refused.value.code == "invalid_choice"


def test_an_address_needs_a_commune_of_its_province(db):
    field = FormFieldFactory(kind=FieldKind.ADDRESS)
    hoan_kiem = {"street": "1 Tràng Tiền", "commune_code": "00070", "province_code": "01"}
    assert clean_field_value(field, hoan_kiem)["commune_code"] == "00070"
    with pytest.raises(ValidationError) as refused:
        clean_field_value(field, {**hoan_kiem, "province_code": "79"})
    assert refused.value.code == "invalid_address"


def test_a_procedure_may_word_a_status_its_own_way(db):
    own = {"9": "Giấy khai sinh sẵn sàng."}
    assert status_text(9, own) == "Giấy khai sinh sẵn sàng."
    with translation.override("en"):
        assert status_text(5, own) == "Documents are missing: please supplement your dossier."
