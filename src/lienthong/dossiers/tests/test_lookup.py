"""Looking a dossier up without signing in: code plus phone or ID number, nothing for a wrong guess."""

from __future__ import annotations

import pytest

from lienthong.dossiers import selectors
from lienthong.dossiers.tests.conftest import MAI_ID, MAI_PHONE, submit


@pytest.fixture
def dossier(people):
    return submit(people.procedure, people.xanh, people.mai)


@pytest.mark.parametrize("factor", [MAI_PHONE, MAI_ID, "+84 912 345 678", "0912.345.678"])
def test_the_code_and_the_phone_or_id_number_find_the_dossier(dossier, factor):
    assert selectors.lookup(dossier.code, factor) == dossier


@pytest.mark.parametrize("factor", ["0912345679", "001190012346", "", "0", MAI_ID[:-1]])
def test_a_wrong_factor_finds_nothing(dossier, factor):
    assert selectors.lookup(dossier.code, factor) is None


def test_an_unknown_code_answers_exactly_like_a_wrong_factor(dossier):
    unknown = dossier.code[:-4] + "9999"
    assert selectors.lookup(unknown, MAI_PHONE) is None
    assert selectors.lookup(unknown, MAI_PHONE) == selectors.lookup(dossier.code, "0900000000")


def test_an_applicant_without_phone_is_not_found_by_an_empty_factor(people):
    from lienthong.dossiers import services
    from lienthong.dossiers.tests.conftest import FORM, birth_certificate, pdf

    dossier = services.counter_intake(
        actor=people.lan,
        procedure=people.procedure,
        agency=people.xanh,
        form_data=FORM,
        documents={birth_certificate(people.procedure).pk: [pdf()]},
        applicant=services.Applicant(name="Hoàng Văn Tư"),
    )
    for factor in ("", "   ", "\x00" * 12):
        assert selectors.lookup(dossier.code, factor) is None
