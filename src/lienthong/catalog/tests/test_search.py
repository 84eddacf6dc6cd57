"""Finding a procedure by name, field, agency or commune, with or without diacritics,
through the selectors and on the public pages (Vietnamese first, English available)."""

import pytest
from django.conf import settings

from lienthong.catalog import selectors, views
from lienthong.directory.models import AdministrativeUnit, Agency, AgencyKind

pytestmark = pytest.mark.django_db


def codes(queryset):
    return [p.code for p in queryset]


@pytest.mark.parametrize(
    "query", ["dang ky khai sinh", "Đăng ký khai sinh", "ĐĂNG KÝ KHAI SINH", "khai sinh "]
)
def test_it_finds_birth_registration_first_whatever_the_spelling(catalog, query):
    assert codes(selectors.procedures(query=query))[0] == "1.001193"


def test_it_finds_a_procedure_without_diacritics_among_words_in_any_order(catalog):
    assert codes(selectors.procedures(query="tru tam ky")) == ["LT.000005"]


def test_it_finds_a_procedure_by_its_code(catalog):
    assert codes(selectors.procedures(query="1.000894")) == ["1.000894"]


def test_it_finds_procedures_by_the_authority_that_handles_them(catalog):
    assert set(codes(selectors.procedures(query="cong an"))) == {
        "LT.000004",
        "LT.000005",
        "LT.000006",
    }


def test_it_finds_procedures_by_their_english_name(catalog):
    assert codes(selectors.procedures(query="marriage registration")) == ["1.000894"]


def test_a_query_without_searchable_words_finds_nothing(catalog):
    assert codes(selectors.procedures(query="?!")) == []


def test_filters_narrow_by_field_online_level_and_authority(catalog):
    civil_status = codes(selectors.procedures(field_code="ho-tich"))
    assert set(civil_status) == {"1.001193", "1.000894", "1.000656", "LT.000001", "LT.000002"}
    partly = codes(selectors.procedures(online_level="partial"))
    assert set(partly) == {"1.000894", "LT.000003", "LT.000009"}
    assert set(codes(selectors.procedures(authority_kind="social_security"))) == {
        "LT.000007",
        "LT.000008",
    }


def test_an_agency_finds_the_procedures_it_handles(catalog):
    committee = Agency.objects.get(kind=AgencyKind.COMMUNE_COMMITTEE, unit__code="00070")
    found = codes(selectors.procedures(agency=committee))
    assert "1.001193" in found
    assert "LT.000004" not in found  # commune police, not the committee


def test_a_commune_finds_what_its_people_can_do_there(catalog):
    hoan_kiem = AdministrativeUnit.objects.current().get(level="commune", code="00070")
    found = codes(selectors.procedures(commune=hoan_kiem))
    assert {"1.001193", "LT.000004"} <= set(found)
    assert "LT.000007" not in found  # social security: provincial, not listed per commune
    assert len(found) == len(set(found))


def test_the_search_page_works_without_javascript_in_vietnamese(client, catalog):
    response = client.get("/procedures/", {"q": "dang ky khai sinh"})
    body = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="vi">' in body
    assert "Đăng ký khai sinh" in body
    assert "Thủ tục hành chính" in body
    # the interconnected group that starts with a birth registration is offered too
    assert "/procedures/LT.900001/" in body


def test_the_search_page_counts_steps_and_reads_only_what_a_row_shows(
    client, catalog, django_assert_max_num_queries
):
    from lienthong.catalog.models import InterconnectedProcedure

    group = InterconnectedProcedure.objects.get(code="LT.900001")
    steps = group.steps.count()
    # The fields, the count, the page of procedures, the interconnected groups.
    with django_assert_max_num_queries(4):
        response = client.get("/procedures/", {"q": "dang ky khai sinh"})
    body = response.content.decode()
    assert f"{steps} bước" in body
    assert "Đăng ký khai sinh" in body
    # A result row reads no column left out (each would be one more query per row).
    with django_assert_max_num_queries(4):
        client.get("/procedures/", {"field": "ho-tich"})


def test_the_search_page_is_available_in_english(client, catalog):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    body = client.get("/procedures/", {"q": "khai sinh"}).content.decode()
    assert "Birth registration" in body
    assert "Administrative procedures" in body


def test_htmx_search_answers_with_the_results_fragment_only(client, catalog):
    response = client.get("/procedures/", {"q": "ket hon"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "Đăng ký kết hôn" in body
    assert "<html" not in body


def test_filters_on_the_page_and_unknown_values_are_ignored(client, catalog):
    response = client.get("/procedures/", {"field": "cu-tru", "level": "nonsense"})
    page = response.context["results"]
    assert {p.code for p in page} == {"LT.000004", "LT.000005", "LT.000006"}
    assert response.context["filters"] == {"field": "cu-tru", "level": "", "authority": ""}


def test_results_come_in_pages_that_keep_the_filters(client, catalog, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    response = client.get("/procedures/", {"field": "ho-tich", "page": 2})
    assert response.context["results"].number == 2
    assert "?field=ho-tich&amp;page=3" in response.content.decode()


def test_the_detail_page_shows_what_the_procedure_needs(client, catalog):
    response = client.get("/procedures/LT.000004/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Tờ khai thay đổi thông tin cư trú" in body
    assert "20.000" in body  # fee in VND, grouped the Vietnamese way
    assert "7 ngày làm việc" in body
    assert "Luật Cư trú số 68/2020/QH14" in body
    assert "Công an cấp xã" in body


def test_the_detail_page_is_available_in_english(client, catalog):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    body = client.get("/procedures/1.001193/").content.decode()
    assert "<h1>Birth registration</h1>" in body
    assert "same day" in body
    assert "3321 agencies of the directory handle this procedure." in body


def test_the_detail_page_of_an_interconnected_procedure_lists_its_steps(client, catalog):
    body = client.get("/procedures/LT.900002/").content.decode()
    assert body.index("Đăng ký khai tử") < body.index("Xóa đăng ký thường trú")
    assert body.index("Xóa đăng ký thường trú") < body.index("Giải quyết trợ cấp mai táng")
    assert "Nghị định số 63/2024/NĐ-CP" in body
    assert 'href="/dossiers/new/interconnected/LT.900002/"' in body


def test_an_unknown_code_is_not_found(client, catalog):
    assert client.get("/procedures/9.999999/").status_code == 404
