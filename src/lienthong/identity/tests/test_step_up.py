"""Sensitive actions need a recent proof of a second factor (step-up)."""

import pytest

from lienthong.audit.models import AuditRecord
from lienthong.identity import factors
from lienthong.identity.tests.conftest import MAI_ID, give_totp, sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def mai_signed_in_with_totp(clock, client, mai):
    totp = give_totp(mai)
    clock.shift(30)
    sign_in(client, MAI_ID)
    client.post("/account/sign-in/verify/", {"method": "totp", "code": totp.now()})
    return totp


def test_right_after_the_second_factor_a_sensitive_action_goes_through(
    client, mai, mai_signed_in_with_totp
):
    response = client.post("/account/backup-codes/")
    assert response.status_code == 200
    assert response.content.decode().count("<code>") == 10


def test_later_it_asks_to_verify_again_and_does_nothing_meanwhile(
    client, mai, mai_signed_in_with_totp, clock, settings
):
    clock.shift(settings.IDENTITY_STEP_UP_SECONDS + 1)
    response = client.post("/account/totp/remove/")
    assert response["Location"] == "/account/verify/?next=%2Faccount%2F"
    assert factors.has_totp(mai)
    assert not AuditRecord.objects.filter(action="factor_removed").exists()


def test_verifying_again_with_a_code_opens_sensitive_actions(
    client, mai, mai_signed_in_with_totp, clock, settings
):
    clock.shift(settings.IDENTITY_STEP_UP_SECONDS + 1)
    client.post("/account/verify/", {"method": "totp", "code": mai_signed_in_with_totp.now()})
    client.post("/account/totp/remove/")
    assert not factors.has_totp(mai)


def test_backup_codes_do_not_count_as_a_fresh_verification(
    client, mai, mai_signed_in_with_totp, clock, settings
):
    codes = factors.regenerate_backup_codes(user=mai, source="test")
    clock.shift(settings.IDENTITY_STEP_UP_SECONDS + 1)
    client.post("/account/verify/", {"method": "backup_code", "code": codes[0]})
    client.post("/account/totp/remove/")
    assert factors.has_totp(mai)


def test_a_wrong_step_up_code_is_refused(
    client, english, mai, mai_signed_in_with_totp, clock, settings
):
    clock.shift(settings.IDENTITY_STEP_UP_SECONDS + 1)
    response = client.post("/account/verify/", {"method": "totp", "code": "000000"})
    assert "The code is wrong or has expired." in response.content.decode()
    assert client.get("/account/totp/").status_code == 302
