"""The holder's signing page in a real Chromium: it lists the key and its
certificate, gives an application a token (plain forms: the page has no script);
it meets WCAG 2.1 AA.

The live server writes (the sign-in, the token), so the persona is committed and
retired afterwards, as in the other browser tests (audit records stay).
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connections

from lienthong.identity import services
from lienthong.signing import services as signing
from lienthong.signing.models import AccessToken, SigningCredential
from lienthong.signing.tests.conftest import PASSWORD
from lienthong.testing.browser import assert_accessible

pytestmark = pytest.mark.browser

PERSONAL_ID = "079195004323"  # Chị Vân, born 1995 in Hồ Chí Minh City


@pytest.fixture(autouse=True)
def signing_settings(settings, django_db_blocker):
    """Not the package's (it takes ``db``, whose transaction would lock the server out)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def van(django_db_setup, django_db_blocker, test_pki):
    with django_db_blocker.unblock():
        account = services.create_account(
            actor="test",
            kind="citizen",
            display_name="Đỗ Thị Vân",
            personal_id=PERSONAL_ID,
            password=PASSWORD,
            source="test",
        )
        credential = signing.create_credential(
            actor="test", user=account.user, label="Chữ ký của Vân", source="test"
        )
        signing.issue_test_certificate(
            actor="test", credential=credential, pki=test_pki, source="test"
        )
    yield account.user
    with django_db_blocker.unblock():
        AccessToken.objects.filter(user=account.user).delete()
        SigningCredential.objects.filter(user=account.user).delete()
        account.delete()
        get_user_model().objects.filter(pk=account.user.pk).update(
            is_active=False, username=f"retired-{account.user.pk}"
        )
        connections.close_all()


@pytest.fixture
def holder_page(browser, browser_server):
    # Not ``new_page``: its ``db`` transaction would lock the server's writes out.
    context = browser.new_context(locale="vi-VN", base_url=browser_server)
    yield context.new_page()
    context.close()


def test_the_signing_page_lists_the_key_gives_a_token_and_is_accessible(
    holder_page, van, django_db_blocker
):
    with django_db_blocker.unblock():  # the server's threads use the database
        walk(holder_page)


def walk(page) -> None:
    page.goto("/account/sign-in/?next=/account/signing/")
    page.fill("input[name=identifier]", PERSONAL_ID)
    page.fill("input[name=password]", PASSWORD)
    page.click("form:has(input[name=password]) button[type=submit]")
    page.wait_for_url("**/account/signing/")
    assert "Chữ ký của Vân" in page.content()
    assert "TEST Public CA 1" in page.content()
    assert_accessible(page)

    page.fill("input[name=client_name]", "Ứng dụng ký số")
    page.click("form:has(input[name=client_name]) button[type=submit]")
    assert "ltsig_" in page.content()
    assert_accessible(page)
