"""A signed-in citizen starts a dossier from a procedure: the typed form, the
documents, the code on the dossier's page; and every refusal."""

import pytest

from lienthong.dossiers.models import Channel, Dossier, Status
from lienthong.portal.tests.conftest import MAI_ID, pdf

pytestmark = pytest.mark.django_db


def url(procedure):
    return f"/dossiers/new/{procedure.code}/"


def test_an_anonymous_visitor_is_sent_to_sign_in_first(client, procedure):
    response = client.get(url(procedure))
    assert response.status_code == 302
    assert response["Location"] == f"/account/sign-in/?next=/dossiers/new/{procedure.code}/"


def test_the_form_shows_the_procedures_typed_fields_and_documents(signed_in, mai, procedure):
    client = signed_in(MAI_ID)
    page = client.get(url(procedure)).content.decode()
    assert "Họ tên trẻ" in page
    assert "Ngày sinh" in page
    assert "dd/mm/yyyy" in page
    assert 'type="tel"' in page
    assert 'type="file" name="document_' in page
    assert 'enctype="multipart/form-data"' in page
    assert "csrfmiddlewaretoken" in page


def test_a_citizen_submits_and_lands_on_the_dossier_showing_its_code(signed_in, mai, procedure):
    client = signed_in(MAI_ID)
    document = procedure.documents.get()
    response = client.post(
        url(procedure),
        {
            "child_name": "Nguyễn Minh An",
            "birth_date": "20/11/2026",
            "phone": "",
            f"document_{document.pk}": pdf(),
        },
    )
    dossier = Dossier.objects.get(applicant=mai)
    assert response.status_code == 302
    assert response["Location"] == f"/dossiers/{dossier.code}/"
    assert dossier.channel == Channel.ONLINE
    assert dossier.status == Status.NEW
    assert dossier.form_data == {"child_name": "Nguyễn Minh An", "birth_date": "2026-11-20"}
    assert dossier.attachments.get().document == document
    page = client.get(response["Location"]).content.decode()
    assert f"Hồ sơ của bạn đã được nộp. Mã hồ sơ là {dossier.code}." in page


def test_invalid_values_are_shown_in_the_catalogues_words_and_nothing_is_created(
    signed_in, mai, procedure
):
    client = signed_in(MAI_ID)
    response = client.post(
        url(procedure), {"child_name": "", "birth_date": "31/02/2026", "phone": "12"}
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert "Hồ sơ chưa được nộp" in page
    assert "Trường này là bắt buộc." in page or "bắt buộc" in page
    assert 'aria-invalid="true"' in page
    assert not Dossier.objects.exists()


def test_in_english_the_errors_read_in_english(signed_in, mai, procedure, english):
    client = signed_in(MAI_ID)
    response = client.post(url(procedure), {"child_name": "An", "birth_date": "someday"})
    page = response.content.decode()
    assert "Enter a date as dd/mm/yyyy." in page
    assert "This field is required." in page  # the missing document
    assert "Child&#x27;s name" in page
    assert not Dossier.objects.exists()


def test_a_file_of_the_wrong_type_is_refused_and_nothing_is_created(signed_in, mai, procedure):
    client = signed_in(MAI_ID)
    document = procedure.documents.get()
    response = client.post(
        url(procedure),
        {"child_name": "An", "birth_date": "20/11/2026", f"document_{document.pk}": pdf("a.png")},
    )
    assert response.status_code == 400
    assert "Loại tệp này không được chấp nhận" in response.content.decode()
    assert not Dossier.objects.exists()


def test_a_file_too_large_is_refused_by_the_dossiers_service(signed_in, mai, procedure, settings):
    settings.DOSSIERS_MAX_ATTACHMENT_BYTES = 100
    client = signed_in(MAI_ID)
    document = procedure.documents.get()
    response = client.post(
        url(procedure),
        {
            "child_name": "An",
            "birth_date": "20/11/2026",
            f"document_{document.pk}": pdf(extra=b"x" * 500),
        },
    )
    assert response.status_code == 400
    assert "Tệp lớn hơn dung lượng cho phép." in response.content.decode()
    assert not Dossier.objects.exists()


def test_an_unknown_procedure_is_404(signed_in, mai):
    assert signed_in(MAI_ID).get("/dossiers/new/LT.999999/").status_code == 404


def test_a_procedure_received_by_many_agencies_asks_for_the_province_then_the_agency(
    signed_in, mai, db
):
    client = signed_in(MAI_ID)
    page = client.get("/dossiers/new/1.001193/").content.decode()
    assert '<select id="province" name="province">' in page
    assert "Hà Nội" in page
    hanoi = client.get("/dossiers/new/1.001193/?province=01").content.decode()
    assert '<select id="agency" name="agency">' in hanoi
    assert "Ba Đình" in hanoi


def test_a_procedure_no_agency_receives_online_says_so(signed_in, mai, db):
    page = signed_in(MAI_ID).get("/dossiers/new/LT.000004/").content.decode()
    assert "nộp tại bộ phận một cửa" in page
