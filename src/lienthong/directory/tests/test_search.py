"""Searching the directory with or without diacritics, on the pages and through the API."""

import pytest

from lienthong.directory import selectors

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("query", ["ha noi", "Hà Nội", "HA NOI", "hà nội", "Ha Noi "])
def test_ha_noi_finds_the_capital_first_whatever_the_spelling(db, query):
    results = list(selectors.units(query=query))
    assert results[0].name == "Thành phố Hà Nội"


def test_all_words_must_match_in_any_order(db):
    names = [u.name for u in selectors.units(query="kiem hoan")]
    assert "Phường Hoàn Kiếm" in names


def test_a_statistics_code_finds_its_unit(db):
    assert selectors.units(query="00070").first().name == "Phường Hoàn Kiếm"


def test_agencies_are_found_by_folded_name_and_by_identifier(db):
    assert selectors.agencies(query="bo tai chinh").first().identifier == "000.00.00.G12"
    assert selectors.agencies(query="000.00.00.g12").first().name == "Bộ Tài chính"
    dak_lak = [a.name for a in selectors.agencies(query="so tu phap dak lak")]
    assert dak_lak == ["Sở Tư pháp tỉnh Đắk Lắk"]


def test_a_query_that_matches_nothing_returns_nothing(db):
    assert not selectors.units(query="zzqx").exists()


def test_a_query_without_searchable_words_returns_nothing_rather_than_failing(db):
    assert list(selectors.units(query="\x8f\U000f3ced !!")) == []
    assert list(selectors.agencies(query="???")) == []


def test_search_page_shows_results_and_pages(client):
    response = client.get("/directory/search/", {"q": "ha noi"})
    assert response.status_code == 200
    assert "Thành phố Hà Nội" in response.content.decode()

    many = client.get("/directory/search/", {"q": "xa", "page": 2})
    assert many.status_code == 200
    assert many.context["results"].number == 2
    assert many.context["results"].paginator.count > 2000


def test_htmx_search_answers_with_the_results_fragment_only(client):
    response = client.get("/directory/search/", {"q": "HA NOI"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "Thành phố Hà Nội" in body
    assert "<html" not in body


def test_agency_search_scope(client):
    response = client.get("/directory/search/", {"q": "ubnd", "scope": "agencies"})
    assert response.status_code == 200
    response = client.get(
        "/directory/search/", {"q": "uy ban nhan dan ha noi", "scope": "agencies"}
    )
    assert "Ủy ban nhân dân thành phố Hà Nội" in response.content.decode()


def test_an_unknown_page_number_falls_back_to_a_real_page(client):
    response = client.get("/directory/search/", {"q": "ha noi", "page": "999"})
    assert response.status_code == 200
    assert "Thành phố Hà Nội" in response.content.decode()


def test_an_oversized_query_is_truncated_not_refused(client):
    response = client.get("/directory/search/", {"q": "ha noi " * 200})
    assert response.status_code == 200
