"""The address on the dossier form: the province, then its communes (replaced by
htmx, or brought back by the form's own button without JavaScript), checked on
the server; and the cheap display filters and shared menu of the list pages."""

import datetime as dt

import pytest
from django.template import Context, Template
from django.utils import translation

from lienthong.catalog.models import FieldKind, FormField
from lienthong.directory.models import AdministrativeUnit, UnitLevel
from lienthong.dossiers.models import Dossier, Status
from lienthong.dossiers.templatetags.dossiers import local_date, local_datetime, status_label
from lienthong.portal.tests.conftest import MAI_ID, pdf

pytestmark = pytest.mark.django_db

HA_NOI = "01"


@pytest.fixture
def with_address(procedure):
    FormField.objects.create(
        procedure=procedure,
        key="home",
        kind=FieldKind.ADDRESS,
        label="Nơi cư trú",
        label_en="Residence",
        required=False,
        position=4,
    )
    return procedure


def communes_in(province: str) -> list[str]:
    return list(
        AdministrativeUnit.objects.current()
        .filter(level=UnitLevel.COMMUNE, parent__code=province)
        .values_list("code", flat=True)
    )


def elsewhere() -> str:
    """A commune outside Hà Nội."""
    return (
        AdministrativeUnit.objects.current()
        .filter(level=UnitLevel.COMMUNE)
        .exclude(parent__code=HA_NOI)
        .values_list("code", flat=True)
        .first()
    )


def url(procedure) -> str:
    return f"/dossiers/new/{procedure.code}/"


def declaration(procedure, **address) -> dict:
    document = procedure.documents.get()
    return {
        "child_name": "Nguyễn Minh An",
        "birth_date": "20/11/2026",
        f"document_{document.pk}": pdf(),
        "home__street": "12 Lê Lợi",
        **address,
    }


def test_the_form_offers_the_provinces_not_the_countrys_communes(signed_in, mai, with_address):
    page = signed_in(MAI_ID).get(url(with_address)).content.decode()
    assert 'name="home__province"' in page
    assert 'hx-get="/dossiers/communes/"' in page
    assert 'name="home__commune"' in page
    assert not any(f'value="{code}"' in page for code in communes_in(HA_NOI))
    assert page.count("<option") < 100


def test_htmx_replaces_the_commune_list_with_the_provinces(signed_in, mai):
    client = signed_in(MAI_ID)
    answer = client.get(
        "/dossiers/communes/", {"commune": "home__commune", "home__province": HA_NOI}
    )
    html = answer.content.decode()
    assert answer.status_code == 200
    assert html.startswith('<select name="home__commune" id="id_home__commune">')
    assert all(f'value="{code}"' in html for code in communes_in(HA_NOI))
    assert f'value="{elsewhere()}"' not in html
    unknown = client.get("/dossiers/communes/", {"commune": "home__commune", "home__province": "x"})
    assert unknown.content.decode().count("<option") == 1
    bad = client.get("/dossiers/communes/", {"commune": '"><script>', "x__province": HA_NOI})
    assert bad.status_code == 404


def test_without_javascript_the_button_brings_the_communes_back_and_submits_nothing(
    signed_in, mai, with_address, english
):
    client = signed_in(MAI_ID)
    form = declaration(with_address, home__province=HA_NOI, home__pick="1")
    del form[next(key for key in form if key.startswith("document_"))]
    answer = client.post(url(with_address), form)
    page = answer.content.decode()
    assert answer.status_code == 400
    assert "Now choose the commune or ward in the list of this province." in page
    assert "This field is required." not in page  # the document: not judged yet
    assert all(f'value="{code}"' in page for code in communes_in(HA_NOI))
    assert not Dossier.objects.exists()


def test_a_commune_outside_the_chosen_province_is_refused(signed_in, mai, with_address, english):
    client = signed_in(MAI_ID)
    answer = client.post(
        url(with_address),
        declaration(with_address, home__province=HA_NOI, home__commune=elsewhere()),
    )
    assert answer.status_code == 400
    assert "This commune or ward is not in the chosen province or city." in answer.content.decode()
    assert not Dossier.objects.exists()


def test_the_commune_names_its_province(signed_in, mai, with_address):
    commune = communes_in(HA_NOI)[0]
    answer = signed_in(MAI_ID).post(
        url(with_address), declaration(with_address, home__commune=commune)
    )
    assert answer.status_code == 302
    home = Dossier.objects.get(applicant=mai).form_data["home"]
    assert home == {"street": "12 Lê Lợi", "commune_code": commune, "province_code": HA_NOI}


def test_a_bad_declaration_in_an_otherwise_complete_form_is_refused_by_the_service(
    signed_in, mai, with_address, english
):
    # The form leaves the declaration to the service when nothing else is wrong:
    # its refusal is shown on the inputs all the same, and nothing is written.
    answer = signed_in(MAI_ID).post(
        url(with_address), declaration(with_address, birth_date="someday", home__commune="x")
    )
    page = answer.content.decode()
    assert answer.status_code == 400
    assert "Enter a date as dd/mm/yyyy." in page
    assert "Select a valid choice." in page
    assert not Dossier.objects.exists()
    answer = signed_in(MAI_ID).post(
        url(with_address), declaration(with_address, birth_date="someday")
    )
    assert answer.status_code == 400
    assert "Enter a date as dd/mm/yyyy." in answer.content.decode()
    assert not Dossier.objects.exists()


def test_the_list_filters_write_what_djangos_would():
    moment = dt.datetime(2026, 12, 4, 17, 5, tzinfo=dt.UTC)  # 00:05 on the 5th in Vietnam
    django = Template('{{ t|date:"d/m/Y H:i" }} {{ t|date:"d/m/Y" }}').render(
        Context({"t": moment})
    )
    assert f"{local_datetime(moment)} {local_date(moment)}" == django
    assert django == "05/12/2026 00:05 05/12/2026"
    assert local_datetime(None) == local_date(None) == ""
    for language in ("vi", "en"):
        with translation.override(language):
            assert [status_label(s.value) for s in Status] == [str(s.label) for s in Status]
    with translation.override("en"):
        assert status_label(Status.SUPPLEMENT_REQUESTED) == "Supplement requested"


def test_the_menu_kept_per_process_follows_the_reader(client, signed_in, mai):
    anonymous = client.get("/dossiers/lookup/").content.decode()
    assert 'href="/account/sign-in/"' in anonymous
    assert 'href="/dossiers/"' not in anonymous
    citizen = signed_in(MAI_ID).get("/dossiers/lookup/").content.decode()
    assert 'href="/dossiers/"' in citizen
    assert 'href="/account/sign-in/"' not in citizen
    assert 'href="/backoffice/"' not in citizen
    client.cookies["lienthong_language"] = "en"
    assert ">My dossiers</a>" in client.get("/dossiers/lookup/").content.decode()


def test_without_javascript_the_applicant_is_told_to_choose_her_files_again(
    signed_in, mai, with_address, english
):
    client = signed_in(MAI_ID)
    page = client.get(url(with_address)).content.decode()
    # Before anything is chosen: the address first, the files after.
    assert "Do this before you choose your files: the page comes back without them." in page
    form = declaration(with_address, home__province=HA_NOI, home__pick="1")
    answer = client.post(url(with_address), form)
    assert answer.status_code == 400
    assert "Choose “giay-chung-sinh.pdf” again" in answer.content.decode()
    assert not Dossier.objects.exists()
