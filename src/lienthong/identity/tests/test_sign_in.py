"""Signing in with a password, and the second step when the account has a factor."""

import re

import pytest
from django.contrib.auth import SESSION_KEY

from lienthong.audit.models import AuditRecord
from lienthong.identity import signin
from lienthong.identity.tests.conftest import (
    AN_PHAT_TAX_CODE,
    MAI_ID,
    give_totp,
    sign_in,
)

pytestmark = pytest.mark.django_db

WRONG = "The identifier or the password is wrong."


def alert(response) -> str:
    """The error shown above the sign-in form."""
    match = re.search(r'role="alert">(.*?)</div>', response.content.decode(), re.S)
    return match.group(1).strip() if match else ""


def signed_in_user_id(client):
    return client.session.get(SESSION_KEY)


def test_a_citizen_without_a_second_factor_signs_in_with_id_number_and_password(client, mai):
    response = sign_in(client, MAI_ID)
    assert response.status_code == 302
    assert response["Location"] == "/account/"
    assert signed_in_user_id(client) == str(mai.pk)
    record = AuditRecord.objects.get(action="sign_in")
    assert record.changes == {"methods": ["password"]}
    assert record.object_id == str(mai.account.pk)


def test_a_business_signs_in_with_its_tax_code(client, an_phat):
    sign_in(client, AN_PHAT_TAX_CODE)
    assert signed_in_user_id(client) == str(an_phat.pk)


def test_it_goes_back_to_the_page_that_asked_for_sign_in(client, mai):
    client.get("/account/sign-in/?next=/account/activity/")
    assert sign_in(client, MAI_ID)["Location"] == "/account/activity/"


def test_it_never_redirects_to_another_site_after_sign_in(client, mai):
    client.get("/account/sign-in/?next=https://evil.example/")
    assert sign_in(client, MAI_ID)["Location"] == "/account/"


def test_an_unknown_identifier_and_a_wrong_password_get_the_same_answer(client, english, mai):
    unknown = sign_in(client, "001190099999")
    wrong = sign_in(client, MAI_ID, "not the password at all")
    assert unknown.status_code == wrong.status_code == 200
    assert WRONG in unknown.content.decode()
    assert WRONG in wrong.content.decode()
    assert signed_in_user_id(client) is None


def test_the_password_hasher_runs_for_unknown_identifiers_too(db, monkeypatch):
    from django.contrib.auth.hashers import MD5PasswordHasher

    calls = []
    original = MD5PasswordHasher.encode
    monkeypatch.setattr(
        MD5PasswordHasher, "encode", lambda self, *a: calls.append(1) or original(self, *a)
    )
    outcome, _user = signin.check_password(
        identifier="nobody.here", password="x", address=None, source="test"
    )
    assert outcome is signin.Outcome.INVALID
    assert calls


def test_every_failed_sign_in_is_audited_without_what_was_typed(client, mai):
    sign_in(client, MAI_ID, "wrong password one")
    sign_in(client, "nobody.here", "wrong password two")
    failures = AuditRecord.objects.filter(action="sign_in_failed")
    assert [f.object_id for f in failures.order_by("id")] == [str(mai.account.pk), ""]
    assert not any("wrong password" in str(f.changes) + f.object_repr for f in failures)


def test_it_locks_the_account_after_five_wrong_passwords(client, mai, clock):
    for _i in range(5):
        sign_in(client, MAI_ID, "wrong password")
    response = sign_in(client, MAI_ID)
    assert "15" in alert(response)
    assert alert(response) != alert(sign_in(client, "001190099999", "wrong password"))
    assert signed_in_user_id(client) is None
    assert AuditRecord.objects.filter(action="sign_in_locked").count() == 1


def test_an_unknown_identifier_locks_exactly_like_a_known_one(client, mai):
    answers = []
    for identifier in (MAI_ID, "001190099999"):
        for _i in range(5):
            sign_in(client, identifier, "wrong password")
        answers.append(alert(sign_in(client, identifier, "wrong password")))
    assert answers[0] == answers[1]
    assert answers[0]


def test_the_lockout_ends_after_the_lockout_period(client, mai, clock, settings):
    for _i in range(5):
        sign_in(client, MAI_ID, "wrong password")
    sign_in(client, MAI_ID)
    assert signed_in_user_id(client) is None
    clock.shift(settings.IDENTITY_LOCKOUT_SECONDS + 1)
    sign_in(client, MAI_ID)
    assert signed_in_user_id(client) == str(mai.pk)


