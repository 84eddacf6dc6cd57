"""Officers must use a second factor: one without is sent to enrol before anything else."""

import pytest
from django.contrib.auth import SESSION_KEY

from lienthong.identity import factors
from lienthong.identity.tests.conftest import PASSWORD, give_totp, sign_in, totp_of

pytestmark = pytest.mark.django_db


def test_an_officer_without_a_factor_is_sent_to_enrol_one_before_anything_else(
    client, english, hung
):
    response = sign_in(client, "hung.officer")
    assert response["Location"] == "/account/"
    assert "Officers must use a second factor" in client.get("/account/").content.decode()
    for path in ("/account/activity/", "/directory/", "/", "/api/v1/directory/agencies"):
        assert client.get(path)["Location"] == "/account/", path
    for path in ("/account/totp/", "/account/passkeys/add/"):
        assert client.get(path).status_code == 200, path


def test_the_enrolment_gate_opens_once_an_authenticator_app_is_confirmed(client, hung, clock):
    sign_in(client, "hung.officer")
    assert client.get("/account/totp/").status_code == 200
    clock.shift(30)
    response = client.post("/account/totp/", {"code": totp_of(hung).now()})
    assert response.status_code == 200
    assert "backup" in response.content.decode().lower()
    assert client.get("/account/activity/").status_code == 200


def test_an_officer_with_a_factor_needs_it_to_sign_in(client, hung, clock):
    give_totp(hung)
    assert sign_in(client, "hung.officer")["Location"] == "/account/sign-in/verify/"
    assert SESSION_KEY not in client.session


def test_an_officer_cannot_remove_the_last_second_factor(client, english, hung, clock):
    totp = give_totp(hung)
    clock.shift(30)
    sign_in(client, "hung.officer")
    client.post("/account/sign-in/verify/", {"method": "totp", "code": totp.now()})
    response = client.post("/account/totp/remove/", follow=True)
    assert "Officers must keep at least one second factor." in response.content.decode()
    assert factors.has_totp(hung)


def test_registering_a_passkey_also_opens_the_enrolment_gate(client, hung):
    import json

    from lienthong.identity.tests.authenticator import SoftAuthenticator

    sign_in(client, "hung.officer")
    options = client.post("/account/passkeys/register/options/").json()
    credential = SoftAuthenticator().create(options)
    response = client.post(
        "/account/passkeys/register/",
        json.dumps({"credential": credential, "name": "Khóa bảo mật USB"}),
        content_type="application/json",
    )
    assert response.status_code == 200
    assert client.get("/account/activity/").status_code == 200


def test_the_admin_sign_in_page_sends_staff_to_the_one_sign_in_with_its_second_factor(
    client, operator
):
    response = client.get("/admin/login/?next=/admin/identity/account/")
    assert response["Location"] == "/account/sign-in/?next=%2Fadmin%2Fidentity%2Faccount%2F"
    client.post("/admin/login/", {"username": "lan.operator", "password": PASSWORD})
    assert SESSION_KEY not in client.session


def test_staff_without_a_second_factor_are_sent_to_enrol_one(client, operator):
    client.post("/account/sign-in/", {"identifier": "lan.operator", "password": PASSWORD})
    assert client.get("/admin/")["Location"] == "/account/"


def test_staff_with_a_second_factor_reach_the_admin(client, operator, clock):
    totp = give_totp(operator)
    clock.shift(30)
    client.get("/account/sign-in/?next=/admin/")
    sign_in(client, "lan.operator")
    response = client.post("/account/sign-in/verify/", {"method": "totp", "code": totp.now()})
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
