"""One dossier's page: status, history, agency, deadline, files; withdrawing it and
answering a supplement request; someone else's dossier does not exist."""

import pytest

from lienthong.dossiers import services
from lienthong.dossiers.models import Status
from lienthong.portal.tests.conftest import MAI_ID, pdf, submitted

pytestmark = pytest.mark.django_db


@pytest.fixture
def dossier(mai, procedure, xanh):
    return submitted(mai, procedure, xanh)


def test_an_anonymous_visitor_is_sent_to_sign_in(client, dossier):
    response = client.get(f"/dossiers/{dossier.code}/")
    assert response.status_code == 302
    assert "/account/sign-in/" in response["Location"]


def test_the_page_shows_status_agency_deadline_history_and_files(signed_in, dossier, xanh):
    page = signed_in(MAI_ID).get(f"/dossiers/{dossier.code}/").content.decode()
    assert dossier.code in page
    assert xanh.name in page
    assert "Thời hạn giải quyết bắt đầu khi cơ quan tiếp nhận hồ sơ." in page
    assert "giay-chung-sinh.pdf" in page
    assert dossier.submitted_at.astimezone().strftime("%d/%m/%Y") in page
    assert "Rút hồ sơ" in page


def test_an_accepted_dossier_shows_its_deadline_and_that_it_is_on_time(signed_in, dossier, lan):
    services.accept(actor=lan, dossier=dossier, expected_version=dossier.version)
    page = signed_in(MAI_ID).get(f"/dossiers/{dossier.code}/").content.decode()
    assert "đúng hạn" in page


def test_someone_elses_dossier_is_404_like_an_absent_one(signed_in, binh, dossier):
    client = signed_in("001085054321")
    assert client.get(f"/dossiers/{dossier.code}/").status_code == 404
    assert client.get("/dossiers/000.00.00.X99-261201-0001/").status_code == 404
    response = client.post(
        f"/dossiers/{dossier.code}/withdraw/", {"version": dossier.version, "confirm": "on"}
    )
    assert response.status_code == 404
    dossier.refresh_from_db()
    assert dossier.status == Status.NEW


def test_the_citizen_withdraws_with_a_reason(signed_in, dossier):
    client = signed_in(MAI_ID)
    response = client.post(
        f"/dossiers/{dossier.code}/withdraw/",
        {"version": dossier.version, "confirm": "on", "reason": "Nộp nhầm"},
    )
    assert response.status_code == 302
    dossier.refresh_from_db()
    assert dossier.status == Status.WITHDRAWN
    page = client.get(response["Location"]).content.decode()
    assert "Hồ sơ của bạn đã được rút." in page
    assert "Nộp nhầm" in page


def test_withdrawing_needs_the_confirmation(signed_in, dossier):
    response = signed_in(MAI_ID).post(
        f"/dossiers/{dossier.code}/withdraw/", {"version": dossier.version}
    )
    assert response.status_code == 400
    assert "Đánh dấu vào ô để xác nhận rút hồ sơ." in response.content.decode()
    dossier.refresh_from_db()
    assert dossier.status == Status.NEW


def test_a_stale_version_is_told_clearly_and_changes_nothing(signed_in, dossier, lan, english):
    read_version = dossier.version
    services.accept(actor=lan, dossier=dossier, expected_version=read_version)
    response = signed_in(MAI_ID).post(
        f"/dossiers/{dossier.code}/withdraw/", {"version": read_version, "confirm": "on"}
    )
    assert response.status_code == 409
    assert "Someone else changed the dossier in the meantime" in response.content.decode()
    dossier.refresh_from_db()
    assert dossier.status == Status.ACCEPTED


def test_a_dossier_being_processed_offers_no_withdrawal(signed_in, dossier, lan, minh):
    dossier = services.accept(actor=lan, dossier=dossier, expected_version=dossier.version)
    services.process(actor=minh, dossier=dossier, expected_version=dossier.version)
    page = signed_in(MAI_ID).get(f"/dossiers/{dossier.code}/").content.decode()
    assert "withdraw/" not in page


def test_the_citizen_answers_a_supplement_request_with_the_missing_files(signed_in, dossier, lan):
    dossier = services.request_supplement(
        actor=lan,
        dossier=dossier,
        reason="Thiếu bản sao giấy đăng ký kết hôn",
        expected_version=dossier.version,
    )
    client = signed_in(MAI_ID)
    page = client.get(f"/dossiers/{dossier.code}/").content.decode()
    assert "Thiếu bản sao giấy đăng ký kết hôn" in page
    response = client.post(
        f"/dossiers/{dossier.code}/supplement/",
        {"version": dossier.version, "files": [pdf("ket-hon.pdf"), pdf("ket-hon-2.pdf", b"2")]},
    )
    assert response.status_code == 302
    dossier.refresh_from_db()
    assert dossier.status == Status.NEW
    assert dossier.attachments.filter(kind="supplement").count() == 2


def test_a_supplement_answer_without_files_is_refused(signed_in, dossier, lan):
    dossier = services.request_supplement(
        actor=lan, dossier=dossier, reason="Thiếu giấy tờ", expected_version=dossier.version
    )
    response = signed_in(MAI_ID).post(
        f"/dossiers/{dossier.code}/supplement/", {"version": dossier.version}
    )
    assert response.status_code == 400
    assert "Hãy chọn ít nhất một tệp." in response.content.decode()
    dossier.refresh_from_db()
    assert dossier.status == Status.SUPPLEMENT_REQUESTED


def test_posting_without_the_csrf_token_is_refused(mai, dossier):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(mai)
    response = client.post(
        f"/dossiers/{dossier.code}/withdraw/", {"version": dossier.version, "confirm": "on"}
    )
    assert response.status_code == 403
