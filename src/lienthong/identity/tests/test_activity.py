"""The user sees the sign-ins, failures and factor changes of their account."""

import pytest
from django.utils import translation

from lienthong.audit.models import AuditRecord
from lienthong.identity import selectors
from lienthong.identity.tests.conftest import MAI_ID, give_totp, sign_in

pytestmark = pytest.mark.django_db


def test_recent_activity_lists_sign_ins_failures_and_factor_changes_newest_first(
    clock, client, mai, an_phat
):
    sign_in(client, MAI_ID, "a wrong password")
    clock.shift(60)
    sign_in(client, MAI_ID)
    clock.shift(60)
    give_totp(mai)
    sign_in(client, "0100109106", "a wrong password")  # someone else's account
    with translation.override("en"):
        events = [(a.event, a.detail) for a in selectors.recent_activity(mai)]
    assert events[:4] == [
        ("Sign-in method added", "backup codes"),
        ("Sign-in method added", "authenticator app"),
        ("Signed in", "password"),
        ("Failed sign-in (wrong password)", "password"),
    ]
    assert all("0100109106" not in str(e) for e in events)


def test_the_activity_page_shows_the_client_address(client, english, mai):
    sign_in(client, MAI_ID, "a wrong password")
    sign_in(client, MAI_ID)
    page = client.get("/account/activity/").content.decode()
    assert "Failed sign-in (wrong password)" in page
    assert "127.0.0.1" in page


def test_the_activity_page_needs_sign_in(client):
    assert (
        client.get("/account/activity/")["Location"] == "/account/sign-in/?next=/account/activity/"
    )


def test_a_failed_attempt_is_not_put_on_the_account_holder(client, mai):
    sign_in(client, MAI_ID, "a wrong password")
    record = AuditRecord.objects.get(action="sign_in_failed")
    assert (record.actor_id, record.actor_label) == (None, "anonymous")
    assert record.object_id == str(mai.account.pk)


def test_staff_without_an_account_see_their_own_activity(client, operator):
    client.post("/account/sign-in/", {"identifier": "lan.operator", "password": "wrong one"})
    with translation.override("en"):
        events = [a.event for a in selectors.recent_activity(operator)]
    assert events == ["Failed sign-in (wrong password)"]
