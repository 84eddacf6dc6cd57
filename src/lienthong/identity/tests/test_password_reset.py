"""A forgotten password: a link that tells nothing about who has an account, works
once and briefly, does not sign in, and never goes around the second factor."""

import re
import threading

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import Client

from lienthong.audit.models import AuditRecord
from lienthong.identity import notify, sms
from lienthong.identity.models import TotpDevice
from lienthong.identity.tests.conftest import MAI_ID, PASSWORD, give_totp, sign_in

pytestmark = pytest.mark.django_db

NEW = "a brand new passphrase for Mai"
UNKNOWN_ID = "001190099999"
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')
LINK = re.compile(r"https?://[^/\s]+(/account/password-reset/\S+/)")


def ask(client, identifier):
    return client.post("/account/password-reset/", {"identifier": identifier})


def ask_and_deliver(client, identifier, capture):
    with capture(execute=True):
        response = ask(client, identifier)
    notify.wait()
    return response


def link_sent() -> str:
    (message,) = sms.MemoryGateway.outbox
    return LINK.search(message.text).group(1)


def set_new_password(client, link, new=NEW):
    """Open the link; if it leads to the form, fill it in. (opened, submitted or None)."""
    opened = client.get(link)
    if opened.status_code != 302:
        return opened, None
    return opened, client.post(opened["Location"], {"new_password1": new, "new_password2": new})


# --- No enumeration -----------------------------------------------------------------


@pytest.mark.parametrize("known", [MAI_ID, "mai@example.vn"])
def test_a_known_and_an_unknown_identifier_get_the_same_answer(mai, known):
    mai.account.email = "mai@example.vn"
    mai.account.save()
    answers = []
    for identifier in (known, UNKNOWN_ID):
        client = Client()
        response = ask(client, identifier)
        page = client.get(response["Location"])
        answers.append(
            (
                response.status_code,
                response["Location"],
                sorted(response.cookies),
                page.status_code,
                CSRF.sub("", page.content.decode()),
            )
        )
    assert answers[0] == answers[1]
    assert answers[0][:2] == (302, "/account/password-reset/sent/")


def test_the_answer_does_not_wait_for_the_message_to_leave(
    client, mai, monkeypatch, django_capture_on_commit_callbacks
):
    """A slow SMS provider would otherwise tell, by the time taken, that the account exists."""
    release = threading.Event()
    sent = []

    def slow_send(*, phone, text):
        release.wait(10)
        sent.append(phone)

    monkeypatch.setattr(sms, "send", slow_send)
    response = ask_and_deliver_without_waiting(client, django_capture_on_commit_callbacks)
    assert response.status_code == 302
    assert sent == []  # answered while the provider was still busy
    release.set()
    notify.wait()
    assert sent == ["0912345678"]


def ask_and_deliver_without_waiting(client, capture):
    with capture(execute=True):
        return ask(client, MAI_ID)


def test_an_unknown_identifier_sends_nothing_and_is_audited_without_what_was_typed(
    client, django_capture_on_commit_callbacks
):
    ask_and_deliver(client, UNKNOWN_ID, django_capture_on_commit_callbacks)
    assert sms.MemoryGateway.outbox == []
    assert mail.outbox == []
    record = AuditRecord.objects.get(action="reset_requested")
    assert UNKNOWN_ID not in str(record.changes) + record.object_id + record.object_repr


# --- The link ------------------------------------------------------------------------


def test_the_link_goes_to_the_accounts_email_and_phone(
    client, mai, django_capture_on_commit_callbacks
):
    mai.account.email = "mai@example.vn"
    mai.account.save()
    ask_and_deliver(client, MAI_ID, django_capture_on_commit_callbacks)
    link = link_sent()
    assert [m.to for m in mail.outbox] == [["mai@example.vn"]]
    assert link in mail.outbox[0].body
    assert AuditRecord.objects.get(action="reset_requested").changes == {
        "sent_to": ["email", "sms"]
    }


def test_the_link_sets_a_new_password_without_signing_in(
    client, mai, django_capture_on_commit_callbacks
):
    ask_and_deliver(client, MAI_ID, django_capture_on_commit_callbacks)
    opened, done = set_new_password(client, link_sent())
    # The token leaves the address bar at once.
    assert opened["Location"].endswith("/new/")
    assert done["Location"] == "/account/sign-in/"
    assert SESSION_KEY not in client.session
    mai.refresh_from_db()
    assert mai.check_password(NEW)
    assert AuditRecord.objects.filter(action="password_reset").count() == 1


def test_the_link_works_once(client, mai, django_capture_on_commit_callbacks, english):
    ask_and_deliver(client, MAI_ID, django_capture_on_commit_callbacks)
    link = link_sent()
    set_new_password(client, link)
    again = client.get(link)
    assert again.status_code == 200
    assert "This link does not work" in again.content.decode()
    mai.refresh_from_db()
    assert mai.check_password(NEW)


