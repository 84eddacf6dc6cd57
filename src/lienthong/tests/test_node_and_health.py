"""The node's home page, identity, health and readiness."""

import pytest

pytestmark = pytest.mark.django_db


def test_the_home_page_shows_who_the_node_is_and_what_it_hosts(client, settings):
    settings.NODE_NAME = "Nút tỉnh Nghệ An"
    settings.NODE_IDENTIFIER = "VN:GOV:000.00.00.T40:node"
    settings.NODE_ROLE = "provincial"
    settings.NODE_AGENCIES = ["000.00.00.T40"]
    body = client.get("/").content.decode()
    assert "Nút tỉnh Nghệ An" in body
    assert "VN:GOV:000.00.00.T40:node" in body
    assert "Ủy ban nhân dân tỉnh Nghệ An" in body
    assert "34" in body and "3321" in body.replace(".", "").replace(",", "")


def test_pages_are_vietnamese_first_with_english_available(client):
    vietnamese = client.get("/directory/").content.decode()
    assert '<html lang="vi"' in vietnamese
    client.post("/i18n/setlang/", {"language": "en", "next": "/directory/"})
    english = client.get("/directory/").content.decode()
    assert '<html lang="en"' in english
    assert "National directory" in english
    assert "National directory" not in vietnamese


def test_directory_pages_answer(client):
    for url in [
        "/directory/",
        "/directory/units/01/",
        "/directory/units/00070/",
        "/directory/agencies/",
        "/directory/agencies/?kind=ministry",
        "/directory/agencies/000.00.00.T01/",
    ]:
        assert client.get(url).status_code == 200, url


def test_a_province_page_pages_through_its_communes(client):
    response = client.get("/directory/units/01/", {"page": 3})
    assert response.context["communes"].number == 3
    assert response.context["communes"].paginator.count == 126


def test_unknown_units_and_agencies_are_404(client):
    assert client.get("/directory/units/99999/").status_code == 404
    assert client.get("/directory/agencies/000.00.00.Z99/").status_code == 404


def test_liveness_touches_nothing(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.json() == {"status": "ok"}


def test_readiness_checks_the_database_and_migrations(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}}


def test_readiness_fails_with_the_reason_when_the_database_is_down(client, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr("lienthong.views.connection.cursor", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "error: OSError"


def test_every_response_carries_a_request_id(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="abc123")
    assert response["X-Request-ID"] == "abc123"
    assert len(client.get("/healthz")["X-Request-ID"]) == 32


def test_audit_addresses_come_from_trusted_proxies_only(rf, settings):
    from lienthong.audit.middleware import client_address

    settings.TRUSTED_PROXIES = frozenset({"10.0.0.2"})
    spoofed = rf.get("/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert client_address(spoofed) == "203.0.113.9"
    proxied = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.7")
    assert client_address(proxied) == "198.51.100.7"
    settings.TRUSTED_PROXIES = frozenset()
    assert client_address(proxied) == "10.0.0.2"


def test_probes_answer_head_requests(client):
    assert client.head("/healthz").status_code == 200
    assert client.head("/readyz").status_code == 200


@pytest.mark.django_db
def test_an_unknown_api_address_is_a_json_404_with_a_code_and_a_page_stays_html(client):
    answer = client.get("/api/v1/no-such-thing")

    assert answer.status_code == 404
    assert answer.json()["code"] == "not_found"
    assert answer.json()["message_en"]

    page = client.get("/no-such-page/")
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_a_nul_character_in_an_address_is_a_clear_400_not_a_server_error(client):
    api = client.get("/api/v1/procedures/1.0%00")
    assert api.status_code == 404
    assert api.json()["code"] == "not_found"
    assert client.get("/api/v1/procedures?field=a%00").status_code == 422

    assert client.get("/procedures/?q=a%00b").status_code == 400
    assert client.get("/dossiers/lookup/?code=%00").status_code == 400
