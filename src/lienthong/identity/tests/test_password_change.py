"""Changing the password: the current one, a fresh second factor, the validators,
the other sessions ended, the holder told."""

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import Client

from lienthong.audit.models import AuditRecord
from lienthong.identity import notify, services, sms
from lienthong.identity.tests.conftest import MAI_ID, PASSWORD, give_totp, sign_in

pytestmark = pytest.mark.django_db

NEW = "a brand new passphrase for Mai"


def change(client, current=PASSWORD, new=NEW, again=None):
    return client.post(
        "/account/password/",
        {"current_password": current, "new_password1": new, "new_password2": again or new},
    )


@pytest.fixture
def mai_signed_in(client, mai):
    mai.account.email = "mai@example.vn"
    mai.account.save()
    sign_in(client, MAI_ID)
    return client


def test_a_citizen_changes_her_password_and_is_told_by_email_and_sms(
    mai_signed_in, mai, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = change(mai_signed_in)
    notify.wait()
    assert response.status_code == 302
    assert response["Location"] == "/account/"
    mai.refresh_from_db()
    assert mai.check_password(NEW)
    assert AuditRecord.objects.filter(action="password_changed").count() == 1
    assert [m.to for m in mail.outbox] == [["mai@example.vn"]]
    assert "001190012345" in mail.outbox[0].body
    assert [m.phone for m in sms.MemoryGateway.outbox] == ["0912345678"]


def test_a_wrong_current_password_changes_nothing_and_counts_toward_lockout(
    mai_signed_in, mai, english, settings
):
    response = change(mai_signed_in, current="not my password")
    assert response.status_code == 200
    assert "The current password is wrong." in response.content.decode()
    mai.refresh_from_db()
    assert mai.check_password(PASSWORD)
    assert AuditRecord.objects.filter(action="password_not_changed").count() == 1
    for _ in range(settings.IDENTITY_MAX_FAILURES - 1):
        change(mai_signed_in, current="not my password")
    # Locked: even the right password is refused, and the session ends.
    response = change(mai_signed_in)
    assert response["Location"] == "/account/sign-in/"
    assert SESSION_KEY not in mai_signed_in.session
    mai.refresh_from_db()
    assert mai.check_password(PASSWORD)


def test_the_password_validators_apply(mai_signed_in, mai):
    response = change(mai_signed_in, new="12345678")
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    mai.refresh_from_db()
    assert mai.check_password(PASSWORD)


def test_the_two_new_passwords_must_match(mai_signed_in, mai):
    change(mai_signed_in, again="something else entirely")
    mai.refresh_from_db()
    assert mai.check_password(PASSWORD)


def test_it_rotates_this_session_and_ends_every_other_session(mai_signed_in, mai):
    laptop = mai_signed_in
    phone = Client()
    sign_in(phone, MAI_ID)
    assert phone.get("/account/").status_code == 200
    key_before = laptop.session.session_key
    change(laptop)
    assert laptop.session.session_key != key_before
    assert laptop.get("/account/").status_code == 200
    response = phone.get("/account/")
    assert response.status_code == 302
    assert response["Location"].startswith("/account/sign-in/")


def test_a_user_with_a_second_factor_must_prove_it_afresh(client, mai, clock, settings):
    totp = give_totp(mai)
    clock.shift(30)
    sign_in(client, MAI_ID)
    client.post("/account/sign-in/verify/", {"method": "totp", "code": totp.now()})
    clock.shift(settings.IDENTITY_STEP_UP_SECONDS + 1)
    response = client.get("/account/password/")
    assert response["Location"] == "/account/verify/?next=%2Faccount%2Fpassword%2F"
    response = change(client)
    assert response["Location"].startswith("/account/verify/")
    mai.refresh_from_db()
    assert mai.check_password(PASSWORD)
    # After a fresh code, the change goes through.
    clock.shift(30)
    client.post(
        "/account/verify/", {"method": "totp", "code": totp.now(), "next": "/account/password/"}
    )
    assert change(client)["Location"] == "/account/"
    mai.refresh_from_db()
    assert mai.check_password(NEW)


def test_an_account_without_a_password_sets_one_without_a_current_one(client, db):
    user = services.create_account(
        actor="test",
        kind="citizen",
        display_name="Lê Văn Bình",
        personal_id="001090012346",
        password=None,
        source="test",
    ).user
    client.force_login(user)
    page = client.get("/account/password/").content.decode()
    assert 'name="current_password"' not in page
    response = client.post("/account/password/", {"new_password1": NEW, "new_password2": NEW})
    assert response["Location"] == "/account/"
    user.refresh_from_db()
    assert user.check_password(NEW)


def test_the_change_is_in_recent_activity(mai_signed_in, english):
    change(mai_signed_in)
    assert "Password changed" in mai_signed_in.get("/account/activity/").content.decode()
