"""A one-stop officer takes a paper dossier at the counter (channel 1) for a person
who may have an account, may want one, or may have none."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from lienthong.audit.models import AuditRecord
from lienthong.dossiers import services
from lienthong.dossiers.errors import DossierConflict
from lienthong.dossiers.intake import Applicant
from lienthong.dossiers.models import Channel, Dossier, ResultDelivery, Status
from lienthong.dossiers.tests.conftest import FORM, MAI_ID, birth_certificate, pdf
from lienthong.identity.models import Account

CUONG_ID = "001090011111"  # anh Cường, who has no account


def take(people, applicant: Applicant, **options) -> Dossier:
    return services.counter_intake(
        actor=options.pop("actor", people.lan),
        procedure=people.procedure,
        agency=people.xanh,
        form_data=options.pop("form_data", FORM),
        documents={birth_certificate(people.procedure).pk: [pdf()]},
        applicant=applicant,
        **options,
    )


def test_a_citizen_with_an_account_finds_the_counter_dossier_in_it(people):
    dossier = take(people, Applicant(name="Nguyễn Thị Mai", id_number=MAI_ID, phone="0912345678"))
    assert dossier.channel == Channel.COUNTER
    assert dossier.applicant == people.mai
    assert dossier.status == Status.NEW
    assert dossier.events.get().actor == people.lan


def test_a_person_without_an_account_gets_one_without_a_password_when_they_ask(people):
    dossier = take(
        people,
        Applicant(name="Hoàng Văn Cường", id_number=CUONG_ID, phone="0911111111"),
        create_account=True,
    )
    account = Account.objects.get(personal_id=CUONG_ID)
    assert dossier.applicant == account.user
    assert account.display_name == "Hoàng Văn Cường"
    assert not account.user.has_usable_password()


def test_a_person_without_an_account_is_recorded_by_their_details_only(people):
    dossier = take(
        people,
        Applicant(
            name="Hoàng Văn Cường",
            id_number=CUONG_ID,
            phone="0911111111",
            address="5 ngõ Huế, Hà Nội",
        ),
    )
    assert dossier.applicant is None
    assert (dossier.applicant_name, dossier.applicant_id_number, dossier.applicant_address) == (
        "Hoàng Văn Cường",
        CUONG_ID,
        "5 ngõ Huế, Hà Nội",
    )
    assert not Account.objects.filter(personal_id=CUONG_ID).exists()


def test_an_invalid_personal_id_number_is_refused_and_nothing_is_written(people):
    before = Dossier.objects.count()
    with pytest.raises(ValidationError) as refused:
        take(people, Applicant(name="Ai đó", id_number="12345"), create_account=True)
    assert refused.value.error_dict["id_number"][0].code == "personal_id_format"
    assert Dossier.objects.count() == before


def test_a_refused_declaration_creates_no_account(people):
    with pytest.raises(ValidationError):
        take(
            people,
            Applicant(name="Hoàng Văn Cường", id_number=CUONG_ID),
            create_account=True,
            form_data={"child_name": ""},
        )
    assert not Account.objects.filter(personal_id=CUONG_ID).exists()


def test_the_officer_accepts_the_checked_papers_at_once(people):
    dossier = take(people, Applicant(name="Nguyễn Thị Mai", id_number=MAI_ID), accept_now=True)
    assert dossier.status == Status.ACCEPTED
    assert dossier.due_at is not None
    assert [e.action for e in dossier.events.all()] == ["submitted", "accepted"]
    assert AuditRecord.objects.filter(object_id=str(dossier.pk), action="accepted").exists()


def test_a_result_to_be_posted_needs_an_address(people):
    with pytest.raises(DossierConflict) as refused:
        take(people, Applicant(name="Cường"), result_delivery=ResultDelivery.POST)
    assert refused.value.code == "delivery_address_required"
    dossier = take(
        people,
        Applicant(name="Cường"),
        result_delivery=ResultDelivery.POST,
        delivery_address="5 ngõ Huế, Hà Nội",
    )
    assert (dossier.result_delivery, dossier.delivery_address) == (
        ResultDelivery.POST,
        "5 ngõ Huế, Hà Nội",
    )


@pytest.mark.parametrize("who", ["minh", "khoa", "mai"])
def test_only_a_one_stop_officer_of_the_agency_takes_a_counter_dossier(people, who):
    with pytest.raises(DossierConflict) as refused:
        take(people, Applicant(name="Cường"), actor=getattr(people, who))
    assert refused.value.code == "not_allowed"


def test_a_business_is_found_by_its_tax_code_and_never_given_an_account_at_the_counter(people):
    from lienthong.identity import services as identity

    business = identity.create_account(
        actor="test",
        kind="business",
        display_name="Công ty TNHH Thử Nghiệm",
        tax_code="0100109106",
        password=None,
        source="test",
    ).user
    dossier = take(people, Applicant(name="Công ty TNHH Thử Nghiệm", id_number="0100109106"))
    assert dossier.applicant == business

    other = take(
        people,
        Applicant(name="Hộ kinh doanh Xanh", id_number="0100109106-001"),
        create_account=True,
    )
    assert other.applicant is None
    assert not Account.objects.filter(tax_code="0100109106-001").exists()