def test_the_link_expires(client, mai, clock, settings, django_capture_on_commit_callbacks):
    ask_and_deliver(client, MAI_ID, django_capture_on_commit_callbacks)
    clock.shift(settings.PASSWORD_RESET_TIMEOUT + 1)
    opened, _done = set_new_password(client, link_sent())
    assert opened.status_code == 200  # the "does not work" page, no form
    mai.refresh_from_db()
    assert mai.check_password(PASSWORD)
    assert AuditRecord.objects.filter(action="reset_link_refused").exists()


def test_the_link_dies_when_the_password_is_signed_in_with(
    client, mai, clock, django_capture_on_commit_callbacks
):
    ask_and_deliver(client, MAI_ID, django_capture_on_commit_callbacks)
    clock.shift(60)
    sign_in(Client(), MAI_ID)  # she remembered it after all
    opened, _done = set_new_password(client, link_sent())
    assert opened.status_code == 200
    mai.refresh_from_db()
    assert mai.check_password(PASSWORD)


def test_a_made_up_link_is_refused(client, mai):
    response = client.get("/account/password-reset/MQ/abc-0123456789abcdef/")
    assert response.status_code == 200
    assert 'name="new_password1"' not in response.content.decode()
    assert client.get("/account/password-reset/MQ/new/").status_code == 200


def test_the_new_password_meets_the_validators(client, mai, django_capture_on_commit_callbacks):
    ask_and_deliver(client, MAI_ID, django_capture_on_commit_callbacks)
    _opened, done = set_new_password(client, link_sent(), new="12345678")
    assert done.status_code == 200
    assert "errorlist" in done.content.decode()
    mai.refresh_from_db()
    assert mai.check_password(PASSWORD)


# --- The second factor stays ---------------------------------------------------------


def test_after_a_reset_the_second_factor_is_still_required(
    client, mai, clock, django_capture_on_commit_callbacks
):
    totp = give_totp(mai)
    ask_and_deliver(client, MAI_ID, django_capture_on_commit_callbacks)
    set_new_password(client, link_sent())
    assert TotpDevice.objects.filter(user=mai, confirmed=True).exists()
    response = sign_in(client, MAI_ID, NEW)
    assert response["Location"] == "/account/sign-in/verify/"
    assert SESSION_KEY not in client.session
    clock.shift(30)
    client.post("/account/sign-in/verify/", {"method": "totp", "code": totp.now()})
    assert client.session[SESSION_KEY] == str(mai.pk)


def test_a_lost_device_is_replaced_by_a_backup_code_not_by_a_reset(
    client, mai, django_capture_on_commit_callbacks
):
    from lienthong.identity import factors

    give_totp(mai)
    codes = factors.regenerate_backup_codes(user=mai, source="test")
    ask_and_deliver(client, MAI_ID, django_capture_on_commit_callbacks)
    set_new_password(client, link_sent())
    sign_in(client, MAI_ID, NEW)
    client.post("/account/sign-in/verify/", {"method": "backup_code", "code": codes[0]})
    assert client.session[SESSION_KEY] == str(mai.pk)


# --- Limits and activity ----------------------------------------------------------------


@pytest.mark.parametrize("identifier", [MAI_ID, UNKNOWN_ID])
def test_requests_are_limited_per_identifier_known_or_not(client, mai, settings, identifier):
    for number in range(settings.IDENTITY_MAX_RESETS):
        # From different addresses: only the identifier's own limit is reached.
        assert ask(Client(REMOTE_ADDR=f"192.0.2.{number + 1}"), identifier).status_code == 302
    assert ask(client, identifier).status_code == 429
    assert AuditRecord.objects.filter(action="reset_limited").count() == 1


def test_requests_are_limited_per_address(client, settings):
    settings.IDENTITY_MAX_RESETS_PER_ADDRESS = 2
    assert ask(client, "001190000001").status_code == 302
    assert ask(client, "001190000002").status_code == 302
    assert ask(client, "001190000003").status_code == 429


def test_the_request_and_the_reset_are_in_recent_activity(
    client, mai, english, django_capture_on_commit_callbacks
):
    ask_and_deliver(client, MAI_ID, django_capture_on_commit_callbacks)
    set_new_password(client, link_sent())
    sign_in(client, MAI_ID, NEW)
    page = client.get("/account/activity/").content.decode()
    assert "Password reset link asked for" in page
    assert "Password reset with a link" in page


def test_the_sign_in_page_offers_the_reset(client):
    assert 'href="/account/password-reset/"' in client.get("/account/sign-in/").content.decode()
