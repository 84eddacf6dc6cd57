"""The counter intake pages: choose a procedure of the agency, identify the applicant,
fill the procedure's form, attach the scans, receive (and accept) the dossier."""

from __future__ import annotations

import pytest

from lienthong.dossiers.models import Channel, Dossier, Status
from lienthong.identity.models import Account
from lienthong.portal.tests.conftest import MAI_ID, pdf

pytestmark = pytest.mark.django_db


def intake_url(agency, procedure=None) -> str:
    return f"/backoffice/{agency.identifier}/intake/" + (f"{procedure.code}/" if procedure else "")


def posted(procedure, **counter) -> dict:
    document = procedure.documents.first()
    data = {
        "counter-name": "Nguyễn Thị Mai",
        "counter-id_number": MAI_ID,
        "counter-phone": "0912345678",
        "counter-delivery": "1",
        "child_name": "Nguyễn Minh An",
        "birth_date": "20/11/2026",
        f"document_{document.pk}": pdf(),
    }
    data.update({f"counter-{key}": value for key, value in counter.items()})
    return {k: v for k, v in data.items() if v is not None}


def test_the_officer_chooses_among_the_agencys_procedures(as_user, lan, xanh, procedure):
    client = as_user(lan)
    assert (
        f"/backoffice/{xanh.identifier}/intake/"
        in client.get(f"/backoffice/{xanh.identifier}/").content.decode()
    )
    page = client.get(intake_url(xanh)).content.decode()
    assert procedure.name in page
    assert intake_url(xanh, procedure) in page


def test_the_form_asks_for_the_applicant_the_declaration_and_the_scans(
    as_user, lan, xanh, procedure
):
    page = as_user(lan).get(intake_url(xanh, procedure)).content.decode()
    for name in ("counter-name", "counter-id_number", "counter-create_account", "child_name"):
        assert f'name="{name}"' in page
    assert 'type="file"' in page
    assert 'name="counter-accept_now"' in page


def test_the_officer_receives_and_accepts_a_paper_dossier_for_a_citizen(
    as_user, lan, mai, xanh, procedure
):
    response = as_user(lan).post(intake_url(xanh, procedure), posted(procedure, accept_now="on"))
    assert response.status_code == 302
    dossier = Dossier.objects.get(applicant=mai)
    assert response["Location"] == f"/backoffice/{xanh.identifier}/dossiers/{dossier.code}/"
    assert (dossier.channel, dossier.status) == (Channel.COUNTER, Status.ACCEPTED)
    assert dossier.form_data["child_name"] == "Nguyễn Minh An"


def test_an_account_is_created_for_a_person_who_asks(as_user, lan, xanh, procedure):
    data = posted(procedure, name="Hoàng Văn Cường", id_number="001090011111", create_account="on")
    assert as_user(lan).post(intake_url(xanh, procedure), data).status_code == 302
    account = Account.objects.get(personal_id="001090011111")
    assert Dossier.objects.get(applicant=account.user).status == Status.NEW


def test_a_wrong_personal_id_number_is_shown_on_its_field_and_nothing_is_received(
    as_user, lan, xanh, procedure
):
    response = as_user(lan).post(intake_url(xanh, procedure), posted(procedure, id_number="123"))
    assert response.status_code == 400
    assert 'id="id_counter-id_number_error"' in response.content.decode()
    assert not Dossier.objects.exists()


def test_a_missing_scan_is_shown_and_nothing_is_received(as_user, lan, xanh, procedure):
    data = posted(procedure)
    data.pop(f"document_{procedure.documents.first().pk}")
    response = as_user(lan).post(intake_url(xanh, procedure), data)
    assert response.status_code == 400
    assert not Dossier.objects.exists()


def test_only_one_stop_officers_of_the_agency_reach_the_intake(
    as_user, client, minh, nam, mai, xanh, procedure
):
    for user in (minh, nam, mai):
        client = as_user(user)
        assert client.get(intake_url(xanh)).status_code == 404
        assert client.post(intake_url(xanh, procedure), posted(procedure)).status_code == 404
    assert not Dossier.objects.exists()


def test_a_procedure_the_agency_does_not_handle_is_404(as_user, lan, vang, nam, procedure):
    assert as_user(nam).get(intake_url(vang, procedure)).status_code == 404


# --- The applicant's address: the province, then its communes -------------------------------

HA_NOI = "01"


def communes_in(province: str) -> list[str]:
    from lienthong.directory.models import AdministrativeUnit, UnitLevel

    return list(
        AdministrativeUnit.objects.current()
        .filter(level=UnitLevel.COMMUNE, parent__code=province)
        .values_list("code", flat=True)
    )


def test_the_counter_form_offers_the_provinces_not_the_countrys_communes(
    as_user, lan, xanh, procedure
):
    page = as_user(lan).get(intake_url(xanh, procedure)).content.decode()
    assert 'name="counter-address__province"' in page
    assert 'hx-get="/dossiers/communes/"' in page
    assert "counter-address__commune" in page
    assert not any(f'value="{code}"' in page for code in communes_in(HA_NOI))


def test_the_officer_gets_a_provinces_communes_from_the_picker(as_user, lan):
    answer = as_user(lan).get(
        "/dossiers/communes/",
        {"commune": "counter-address__commune", "counter-address__province": HA_NOI},
    )
    html = answer.content.decode()
    assert answer.status_code == 200
    assert 'name="counter-address__commune"' in html and 'id="id_counter-address__commune"' in html
    assert all(f'value="{code}"' in html for code in communes_in(HA_NOI))


def test_without_javascript_the_communes_come_back_and_the_files_are_asked_again(
    as_user, lan, xanh, procedure
):
    client = as_user(lan)
    client.cookies["lienthong_language"] = "en"
    data = posted(procedure, address__province=HA_NOI, address__pick="1")
    answer = client.post(intake_url(xanh, procedure), data)
    page = answer.content.decode()
    assert answer.status_code == 400
    assert "Now choose the commune or ward in the list of this province." in page
    assert all(f'value="{code}"' in page for code in communes_in(HA_NOI))
    # The scan chosen is not kept by the browser: the officer is told which to choose again.
    assert "Choose “giay-chung-sinh.pdf” again" in page
    assert "This field is required." not in page
    assert not Dossier.objects.exists()


def test_the_address_chosen_is_written_out_and_checked(as_user, lan, xanh, procedure):
    from lienthong.directory.models import AdministrativeUnit

    client = as_user(lan)
    commune = communes_in(HA_NOI)[0]
    elsewhere = (
        AdministrativeUnit.objects.current()
        .filter(level="commune")
        .exclude(parent__code=HA_NOI)
        .values_list("code", flat=True)
        .first()
    )
    wrong = posted(procedure, address__street="5 ngõ Huế")
    wrong.update({"counter-address__province": HA_NOI, "counter-address__commune": elsewhere})
    assert client.post(intake_url(xanh, procedure), wrong).status_code == 400
    assert not Dossier.objects.exists()

    right = posted(procedure, address__street="5 ngõ Huế", address__province=HA_NOI,
                   address__commune=commune)  # fmt: skip
    assert client.post(intake_url(xanh, procedure), right).status_code == 302
    unit = AdministrativeUnit.objects.current().select_related("parent").get(code=commune)
    assert Dossier.objects.get().applicant_address == (
        f"5 ngõ Huế, {unit.full_name}, {unit.parent.full_name}"
    )