def test_one_address_guessing_many_accounts_is_limited(client, mai, settings):
    settings.IDENTITY_MAX_FAILURES_PER_ADDRESS = 3
    for number in ("001190000001", "001190000002", "001190000003"):
        sign_in(client, number, "wrong password")
    sign_in(client, MAI_ID)
    assert signed_in_user_id(client) is None


def test_with_an_authenticator_app_the_password_alone_does_not_sign_in(client, mai):
    give_totp(mai)
    response = sign_in(client, MAI_ID)
    assert response["Location"] == "/account/sign-in/verify/"
    assert signed_in_user_id(client) is None
    assert client.get("/account/").status_code == 302


def test_the_second_step_with_a_totp_code_signs_in_with_a_new_session_key(client, mai, clock):
    totp = give_totp(mai)
    clock.shift(30)
    sign_in(client, MAI_ID)
    key_after_password = client.session.session_key
    response = client.post("/account/sign-in/verify/", {"method": "totp", "code": totp.now()})
    assert response.status_code == 302
    assert signed_in_user_id(client) == str(mai.pk)
    assert client.session.session_key != key_after_password
    record = AuditRecord.objects.get(action="sign_in")
    assert record.changes == {"methods": ["password", "totp"]}


def test_a_totp_code_is_accepted_only_once(client, mai, clock):
    totp = give_totp(mai)
    clock.shift(30)
    code = totp.now()
    sign_in(client, MAI_ID)
    client.post("/account/sign-in/verify/", {"method": "totp", "code": code})
    client.post("/account/sign-out/")
    sign_in(client, MAI_ID)
    response = client.post("/account/sign-in/verify/", {"method": "totp", "code": code})
    assert response.status_code == 200
    assert signed_in_user_id(client) is None


def test_it_locks_the_account_after_five_wrong_codes(client, mai, clock):
    totp = give_totp(mai)
    clock.shift(30)
    sign_in(client, MAI_ID)
    for _i in range(5):
        client.post("/account/sign-in/verify/", {"method": "totp", "code": "000000"})
    response = client.post("/account/sign-in/verify/", {"method": "totp", "code": totp.now()})
    assert response["Location"] == "/account/sign-in/"
    assert signed_in_user_id(client) is None
    assert AuditRecord.objects.filter(action="factor_failed").count() == 5
    # The right password again does not reopen the door while locked.
    sign_in(client, MAI_ID)
    client.post("/account/sign-in/verify/", {"method": "totp", "code": totp.now()})
    assert signed_in_user_id(client) is None


def test_the_second_step_expires(client, mai, clock, settings):
    totp = give_totp(mai)
    clock.shift(30)
    sign_in(client, MAI_ID)
    clock.shift(settings.IDENTITY_PENDING_SECONDS + 1)
    response = client.post("/account/sign-in/verify/", {"method": "totp", "code": totp.now()})
    assert response["Location"] == "/account/sign-in/"
    assert signed_in_user_id(client) is None


def test_a_backup_code_signs_in_once(client, mai):
    from lienthong.identity import factors

    give_totp(mai)
    codes = factors.regenerate_backup_codes(user=mai, source="test")
    sign_in(client, MAI_ID)
    client.post("/account/sign-in/verify/", {"method": "backup_code", "code": codes[0]})
    assert signed_in_user_id(client) == str(mai.pk)
    client.post("/account/sign-out/")
    sign_in(client, MAI_ID)
    client.post("/account/sign-in/verify/", {"method": "backup_code", "code": codes[0]})
    assert signed_in_user_id(client) is None
    assert factors.remaining_backup_codes(mai) == 9


def test_a_method_the_account_does_not_have_is_refused(client, mai):
    give_totp(mai)
    sign_in(client, MAI_ID)
    response = client.post("/account/sign-in/verify/", {"method": "sms", "code": "123456"})
    assert response.status_code == 200
    assert signed_in_user_id(client) is None


def test_signing_out_is_audited_and_ends_the_session(client, mai):
    sign_in(client, MAI_ID)
    client.post("/account/sign-out/")
    assert signed_in_user_id(client) is None
    assert AuditRecord.objects.get(action="sign_out").changes == {"reason": "user"}
