"""The catalogue through the versioned JSON API (/api/v1): answers and error codes."""

import pytest

pytestmark = pytest.mark.django_db


def test_procedures_are_searched_without_diacritics(client, catalog):
    body = client.get("/api/v1/procedures", {"q": "dang ky ket hon"}).json()
    assert body["count"] == 1
    marriage = body["results"][0]
    assert marriage["code"] == "1.000894"
    assert marriage["online_level"] == "partial"
    assert marriage["field"] == {"code": "ho-tich", "name": "Hộ tịch", "name_en": "Civil status"}
    assert marriage["provisional_code"] is False


def test_procedures_are_filtered_and_paginated(client, catalog):
    body = client.get("/api/v1/procedures", {"field": "ho-tich", "page_size": 2}).json()
    assert (body["count"], body["pages"], len(body["results"])) == (5, 3, 2)
    level = client.get("/api/v1/procedures", {"level": "partial"}).json()
    assert {p["code"] for p in level["results"]} == {"1.000894", "LT.000003", "LT.000009"}


def test_procedures_are_found_by_commune_and_by_agency(client, catalog):
    commune = client.get("/api/v1/procedures", {"commune": "00070", "page_size": 50}).json()
    assert "LT.000004" in {p["code"] for p in commune["results"]}
    central = client.get("/api/v1/procedures", {"agency": "000.00.00.G12"}).json()
    assert central["count"] == 0  # the Ministry of Finance handles none of the seeded ones


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"field": "khong-co"}, 404, "unknown_field"),
        ({"agency": "000.00.00.Z99"}, 404, "unknown_agency"),
        ({"commune": "99999"}, 404, "unknown_commune"),
        ({"level": "fully"}, 422, "invalid_input"),
        ({"page": 0}, 422, "invalid_input"),
        ({"commune": "abc"}, 422, "invalid_input"),
    ],
)
def test_bad_filters_are_refused_with_a_stable_code(client, catalog, params, status, code):
    response = client.get("/api/v1/procedures", params)
    body = response.json()
    assert response.status_code == status
    assert body["code"] == code
    assert body["message_vi"] and body["message_en"]


def test_one_procedure_tells_everything_it_needs(client, catalog):
    body = client.get("/api/v1/procedures/LT.000004").json()
    assert body["time_limit"] == "7.0"
    assert body["time_limit_basis"] == "working_days"
    assert body["legal_basis"] == "Luật Cư trú số 68/2020/QH14"
    assert [f["amount"] for f in body["fees"]] == [20000, 10000]
    assert body["documents"][0]["name"] == "Tờ khai thay đổi thông tin cư trú"
    assert body["form_fields"][0] == {
        "key": "residence_address",
        "kind": "address",
        "label": "Địa chỉ đăng ký thường trú",
        "label_en": "Address to register",
        "required": True,
        "choices": [],
    }
    assert [s["number"] for s in body["statuses"]] == list(range(1, 11))
    assert body["provisional_code"] is True


def test_an_unknown_procedure_is_a_404_with_a_stable_code(client, catalog):
    response = client.get("/api/v1/procedures/9.999999")
    assert response.status_code == 404
    assert response.json()["code"] == "procedure_not_found"


def test_interconnected_procedures_list_their_steps_in_order(client, catalog):
    body = client.get("/api/v1/interconnected-procedures").json()
    assert body["count"] == 2
    one = client.get("/api/v1/interconnected-procedures/LT.900001").json()
    assert [s["procedure"]["code"] for s in one["steps"]] == ["1.001193", "LT.000004", "LT.000007"]
    assert [s["position"] for s in one["steps"]] == [1, 2, 3]
    missing = client.get("/api/v1/interconnected-procedures/LT.000001")
    assert missing.status_code == 404
    assert missing.json()["code"] == "interconnected_procedure_not_found"


def test_fields_are_listed_for_the_field_filter(client, catalog):
    codes = [f["code"] for f in client.get("/api/v1/procedure-fields").json()]
    assert "cu-tru" in codes
    assert len(codes) == 7
