"""The citizen's list of their own dossiers, newest first, paginated."""

import pytest

from lienthong.portal import views
from lienthong.portal.tests.conftest import BINH_ID, MAI_ID, submitted

pytestmark = pytest.mark.django_db


def test_an_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get("/dossiers/")
    assert response.status_code == 302
    assert response["Location"].startswith("/account/sign-in/?next=/dossiers/")


def test_it_lists_only_the_citizens_own_dossiers_newest_first(
    signed_in, mai, binh, procedure, xanh
):
    first = submitted(mai, procedure, xanh)
    second = submitted(mai, procedure, xanh)
    other = submitted(binh, procedure, xanh)
    page = signed_in(MAI_ID).get("/dossiers/").content.decode()
    assert page.index(second.code) < page.index(first.code)
    assert other.code not in page
    assert "Mới tiếp nhận" in page or "Mới" in page
    assert xanh.name in page
    assert "Hồ sơ của tôi" in page


def test_it_is_paginated(signed_in, mai, procedure, xanh, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    codes = [submitted(mai, procedure, xanh).code for _ in range(3)]
    client = signed_in(MAI_ID)
    first = client.get("/dossiers/").content.decode()
    second = client.get("/dossiers/?page=2").content.decode()
    assert codes[0] not in first and codes[0] in second
    assert "Trang 1 trên 2" in first


def test_in_english(signed_in, binh, english):
    page = signed_in(BINH_ID).get("/dossiers/").content.decode()
    assert "My dossiers" in page
    assert "You have not submitted any dossier yet." in page
