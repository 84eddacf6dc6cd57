"""Looking a dossier up without signing in: code plus phone or ID number; a wrong
guess learns nothing; too many guesses from one address get 429."""

import pytest

from lienthong.portal.tests.conftest import MAI_ID, MAI_PHONE, submitted

pytestmark = pytest.mark.django_db

NEUTRAL_VI = "Không có hồ sơ nào khớp với mã và số điện thoại hoặc số định danh này."


@pytest.fixture
def dossier(mai, procedure, xanh):
    return submitted(mai, procedure, xanh)


def test_the_page_offers_the_form_to_anyone(client):
    page = client.get("/dossiers/lookup/").content.decode()
    assert "Tra cứu hồ sơ" in page
    assert "csrfmiddlewaretoken" in page
    assert "Hồ sơ của tôi" not in page  # the menu offers it to signed-in users only


def test_the_receipts_qr_code_opens_it_with_the_code_filled_in(client, dossier):
    page = client.get(f"/dossiers/lookup/?code={dossier.code}").content.decode()

    assert f'value="{dossier.code}"' in page
    assert dossier.applicant_name not in page  # the code alone shows nothing


@pytest.mark.parametrize("factor", [MAI_PHONE, "+84 912 345 678", MAI_ID])
def test_the_code_and_a_right_factor_show_status_and_history(client, dossier, factor):
    page = client.post(
        "/dossiers/lookup/", {"code": dossier.code, "factor": factor}
    ).content.decode()
    assert f"Hồ sơ {dossier.code}" in page
    assert "Mới" in page
    assert "Lịch sử" in page
    # Status and history only: nothing of the declaration or the files.
    assert "Nguyễn Minh An" not in page
    assert "giay-chung-sinh.pdf" not in page


def test_a_wrong_factor_and_an_unknown_code_get_the_same_neutral_message(client, dossier):
    wrong = client.post("/dossiers/lookup/", {"code": dossier.code, "factor": "0900000000"})
    unknown = client.post(
        "/dossiers/lookup/", {"code": "000.00.00.X99-261201-0001", "factor": MAI_PHONE}
    )
    assert wrong.status_code == unknown.status_code == 200
    for response in (wrong, unknown):
        page = response.content.decode()
        assert NEUTRAL_VI in page
        assert "Lịch sử" not in page


def test_in_english_the_neutral_message_reads_in_english(client, english, dossier):
    page = client.post("/dossiers/lookup/", {"code": dossier.code, "factor": "0900000000"})
    assert "No dossier matches this code and this phone or ID number." in page.content.decode()


def test_beyond_the_limit_the_page_answers_429(client, settings, dossier):
    settings.PORTAL_LOOKUP_RATE = "3/m"
    for _ in range(3):
        assert (
            client.post("/dossiers/lookup/", {"code": "x", "factor": "0900000000"}).status_code
            == 200
        )
    response = client.post("/dossiers/lookup/", {"code": dossier.code, "factor": MAI_PHONE})
    assert response.status_code == 429
    page = response.content.decode()
    assert "Quá nhiều lần tra cứu" in page
    assert "Lịch sử" not in page
