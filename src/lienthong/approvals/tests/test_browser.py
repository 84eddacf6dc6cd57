"""Approvals in a real Chromium, with two browser contexts: chị Hoa's computer and her
phone, which holds a DevTools virtual authenticator (a platform authenticator with
user verification). She pairs the phone, signs in on the computer with the phone's
approval, then approves a signature on the phone; every page visited meets WCAG 2.1 AA.

As in the identity browser test, the live server writes, so this test commits its
own persona (no rolled-back ``db`` transaction holding SQLite's write lock) and
retires it afterwards.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connections

from lienthong.approvals import services
from lienthong.approvals.models import ApprovalRequest, PairedDevice, PairingCode, State
from lienthong.approvals.tests.conftest import PASSWORD, SIGNATURE
from lienthong.identity import services as identity
from lienthong.testing.browser import assert_accessible

pytestmark = pytest.mark.browser

PERSONAL_ID = "031196004567"  # Chị Hoa, born 1996 in Hải Phòng
HASHES = ["n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="]


@pytest.fixture
def hoa(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        account = identity.create_account(
            actor="test",
            kind="citizen",
            display_name="Phạm Thị Hoa",
            personal_id=PERSONAL_ID,
            password=PASSWORD,
            source="test",
        )
    yield account.user
    with django_db_blocker.unblock():
        ApprovalRequest.objects.filter(user=account.user).delete()
        PairedDevice.objects.filter(user=account.user).delete()
        PairingCode.objects.filter(user=account.user).delete()
        account.delete()
        get_user_model().objects.filter(pk=account.user.pk).update(
            is_active=False, username=f"retired-{account.user.pk}"
        )
        connections.close_all()


@pytest.fixture
def contexts(browser, browser_server, settings):
    """The computer and the phone: two contexts on http://localhost:<port> (WebAuthn
    refuses IP addresses as relying parties)."""
    base_url = browser_server.replace("127.0.0.1", "localhost")
    settings.IDENTITY_RP_ID = "localhost"
    settings.IDENTITY_ORIGINS = [base_url]
    settings.APPROVALS_POLL_SECONDS = 1
    computer = browser.new_context(locale="vi-VN", base_url=base_url)
    phone = browser.new_context(
        locale="vi-VN",
        base_url=base_url,
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
    )
    yield computer.new_page(), phone.new_page()
    computer.close()
    phone.close()


@pytest.mark.django_db
def test_without_javascript_the_phone_offers_deny_but_no_passkey_button(client, mai_phone):
    from lienthong.approvals.views import DEVICE_COOKIE

    device, secret, _authenticator = mai_phone
    approval = services.request_approval(user=device.user, kind="signature", summary=SIGNATURE)
    client.cookies[DEVICE_COOKIE] = secret
    page = client.get(f"/approvals/app/requests/{approval.pk}/").content.decode()
    assert '<form class="passkey" method="post" data-passkey="approve"' in page
    assert page.split('data-passkey="approve"', 1)[1].split(">", 1)[0].endswith(" hidden")
    assert f'action="/approvals/app/requests/{approval.pk}/deny/"' in page


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


def test_a_phone_approves_a_sign_in_and_a_signature_in_chromium(contexts, hoa, django_db_blocker):
    computer, phone = contexts
    with django_db_blocker.unblock():
        pair_the_phone(computer, phone)
        sign_in_with_the_phone(computer, phone, hoa)
        approve_a_signature(phone, hoa)


def pair_the_phone(computer, phone) -> None:
    computer.goto("/account/sign-in/")
    computer.fill("#id_identifier", PERSONAL_ID)
    computer.fill("#id_password", PASSWORD)
    computer.locator("main form:not([data-passkey]) button[type=submit]").click()
    computer.wait_for_url("**/account/")

    computer.goto("/approvals/devices/")
    assert_accessible(computer)
    computer.goto("/approvals/devices/pair/")
    assert_accessible(computer)
    computer.locator("main form button[type=submit]").click()
    computer.wait_for_selector("[data-pairing-link]")
    assert_accessible(computer)
    link = computer.locator("[data-pairing-link]").inner_text()

    add_virtual_authenticator(phone)
    phone.goto(link)
    phone.wait_for_url("**/approvals/pair/confirm/")
    assert "Phạm Thị Hoa" in phone.content()
    assert_accessible(phone)
    phone.fill("#id_name", "Điện thoại của Hoa")
    phone.click("form[data-passkey] button[type=submit]")
    phone.wait_for_url("**/approvals/app/")
    assert "Điện thoại của Hoa" in phone.content()
    assert_accessible(phone)

    computer.goto("/approvals/devices/")
    assert "Điện thoại của Hoa" in computer.content()


def sign_in_with_the_phone(computer, phone, hoa) -> None:
    computer.goto("/account/")
    computer.locator("form[action='/account/sign-out/'] button").click()
    computer.wait_for_url("**/account/sign-in/")
    computer.fill("#id_identifier", PERSONAL_ID)
    computer.fill("#id_password", PASSWORD)
    computer.locator("main form:not([data-passkey]) button[type=submit]").click()
    computer.wait_for_url("**/account/sign-in/verify/")
    assert_accessible(computer)
    computer.locator("form[action='/approvals/sign-in/'] button").click()
    computer.wait_for_url("**/approvals/sign-in/wait/")
    assert_accessible(computer)

    # The phone, left on its list since pairing, refreshes by itself (htmx).
    assert phone.url.endswith("/approvals/app/")
    phone.wait_for_selector("#pending a", timeout=10_000)
    phone.locator("#pending a").first.click()
    phone.wait_for_url("**/approvals/app/requests/**")
    assert_accessible(phone)
    approval = ApprovalRequest.objects.get(user=hoa, kind="sign_in")
    assert approval.summary["ip"] in phone.content()
    phone.click("form[data-passkey] button[type=submit]")
    phone.wait_for_url("**/approvals/app/")

    # The computer, still polling, goes on by itself.
    computer.wait_for_url("**/account/", timeout=15_000)
    assert "Phạm Thị Hoa" in computer.content()
    approval.refresh_from_db()
    assert approval.state == State.APPROVED and approval.consumed_at is not None

    # Her sessions: this one (signed in with the phone) is listed and marked.
    computer.goto("/account/sessions/")
    assert computer.locator("tr[aria-current] .tag").count() == 1
    assert_accessible(computer)


def approve_a_signature(phone, hoa) -> None:
    approval = services.request_approval(
        user=hoa, kind="signature", summary=SIGNATURE, hashes=HASHES, source="test"
    )
    phone.wait_for_selector(f"a[href='/approvals/app/requests/{approval.pk}/']", timeout=10_000)
    phone.click(f"a[href='/approvals/app/requests/{approval.pk}/']")
    phone.wait_for_url(f"**/approvals/app/requests/{approval.pk}/")
    page = phone.content()
    for value in SIGNATURE.values():
        assert value in page
    assert_accessible(phone)
    phone.click("form[data-passkey] button[type=submit]")
    phone.wait_for_url("**/approvals/app/")
    consumed = services.consume(
        request_id=approval.pk, user=hoa, kind="signature", hashes=HASHES, source="test"
    )
    assert consumed.device.name == "Điện thoại của Hoa"
