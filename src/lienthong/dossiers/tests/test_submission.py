"""Submitting a dossier online and taking one at the counter."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from lienthong.audit.models import AuditRecord
from lienthong.dossiers import services
from lienthong.dossiers.errors import DossierConflict
from lienthong.dossiers.models import Attachment, Channel, Status
from lienthong.dossiers.tests.conftest import (
    FORM,
    MAI_ID,
    MAI_PHONE,
    birth_certificate,
    pdf,
    submit,
)


def test_an_online_submission_gets_a_code_status_new_and_a_first_event(people):
    dossier = submit(people.procedure, people.xanh, people.mai)

    assert dossier.code.startswith(f"{people.xanh.identifier}-")
    assert dossier.code.endswith("-0001")
    assert (dossier.status, dossier.channel) == (Status.NEW, Channel.ONLINE)
    assert dossier.applicant == people.mai
    assert (dossier.applicant_name, dossier.applicant_id_number, dossier.applicant_phone) == (
        "Nguyễn Thị Mai",
        MAI_ID,
        MAI_PHONE,
    )
    assert dossier.form_data == {"child_name": "Nguyễn Minh An", "birth_date": "2026-11-20"}
    assert dossier.due_at is None  # the clock starts at acceptance
    assert [e.action for e in dossier.events.all()] == ["submitted"]
    assert (
        AuditRecord.objects.filter(
            object_type="dossiers.dossier", object_id=str(dossier.pk)
        ).count()
        == 1
    )
    assert dossier.attachments.get().document == birth_certificate(people.procedure)


def test_the_declaration_is_checked_field_by_field(people):
    with pytest.raises(ValidationError) as refused:
        submit(
            people.procedure,
            people.xanh,
            people.mai,
            form_data={"birth_date": "31/02/2026", "phone": "12345", "colour": "blue"},
        )

    codes = {key: [e.code for e in errors] for key, errors in refused.value.error_dict.items()}
    assert codes == {
        "child_name": ["required"],
        "birth_date": ["invalid_date"],
        "phone": ["invalid_phone"],
        "colour": ["unknown_field"],
    }


def test_a_missing_required_document_is_refused_and_nothing_is_kept(people):
    with pytest.raises(DossierConflict) as refused:
        submit(people.procedure, people.xanh, people.mai, documents={})

    assert refused.value.code == "documents_missing"
    assert not people.mai.dossiers.exists()
    assert not Attachment.objects.exists()


def test_a_document_needed_only_in_a_stated_case_is_not_demanded(people):
    # The power of attorney is "required" only when someone else registers.
    dossier = submit(people.procedure, people.xanh, people.mai)
    assert dossier.attachments.count() == 1


def test_an_agency_that_does_not_handle_the_procedure_cannot_receive_it(people):
    from lienthong.directory.tests.factories import AgencyFactory

    with pytest.raises(ValidationError) as refused:
        submit(people.procedure, AgencyFactory(), people.mai)
    assert refused.value.error_dict["agency"][0].code == "wrong_agency"


def test_a_one_stop_officer_takes_a_paper_dossier_at_the_counter_for_someone_without_account(
    people,
):
    dossier = services.counter_intake(
        actor=people.lan,
        procedure=people.procedure,
        agency=people.xanh,
        form_data=FORM,
        documents={birth_certificate(people.procedure).pk: [pdf()]},
        applicant=services.Applicant(
            name="Hoàng Văn Tư", id_number="001070000001", phone="0901234567"
        ),
    )

    assert (dossier.channel, dossier.status, dossier.applicant) == (
        Channel.COUNTER,
        Status.NEW,
        None,
    )
    assert dossier.applicant_name == "Hoàng Văn Tư"
    assert dossier.events.get().actor == people.lan


def test_only_a_one_stop_officer_of_the_agency_takes_dossiers_at_its_counter(people):
    for who in (people.mai, people.minh, people.khoa):
        with pytest.raises(DossierConflict) as refused:
            services.counter_intake(
                actor=who,
                procedure=people.procedure,
                agency=people.xanh,
                form_data=FORM,
                documents={birth_certificate(people.procedure).pk: [pdf()]},
                applicant=services.Applicant(name="Hoàng Văn Tư"),
            )
        assert refused.value.code == "not_allowed"
