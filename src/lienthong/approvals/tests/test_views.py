"""The pages: pairing from the account, the phone's app, signing in with the phone."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client

from lienthong.approvals import services
from lienthong.approvals.models import ApprovalRequest, PairedDevice, State
from lienthong.approvals.tests.conftest import (
    HASHES,
    MAI_ID,
    ORIGIN,
    PASSWORD,
    SIGNATURE,
)
from lienthong.approvals.views import DEVICE_COOKIE
from lienthong.audit.models import AuditRecord
from lienthong.identity.tests.authenticator import SoftAuthenticator

pytestmark = pytest.mark.django_db


def post_json(client, url, body=None):
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def phone_client(secret: str) -> Client:
    phone = english_client()
    phone.cookies[DEVICE_COOKIE] = secret
    return phone


def english_client(**defaults) -> Client:
    """A browser reading the pages in English (the language cookie)."""
    browser = Client(**defaults)
    browser.cookies["lienthong_language"] = "en"
    return browser


def approve_on(phone: Client, authenticator, approval):
    options = post_json(phone, f"/approvals/app/requests/{approval.pk}/options/").json()
    answer = authenticator.get(options)
    return post_json(
        phone, f"/approvals/app/requests/{approval.pk}/approve/", {"credential": answer}
    )


def test_a_signed_in_citizen_pairs_a_phone_by_qr_code(client, mai):
    client.force_login(mai)
    assert client.get("/approvals/devices/pair/").status_code == 200
    page = client.post("/approvals/devices/pair/").content.decode()
    assert "<svg" in page
    link = page.split("data-pairing-link>", 1)[1].split("<", 1)[0]
    token_path = link.split("testserver", 1)[1]

    phone = Client()
    assert phone.get(token_path)["Location"] == "/approvals/pair/confirm/"
    confirm = phone.get("/approvals/pair/confirm/")
    assert "Nguyễn Thị Mai" in confirm.content.decode()
    options = post_json(phone, "/approvals/pair/options/").json()
    assert options["authenticatorSelection"]["userVerification"] == "required"
    authenticator = SoftAuthenticator(origin=ORIGIN)
    answer = post_json(
        phone,
        "/approvals/pair/register/",
        {"credential": authenticator.create(options), "name": "Điện thoại của Mai"},
    )
    assert answer.json() == {"redirect": "/approvals/app/"}
    cookie = answer.cookies[DEVICE_COOKIE]
    assert cookie["httponly"] and cookie["path"] == "/approvals/"
    assert PairedDevice.objects.get(user=mai).name == "Điện thoại của Mai"
    assert "Điện thoại của Mai" in phone.get("/approvals/app/").content.decode()
    # The QR code's link worked once.
    assert Client().get(token_path).status_code == 400
    assert "Điện thoại của Mai" in client.get("/approvals/devices/").content.decode()
    assert "Điện thoại của Mai" in client.get("/account/").content.decode()


def test_a_phone_pairs_with_the_typed_code(client, mai):
    client.force_login(mai)
    page = client.post("/approvals/devices/pair/").content.decode()
    short = page.split("data-short-code>", 1)[1].split("<", 1)[0]
    phone = Client()
    assert phone.post("/approvals/pair/", {"code": short})["Location"] == "/approvals/pair/confirm/"
    wrong = Client().post("/approvals/pair/", {"code": "ZZZZ-ZZZZ"})
    assert wrong.status_code == 400
    assert wrong.context["error"].code == "pairing_invalid"


def test_pairing_needs_a_recent_second_factor_when_the_user_has_one(client, mai, mai_phone):
    from lienthong.identity import factors

    device = factors.start_totp_enrolment(user=mai)
    import pyotp

    factors.confirm_totp(user=mai, code=pyotp.TOTP(factors.totp_secret(device)).now(), source="t")
    client.force_login(mai)
    response = client.post("/approvals/devices/pair/")
    assert response.status_code == 302
    assert response["Location"].startswith("/account/verify/")


def test_the_app_shows_only_its_own_users_requests(mai, binh, mai_phone, binh_phone):
    _device, secret, _phone = mai_phone
    _binh_device, binh_secret, _ = binh_phone
    mine = services.request_approval(user=mai, kind="signature", summary=SIGNATURE, hashes=HASHES)
    theirs = services.request_approval(user=binh, kind="signature", summary=SIGNATURE)
    phone = phone_client(secret)
    listing = phone.get("/approvals/app/").content.decode()
    assert f"/approvals/app/requests/{mine.pk}/" in listing
    assert str(theirs.pk) not in listing
    detail = phone.get(f"/approvals/app/requests/{mine.pk}/").content.decode()
    for value in SIGNATURE.values():
        assert value in detail
    assert phone.get(f"/approvals/app/requests/{theirs.pk}/").status_code == 404
    assert post_json(phone, f"/approvals/app/requests/{theirs.pk}/options/").status_code == 404
    assert phone.post(f"/approvals/app/requests/{theirs.pk}/deny/").status_code == 404
    # Without the app's cookie, nothing at all.
    assert Client().get(f"/approvals/app/requests/{mine.pk}/").status_code == 404
    assert phone_client(binh_secret).get(f"/approvals/app/requests/{mine.pk}/").status_code == 404


def test_the_phone_approves_with_its_passkey_and_the_service_consumes(mai, mai_phone):
    _device, secret, authenticator = mai_phone
    approval = services.request_approval(
        user=mai, kind="signature", summary=SIGNATURE, hashes=HASHES
    )
    phone = phone_client(secret)
    assert approve_on(phone, authenticator, approval).json() == {"redirect": "/approvals/app/"}
    services.consume(request_id=approval.pk, user=mai, kind="signature", hashes=HASHES)
    approval.refresh_from_db()
    assert approval.consumed_at is not None


def test_an_options_nonce_serves_one_answer(mai, mai_phone):
    _device, secret, authenticator = mai_phone
    approval = services.request_approval(user=mai, kind="signature", summary=SIGNATURE)
    phone = phone_client(secret)
    options = post_json(phone, f"/approvals/app/requests/{approval.pk}/options/").json()
    answer = authenticator.get(options)
    url = f"/approvals/app/requests/{approval.pk}/approve/"
    other = services.request_approval(user=mai, kind="signature", summary=SIGNATURE)
    # Options fetched for one request do not serve another.
    assert post_json(phone, f"/approvals/app/requests/{other.pk}/approve/", {"credential": answer}).json()["code"] == "approval_not_verified"  # fmt: skip
    assert post_json(phone, url, {"credential": answer}).json()["code"] == "approval_not_verified"


def test_deny_on_the_phone_is_final(mai, mai_phone):
    _device, secret, _authenticator = mai_phone
    approval = services.request_approval(user=mai, kind="signature", summary=SIGNATURE)
    phone = phone_client(secret)
    assert phone.get("/approvals/app/").content.decode().count("/approvals/app/requests/") == 1
    assert phone.post(f"/approvals/app/requests/{approval.pk}/deny/").status_code == 302
    approval.refresh_from_db()
    assert approval.state == State.DENIED
    detail = phone.get(f"/approvals/app/requests/{approval.pk}/").content.decode()
    assert f"/approvals/app/requests/{approval.pk}/approve/" not in detail


def verified(client):
    """The session as a fresh second-factor check leaves it (step-up)."""
    from lienthong.identity import sessions

    session = client.session
    session[sessions.VERIFIED] = sessions.now()
    session.save()


def test_a_revoked_phone_is_unpaired_from_the_account_page(client, mai, mai_phone):
    device, secret, _authenticator = mai_phone
    client.force_login(mai)
    # Unpairing is a sensitive action: the phone itself can confirm it (below).
    assert client.post(f"/approvals/devices/{device.pk}/revoke/")["Location"].startswith(
        "/account/verify/"
    )
    verified(client)
    assert client.post(f"/approvals/devices/{device.pk}/revoke/").status_code == 302
    device.refresh_from_db()
    assert device.revoked_at is not None
    assert "not paired" in phone_client(secret).get("/approvals/app/").content.decode()


def test_one_user_cannot_unpair_anothers_phone(client, binh, mai_phone):
    device, _secret, _authenticator = mai_phone
    client.force_login(binh)
    assert client.post(f"/approvals/devices/{device.pk}/revoke/").status_code == 404


def test_a_phone_that_lost_its_cookie_reconnects_with_its_passkey(mai, mai_phone):
    device, old_secret, authenticator = mai_phone
    phone = Client()
    options = post_json(phone, "/approvals/app/connect/options/").json()
    answer = post_json(phone, "/approvals/app/connect/", {"credential": authenticator.get(options)})
    assert answer.json() == {"redirect": "/approvals/app/"}
    assert services.device_for_secret(answer.cookies[DEVICE_COOKIE].value) == device
    assert services.device_for_secret(old_secret) is None


def test_the_app_is_installable(client):
    manifest = client.get("/approvals/manifest.webmanifest")
    assert manifest["Content-Type"] == "application/manifest+json"
    body = manifest.json()
    assert body["display"] == "standalone"
    assert body["start_url"] == "/approvals/app/"
    assert body["scope"] == "/approvals/"
    assert {icon["sizes"] for icon in body["icons"]} >= {"192x192", "512x512"}
    worker = client.get("/approvals/sw.js")
    assert worker["Content-Type"].startswith("text/javascript")
    assert "/approvals/app/offline/" in worker.content.decode()
    assert 'rel="manifest"' in client.get("/approvals/app/").content.decode()


# --- Signing in on a computer, approved on the phone ------------------------------------


def password_step(computer: Client):
    return computer.post("/account/sign-in/", {"identifier": MAI_ID, "password": PASSWORD})


def test_a_sign_in_completes_when_the_phone_approves(mai, mai_phone):
    _device, secret, authenticator = mai_phone
    computer = Client(HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0")
    assert password_step(computer)["Location"] == "/account/sign-in/verify/"
    assert "/approvals/sign-in/" in computer.get("/account/sign-in/verify/").content.decode()
    assert computer.post("/approvals/sign-in/")["Location"] == "/approvals/sign-in/wait/"
    approval = ApprovalRequest.objects.get(user=mai, kind="sign_in")
    assert approval.summary["browser"] == "Firefox / Linux"
    waiting = computer.get("/approvals/sign-in/wait/")
    assert waiting.status_code == 200 and "Firefox / Linux" in waiting.content.decode()
    # The shared waiting markup: htmx asks again; without JavaScript, a button.
    page = waiting.content.decode()
    assert 'hx-get="/approvals/sign-in/wait/" hx-trigger="every' in page
    assert '<form method="get" action="/approvals/sign-in/wait/"><button type="submit">' in page
    assert "_auth_user_id" not in computer.session

    approve_on(phone_client(secret), authenticator, approval)
    done = computer.get("/approvals/sign-in/wait/", HTTP_HX_REQUEST="true")
    assert done["HX-Redirect"] == "/account/"
    assert computer.session["_auth_user_id"] == str(mai.pk)
    sign_in = AuditRecord.objects.filter(action="sign_in").latest("id")
    assert sign_in.changes == {"methods": ["password", "phone"]}
    approval.refresh_from_db()
    assert approval.consumed_at is not None


def test_a_denied_sign_in_goes_back_to_the_choice(mai, mai_phone):
    device, _secret, _authenticator = mai_phone
    computer = english_client()
    password_step(computer)
    computer.post("/approvals/sign-in/")
    approval = ApprovalRequest.objects.get(user=mai, kind="sign_in")
    services.deny(request_id=approval.pk, device=device)
    response = computer.get("/approvals/sign-in/wait/", follow=True)
    assert response.redirect_chain[-1][0] == "/account/sign-in/verify/"
    assert "denied on your phone" in response.content.decode()
    assert "_auth_user_id" not in computer.session


def test_an_expired_sign_in_request_goes_back_to_the_choice(mai, mai_phone, time_machine):
    time_machine.move_to("2026-12-01 09:00:00 +07:00", tick=False)
    computer = english_client()
    password_step(computer)
    computer.post("/approvals/sign-in/")
    time_machine.shift(dt.timedelta(seconds=121))
    response = computer.get("/approvals/sign-in/wait/", follow=True)
    assert response.redirect_chain[-1][0] == "/account/sign-in/verify/"
    assert "has expired" in response.content.decode()
    assert ApprovalRequest.objects.get(user=mai).state == State.EXPIRED


def test_without_a_pending_password_step_there_is_nothing_to_approve(mai, mai_phone):
    computer = Client()
    assert computer.post("/approvals/sign-in/")["Location"] == "/account/sign-in/"
    assert not ApprovalRequest.objects.exists()


def test_a_user_without_a_phone_is_not_offered_the_phone(mai):
    computer = Client()
    # No second factor and no phone: the password alone signs a citizen in.
    assert password_step(computer)["Location"] == "/account/"


def test_without_javascript_the_sign_in_continues_by_the_link_to_the_page_asked_for(mai, mai_phone):
    _device, secret, authenticator = mai_phone
    computer = Client()
    computer.get("/account/sign-in/?next=/dossiers/")
    password_step(computer)
    computer.post("/approvals/sign-in/")
    approval = ApprovalRequest.objects.get(user=mai, kind="sign_in")
    approve_on(phone_client(secret), authenticator, approval)
    done = computer.get("/approvals/sign-in/wait/")
    assert done.status_code == 302 and done["Location"] == "/dossiers/"
    assert computer.session["_auth_user_id"] == str(mai.pk)
    # The approval served once: going back to the waiting page signs nobody in again.
    assert computer.get("/approvals/sign-in/wait/")["Location"] == "/account/sign-in/"


# --- Step-up: confirming it is you on the phone -----------------------------------------------


def test_a_sensitive_action_is_confirmed_on_the_phone(mai, mai_phone):
    _device, secret, authenticator = mai_phone
    computer = english_client()
    computer.force_login(mai)
    # A paired phone is a way to prove it is her: pairing another one asks for it.
    asked = computer.get("/approvals/devices/pair/")
    assert asked["Location"] == "/account/verify/?next=%2Fapprovals%2Fdevices%2Fpair%2F"
    page = computer.get(asked["Location"]).content.decode()
    assert 'action="/approvals/step-up/"' in page

    started = computer.post("/approvals/step-up/", {"next": "/approvals/devices/pair/"})
    assert started["Location"] == "/approvals/step-up/wait/"
    approval = ApprovalRequest.objects.get(user=mai, kind="step_up")
    assert approval.summary["action"] == "Pair a phone (/approvals/devices/pair/)"
    assert set(approval.summary) == {"action", "ip", "browser", "time"}
    waiting = computer.get("/approvals/step-up/wait/").content.decode()
    assert 'hx-trigger="every' in waiting and "Pair a phone" in waiting
    assert '<form method="get" action="/approvals/step-up/wait/"><button type="submit">' in waiting
    phone = phone_client(secret)
    assert "Confirm: Pair a phone" in phone.get("/approvals/app/").content.decode()
    assert computer.get("/approvals/devices/pair/").status_code == 302  # not yet

    approve_on(phone, authenticator, approval)
    done = computer.get("/approvals/step-up/wait/", HTTP_HX_REQUEST="true")
    assert done["HX-Redirect"] == "/approvals/devices/pair/"
    assert computer.get("/approvals/devices/pair/").status_code == 200
    approval.refresh_from_db()
    assert approval.consumed_at is not None
    # Used once: the wait page has nothing more to give.
    assert computer.get("/approvals/step-up/wait/")["Location"] == "/account/"


def test_a_denied_confirmation_verifies_nothing(mai, mai_phone):
    device, _secret, _authenticator = mai_phone
    computer = english_client()
    computer.force_login(mai)
    computer.post("/approvals/step-up/", {"next": "/account/password/"})
    approval = ApprovalRequest.objects.get(user=mai, kind="step_up")
    assert approval.summary["action"] == "Change your password (/account/password/)"
    services.deny(request_id=approval.pk, device=device, source="test")

    back = computer.get("/approvals/step-up/wait/", follow=True)
    assert back.redirect_chain[-1][0] == "/account/verify/?next=%2Faccount%2Fpassword%2F"
    assert "The confirmation was denied on your phone." in back.content.decode()
    assert computer.get("/account/password/")["Location"].startswith("/account/verify/")


def test_a_sign_in_approval_does_not_confirm_an_action(mai, mai_phone):
    _device, secret, authenticator = mai_phone
    computer = english_client()
    computer.force_login(mai)
    computer.post("/approvals/step-up/", {"next": "https://elsewhere.example/"})
    step_up = ApprovalRequest.objects.get(user=mai, kind="step_up")
    # Somewhere else is no place to go back to: the account page is.
    assert step_up.summary["action"].endswith("(/account/)")
    sign_in = services.request_approval(
        user=mai, kind="sign_in", summary={"ip": "1.2.3.4", "browser": "x", "time": "now"}
    )
    approve_on(phone_client(secret), authenticator, sign_in)
    session = computer.session
    session["approvals_step_up"]["id"] = str(sign_in.pk)
    session.save()
    refused = computer.get("/approvals/step-up/wait/")
    assert refused["Location"].startswith("/account/verify/")
    assert computer.get("/account/password/")["Location"].startswith("/account/verify/")


def test_a_phone_only_user_is_asked_for_a_confirmation_in_json_too(mai, mai_phone):
    computer = english_client()
    computer.force_login(mai)
    response = computer.post(
        "/account/passkeys/register/options/", "{}", content_type="application/json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "verification_required"
