"""Passkeys in a real Chromium, with the DevTools virtual authenticator: register one,
sign out, sign in with it without a password; every page visited meets WCAG 2.1 AA.

The live server writes (the passkey, the sign-ins), so this test does not run in
pytest-django's rolled-back transaction, whose lock would hold the server's
writes back on SQLite: it commits its own persona and retires it afterwards.
Audit records stay, as they always do. (pytest-django creates the test
database only for a session holding a test that uses ``db``: the page test
below is one.)
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connections

from lienthong.identity import services
from lienthong.identity.models import Passkey
from lienthong.identity.tests.conftest import PASSWORD
from lienthong.testing.browser import assert_accessible

pytestmark = pytest.mark.browser

PERSONAL_ID = "079195004321"  # Chị Lan, born 1995 in Hồ Chí Minh City


@pytest.fixture
def lan(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        account = services.create_account(
            actor="test",
            kind="citizen",
            display_name="Lê Thị Lan",
            personal_id=PERSONAL_ID,
            password=PASSWORD,
            source="test",
        )
    yield account.user
    with django_db_blocker.unblock():
        # The committed persona is retired rather than deleted: a delete would
        # cascade into every other app's tables that point at users.
        Passkey.objects.filter(user=account.user).delete()
        account.delete()
        get_user_model().objects.filter(pk=account.user.pk).update(
            is_active=False, username=f"retired-{account.user.pk}"
        )
        # The connections used here and by the server's threads live outside
        # pytest-django's bookkeeping: close them, or PostgreSQL refuses to drop
        # the test database at the end of the run.
        connections.close_all()


@pytest.fixture
def localhost_page(browser, browser_server, settings):
    """A page on http://localhost:<port>: WebAuthn refuses IP addresses as relying parties."""
    base_url = browser_server.replace("127.0.0.1", "localhost")
    settings.IDENTITY_RP_ID = "localhost"
    settings.IDENTITY_ORIGINS = [base_url]
    context = browser.new_context(locale="vi-VN", base_url=base_url)
    page = context.new_page()
    yield page
    context.close()


@pytest.mark.django_db
def test_without_javascript_the_sign_in_page_offers_no_passkey_button(client):
    page = client.get("/account/sign-in/").content.decode()
    assert '<form class="passkey" method="post" data-passkey="sign-in"' in page
    assert page.count(" hidden>") >= 1
    assert "identity/passkeys.js" in page


def add_virtual_authenticator(page) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )


def test_a_citizen_registers_a_passkey_and_signs_in_with_it_in_chromium(
    localhost_page, lan, django_db_blocker
):
    # pytest-django blocks the database again for the test call itself; the
    # server thread answering the browser needs it open.
    with django_db_blocker.unblock():
        run_the_ceremonies(localhost_page, lan)


def run_the_ceremonies(page, lan) -> None:
    add_virtual_authenticator(page)

    page.goto("/account/sign-in/")
    assert_accessible(page)
    page.fill("#id_identifier", PERSONAL_ID)
    page.fill("#id_password", PASSWORD)
    page.locator("main form:not([data-passkey]) button[type=submit]").click()
    page.wait_for_url("**/account/")
    assert_accessible(page)

    page.goto("/account/passkeys/add/")
    assert_accessible(page)
    page.fill("#id_name", "Điện thoại của Lan")
    page.click("form[data-passkey] button[type=submit]")
    page.wait_for_url("**/account/")
    assert "Điện thoại của Lan" in page.content()
    assert_accessible(page)

    page.locator("form[action='/account/sign-out/'] button").click()
    page.wait_for_url("**/account/sign-in/")
    page.click("form[data-passkey] button[type=submit]")
    page.wait_for_url("**/account/")
    assert "Lê Thị Lan" in page.content()

    page.goto("/account/activity/")
    assert_accessible(page)
    assert Passkey.objects.get(user=lan).last_used_at is not None
