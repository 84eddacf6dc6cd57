"""The directory through the versioned JSON API (/api/v1)."""

import pytest

pytestmark = pytest.mark.django_db


def test_units_list_counts_34_provinces_and_3321_communes(client):
    provinces = client.get("/api/v1/units", {"level": "province", "page_size": 50}).json()
    communes = client.get("/api/v1/units", {"level": "commune"}).json()
    assert provinces["count"] == 34
    assert len(provinces["results"]) == 34
    assert communes["count"] == 3321
    assert communes["pages"] == 67  # 50 per page


def test_ha_noi_is_found_without_diacritics(client):
    body = client.get("/api/v1/units", {"q": "ha noi"}).json()
    assert body["results"][0] == {
        "code": "01",
        "level": "province",
        "division_type": "thành phố trung ương",
        "name": "Thành phố Hà Nội",
        "parent": None,
        "valid_from": "2025-07-01",
        "valid_to": None,
    }


def test_communes_of_a_province_and_one_unit_by_code(client):
    body = client.get("/api/v1/units", {"parent": "01", "page_size": 200}).json()
    assert body["count"] == 126
    unit = client.get("/api/v1/units/00070").json()
    assert unit["parent"] == {"code": "01", "name": "Thành phố Hà Nội"}


def test_agencies_carry_identifier_parent_unit_and_node(client):
    body = client.get("/api/v1/agencies", {"q": "so tu phap nghe an"}).json()
    assert body["count"] == 1
    agency = body["results"][0]
    assert agency["identifier"] == "000.00.03.T40"
    assert agency["identifier_generated"] is True
    assert agency["parent"]["identifier"] == "000.00.00.T40"
    assert agency["unit"]["code"] == "40"
    assert agency["node"]["identifier"] == "VN:GOV:000.00.00.T40:node"
    one = client.get("/api/v1/agencies/000.00.00.G12").json()
    assert (one["name"], one["identifier_generated"]) == ("Bộ Tài chính", False)


def test_agencies_filter_by_kind_and_by_province(client):
    ministries = client.get("/api/v1/agencies", {"kind": "ministry"}).json()
    assert ministries["count"] == 14
    in_hanoi = client.get("/api/v1/agencies", {"unit": "01"}).json()
    assert in_hanoi["count"] == 1 + 12 + 126  # committee, departments, communes


def test_unknown_objects_answer_404_with_a_stable_code_in_both_languages(client):
    response = client.get("/api/v1/units/99999")
    assert response.status_code == 404
    assert response.json() == {
        "code": "unit_not_found",
        "message": "Không tìm thấy đơn vị hành chính.",
        "message_vi": "Không tìm thấy đơn vị hành chính.",
        "message_en": "No such administrative unit.",
        "details": [],
    }
    english = client.get("/api/v1/agencies/000.00.00.Z99", HTTP_ACCEPT_LANGUAGE="en")
    assert english.json()["message"] == "No such agency."


@pytest.mark.parametrize(
    "params",
    [{"page": 0}, {"page_size": 1000}, {"level": "district"}, {"parent": "ab"}, {"page": "x"}],
)
def test_bad_query_parameters_answer_422_invalid_input(client, params):
    response = client.get("/api/v1/units", params)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_input"
    assert body["message_en"] == "The request is not valid."
    assert body["details"]


def test_node_endpoint_says_who_this_node_is(client, settings):
    settings.NODE_IDENTIFIER = "VN:GOV:000.00.00.T40:node"
    settings.NODE_NAME = "Nút tỉnh Nghệ An"
    settings.NODE_ROLE = "provincial"
    settings.NODE_AGENCIES = ["000.00.00.T40", "000.00.03.T40"]
    body = client.get("/api/v1/node").json()
    assert body["identifier"] == "VN:GOV:000.00.00.T40:node"
    assert body["role"] == "provincial"
    assert [a["identifier"] for a in body["agencies"]] == ["000.00.00.T40", "000.00.03.T40"]


def test_without_configured_agencies_the_node_hosts_what_the_directory_says(client, settings):
    settings.NODE_IDENTIFIER = "VN:GOV:000.00.00.G22:node"
    settings.NODE_AGENCIES = []
    body = client.get("/api/v1/node").json()
    assert len(body["agencies"]) == 17


def test_address_validation_endpoint(client):
    ok = client.post(
        "/api/v1/addresses/validate",
        {
            "street": "1 Tràng Tiền",
            "commune_code": "00070",
            "province_code": "01",
            "postal_code": "11011",
        },
        content_type="application/json",
    )
    assert ok.status_code == 200
    assert ok.json()["formatted"] == "1 Tràng Tiền, Phường Hoàn Kiếm, Thành phố Hà Nội, 11011"
    bad = client.post(
        "/api/v1/addresses/validate",
        {
            "street": "1 Tràng Tiền",
            "commune_code": "00070",
            "province_code": "40",
            "postal_code": "1101",
        },
        content_type="application/json",
    )
    assert bad.status_code == 200
    assert bad.json()["valid"] is False
    problems = {p["field"]: p for p in bad.json()["problems"]}
    assert {field: p["code"] for field, p in problems.items()} == {
        "commune_code": "commune_not_in_province",
        "postal_code": "postal_code_format",
    }
    assert problems["commune_code"]["message_en"] == "Phường Hoàn Kiếm is not in Tỉnh Nghệ An."
    assert problems["postal_code"]["message_vi"] != problems["postal_code"]["message_en"]


def test_a_day_must_be_a_calendar_day(client):
    assert client.get("/api/v1/units", {"on": "0"}).status_code == 422
    response = client.get("/api/v1/units", {"on": "2025-02-30"})
    assert response.status_code == 422
    assert response.json()["details"][0]["loc"] == ["query", "on"]
    before = client.get("/api/v1/units", {"on": "2025-06-30", "level": "province"}).json()
    assert before["count"] == 0  # the 2025 structure starts on 1 July 2025


def test_malformed_json_answers_a_clear_4xx(client):
    response = client.post(
        "/api/v1/addresses/validate", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_request"


def test_the_openapi_document_is_served(client):
    document = client.get("/api/v1/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert "/api/v1/units" in document["paths"]
