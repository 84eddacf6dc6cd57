"""Passkeys: registering several, signing in without a password, and every forged answer refused.

The answers come from a software authenticator (tests/authenticator.py) that
signs with a real P-256 key, as a phone or a security key would.
"""

import json

import pytest
from django.contrib.auth import SESSION_KEY

from lienthong.audit.models import AuditRecord
from lienthong.identity.models import Passkey
from lienthong.identity.tests.authenticator import UP, SoftAuthenticator
from lienthong.identity.tests.conftest import MAI_ID, give_totp, sign_in

pytestmark = pytest.mark.django_db


def post_json(client, path, body=None):
    return client.post(path, json.dumps(body or {}), content_type="application/json")


def register(client, device, name="Điện thoại của Mai", **overrides):
    options = post_json(client, "/account/passkeys/register/options/").json()
    credential = device.create(options, **overrides)
    return post_json(
        client, "/account/passkeys/register/", {"credential": credential, "name": name}
    )


def passkey_sign_in(client, device, **overrides):
    options = post_json(client, "/account/sign-in/passkey/options/").json()
    return post_json(
        client, "/account/sign-in/passkey/", {"credential": device.get(options, **overrides)}
    )


@pytest.fixture
def phone():
    return SoftAuthenticator()


@pytest.fixture
def mai_with_passkey(client, mai, phone):
    sign_in(client, MAI_ID)
    assert register(client, phone).status_code == 200
    client.post("/account/sign-out/")
    return mai


def test_a_citizen_registers_a_passkey_and_names_it(client, mai, phone):
    sign_in(client, MAI_ID)
    response = register(client, phone)
    assert response.json() == {"redirect": "/account/"}
    passkey = Passkey.objects.get(user=mai)
    assert passkey.name == "Điện thoại của Mai"
    assert bytes(passkey.credential_id) == phone.credential_id
    assert AuditRecord.objects.filter(action="factor_added", changes__factor="passkey").exists()


def test_the_registration_options_ask_for_a_discoverable_passkey_with_user_verification(
    client, mai
):
    sign_in(client, MAI_ID)
    options = post_json(client, "/account/passkeys/register/options/").json()
    assert options["rp"]["id"] == "localhost"
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["user"]["name"] == MAI_ID


def test_a_citizen_registers_several_passkeys(client, mai):
    sign_in(client, MAI_ID)
    register(client, SoftAuthenticator(), name="Điện thoại")
    register(client, SoftAuthenticator(), name="Máy tính xách tay")
    assert list(Passkey.objects.filter(user=mai).values_list("name", flat=True)) == [
        "Điện thoại",
        "Máy tính xách tay",
    ]
    options = post_json(client, "/account/passkeys/register/options/").json()
    assert len(options["excludeCredentials"]) == 2


def test_a_passkey_signs_in_without_a_password(client, mai_with_passkey, phone):
    response = passkey_sign_in(client, phone)
    assert response.json() == {"redirect": "/account/"}
    assert client.session[SESSION_KEY] == str(mai_with_passkey.pk)
    assert AuditRecord.objects.filter(action="sign_in").first().changes == {"methods": ["passkey"]}


def test_the_sign_in_options_let_any_discoverable_passkey_answer(client):
    options = post_json(client, "/account/sign-in/passkey/options/").json()
    assert options.get("allowCredentials", []) == []
    assert options["userVerification"] == "required"


def test_a_reused_challenge_is_refused(client, mai_with_passkey, phone):
    options = post_json(client, "/account/sign-in/passkey/options/").json()
    answer = phone.get(options)
    assert post_json(client, "/account/sign-in/passkey/", {"credential": answer}).status_code == 200
    client.post("/account/sign-out/")
    replay = post_json(client, "/account/sign-in/passkey/", {"credential": answer})
    assert replay.status_code == 400
    assert replay.json()["code"] == "passkey_no_challenge"
    assert SESSION_KEY not in client.session


def test_an_answer_to_another_challenge_is_refused(client, mai_with_passkey, phone):
    stale = post_json(client, "/account/sign-in/passkey/options/").json()
    post_json(client, "/account/sign-in/passkey/options/")
    response = post_json(client, "/account/sign-in/passkey/", {"credential": phone.get(stale)})
    assert response.status_code == 400
    assert response.json()["code"] == "passkey_not_verified"


def test_an_answer_from_another_origin_is_refused(client, mai_with_passkey, phone):
    response = passkey_sign_in(client, phone, origin="https://evil.example")
    assert response.status_code == 400
    assert response.json()["code"] == "passkey_not_verified"
    assert response.json()["message_vi"]
    assert SESSION_KEY not in client.session


