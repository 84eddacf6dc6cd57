"""The address on the dossier form: the province, then its communes (replaced by
htmx, or brought back by the form's own button without JavaScript), checked on
the server; and the cheap display filters and shared menu of the list pages."""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from lienthong.catalog.models import FieldKind, FormField
from lienthong.directory.models import AdministrativeUnit, UnitLevel
from lienthong.dossiers import attachments
from lienthong.dossiers.models import Dossier, StagedUpload, Status
from lienthong.dossiers.templatetags.dossiers import local_date, local_datetime, status_label
from lienthong.portal.forms import KEPT_FORMS
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


def test_without_javascript_the_files_chosen_are_kept_for_the_submission(
    signed_in, mai, with_address, english
):
    client = signed_in(MAI_ID)
    page = client.get(url(with_address)).content.decode()
    assert "The files you chose are kept when the page comes back." in page
    form = declaration(with_address, home__province=HA_NOI, home__pick="1")

    answer = client.post(url(with_address), form)

    assert answer.status_code == 400
    page = answer.content.decode()
    assert "Already attached: “giay-chung-sinh.pdf” (" in page
    assert "again" not in page.split("Already attached", 1)[1].split("</p>", 1)[0]
    assert not Dossier.objects.exists()
    [kept] = StagedUpload.objects.all()
    assert kept.session_key == client.session.session_key
    assert attachments.full_path(kept.path).read_bytes().startswith(b"%PDF-")

    # The commune chosen, submitted without choosing the file again.
    form = declaration(with_address, home__province=HA_NOI)
    del form[f"document_{with_address.documents.get().pk}"]
    form["home__commune"] = communes_in(HA_NOI)[0]
    done = client.post(url(with_address), form)

    assert done.status_code == 302
    [attachment] = Dossier.objects.get().attachments.all()
    assert (attachment.original_name, attachment.sha256) == ("giay-chung-sinh.pdf", kept.sha256)
    assert not StagedUpload.objects.exists()


def test_a_file_refused_when_kept_must_be_chosen_again(signed_in, mai, with_address, english):
    client = signed_in(MAI_ID)
    form = declaration(with_address, home__province=HA_NOI, home__pick="1")
    form[f"document_{with_address.documents.get().pk}"] = SimpleUploadedFile(
        "giay-chung-sinh.pdf", b"not a pdf at all", content_type="application/pdf"
    )
    answer = client.post(url(with_address), form)
    assert answer.status_code == 400
    page = answer.content.decode()
    assert "Choose “giay-chung-sinh.pdf” again" in page
    assert "does not match its type" in page
    assert not StagedUpload.objects.exists()


def test_kept_files_expire_and_are_swept_without_orphans(
    signed_in, mai, with_address, time_machine
):
    client = signed_in(MAI_ID)
    client.post(url(with_address), declaration(with_address, home__province=HA_NOI, home__pick="1"))
    [kept] = StagedUpload.objects.all()
    blob = attachments.full_path(kept.path)
    # Old enough for the sweep, but still staged: kept.
    while_kept = kept.staged_at + dt.timedelta(hours=1)
    assert blob not in attachments.sweep(older_than=dt.timedelta(0), now=while_kept).blobs

    later = kept.expires_at + dt.timedelta(seconds=1)
    time_machine.move_to(later)
    page = client.post(
        url(with_address),
        {
            **declaration(with_address, home__pick="1"),
            f"document_{with_address.documents.get().pk}": "",
        },
    ).content.decode()
    assert "Already attached" not in page  # expired: she chooses it again
    report = attachments.sweep(dry_run=False, older_than=dt.timedelta(0), now=later)
    assert report.expired_staged == 1 and blob in report.blobs
    assert not StagedUpload.objects.exists() and not blob.exists()


def test_only_a_form_that_kept_files_looks_for_them(signed_in, mai, with_address):
    client = signed_in(MAI_ID)
    form = declaration(with_address, home__province=HA_NOI)
    form["home__commune"] = communes_in(HA_NOI)[0]

    with CaptureQueriesContext(connection) as queries:
        done = client.post(url(with_address), form)

    assert done.status_code == 302
    assert not any("dossiers_stagedupload" in q["sql"] for q in queries.captured_queries)
    assert KEPT_FORMS not in client.session


def test_a_form_abandoned_after_keeping_files_drops_them_when_opened_again(
    signed_in, mai, with_address
):
    client = signed_in(MAI_ID)
    client.post(url(with_address), declaration(with_address, home__province=HA_NOI, home__pick="1"))
    assert StagedUpload.objects.count() == 1
    assert len(client.session[KEPT_FORMS]) == 1

    page = client.get(url(with_address)).content.decode()

    assert "Already attached" not in page
    assert not StagedUpload.objects.exists()
    assert KEPT_FORMS not in client.session