def test_an_answer_for_another_relying_party_is_refused(client, mai_with_passkey, phone):
    response = passkey_sign_in(client, phone, rp_id="evil.example")
    assert response.status_code == 400
    assert SESSION_KEY not in client.session


def test_a_registration_from_another_origin_is_refused(client, mai, phone):
    sign_in(client, MAI_ID)
    response = register(client, phone, origin="https://evil.example")
    assert response.status_code == 400
    assert not Passkey.objects.exists()


def test_a_sign_counter_that_goes_back_reveals_a_cloned_authenticator(
    client, mai_with_passkey, phone
):
    passkey_sign_in(client, phone)
    passkey_sign_in(client, phone)
    client.post("/account/sign-out/")
    phone.sign_count = 0  # the clone answers with the counter the original had
    response = passkey_sign_in(client, phone)
    assert response.status_code == 400
    assert SESSION_KEY not in client.session
    assert AuditRecord.objects.filter(action="factor_failed").exists()


def test_an_answer_without_user_verification_is_refused(client, mai_with_passkey, phone):
    response = passkey_sign_in(client, phone, flags=UP)
    assert response.status_code == 400


def test_an_unknown_passkey_is_refused(client, mai_with_passkey):
    stranger = SoftAuthenticator()
    stranger.user_handle = b"x" * 32
    assert passkey_sign_in(client, stranger).status_code == 400


def test_garbage_gets_a_clear_error(client, mai_with_passkey):
    post_json(client, "/account/sign-in/passkey/options/")
    response = post_json(client, "/account/sign-in/passkey/", {"credential": {"id": 5}})
    assert response.status_code == 400
    assert response.json()["code"] == "passkey_not_verified"


def test_after_a_password_only_the_users_own_passkey_completes_sign_in(
    client, mai_with_passkey, an_phat
):
    other = SoftAuthenticator()
    client.force_login(an_phat)
    register(client, other, name="Khóa của An Phát")
    client.post("/account/sign-out/")
    sign_in(client, MAI_ID)
    response = passkey_sign_in(client, other)
    assert response.status_code == 400
    assert SESSION_KEY not in client.session


def test_a_password_then_a_passkey_signs_in(client, mai_with_passkey, phone):
    assert sign_in(client, MAI_ID)["Location"] == "/account/sign-in/verify/"
    passkey_sign_in(client, phone)
    assert client.session[SESSION_KEY] == str(mai_with_passkey.pk)


def test_a_passkey_is_renamed_and_revoked(client, mai_with_passkey, phone):
    passkey_sign_in(client, phone)
    passkey = Passkey.objects.get()
    client.post(f"/account/passkeys/{passkey.pk}/rename/", {"name": "Điện thoại cũ"})
    assert Passkey.objects.get().name == "Điện thoại cũ"
    client.post(f"/account/passkeys/{passkey.pk}/remove/")
    assert not Passkey.objects.exists()
    assert AuditRecord.objects.filter(action="factor_removed").exists()


def test_someone_elses_passkey_cannot_be_renamed_or_revoked(client, mai_with_passkey, an_phat):
    client.force_login(an_phat)
    passkey = Passkey.objects.get()
    assert client.post(f"/account/passkeys/{passkey.pk}/remove/").status_code == 404
    assert Passkey.objects.exists()


def test_adding_a_passkey_long_after_sign_in_needs_a_fresh_verification(
    client, mai, clock, settings
):
    totp = give_totp(mai)
    clock.shift(30)
    sign_in(client, MAI_ID)
    client.post("/account/sign-in/verify/", {"method": "totp", "code": totp.now()})
    clock.shift(settings.IDENTITY_STEP_UP_SECONDS + 30)
    response = post_json(client, "/account/passkeys/register/options/")
    assert response.status_code == 403
    assert response.json()["code"] == "verification_required"
    assert client.get("/account/passkeys/add/")["Location"].startswith("/account/verify/?next=")
    client.post(
        "/account/verify/", {"method": "totp", "code": totp.now(), "next": "/account/passkeys/add/"}
    )
    assert post_json(client, "/account/passkeys/register/options/").status_code == 200


def test_a_passkey_gives_a_fresh_verification(client, mai_with_passkey, phone, clock, settings):
    passkey_sign_in(client, phone)
    clock.shift(settings.IDENTITY_STEP_UP_SECONDS + 30)
    assert client.get("/account/passkeys/add/").status_code == 302
    options = post_json(client, "/account/verify/passkey/options/").json()
    response = post_json(
        client,
        "/account/verify/passkey/",
        {"credential": phone.get(options), "next": "/account/passkeys/add/"},
    )
    assert response.json() == {"redirect": "/account/passkeys/add/"}
    assert client.get("/account/passkeys/add/").status_code == 200
