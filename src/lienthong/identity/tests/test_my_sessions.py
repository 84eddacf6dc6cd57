"""Your sessions: the browsers where one is signed in, listed with their address,
browser and times (this one marked), and signed out one by one or all the
others at once, audited. Ended and expired sessions are not listed."""

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client

from lienthong.audit.models import AuditRecord
from lienthong.identity.models import SignedInSession
from lienthong.identity.tests.conftest import AN_PHAT_TAX_CODE, MAI_ID, sign_in

pytestmark = pytest.mark.django_db

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
CHROME = (
    "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Mobile Safari/537.36"
)


def browser(user_agent: str, address: str) -> Client:
    client = Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=address)
    client.cookies["lienthong_language"] = "en"
    return client


def post(client: Client, url: str):
    return client.post(url)


def signed_in_twice(mai):
    laptop = browser(FIREFOX, "203.0.113.7")
    phone = browser(CHROME, "198.51.100.20")
    sign_in(laptop, MAI_ID)
    sign_in(phone, MAI_ID)
    return laptop, phone


def test_the_page_lists_this_and_the_other_session(mai, clock):
    laptop, _phone = signed_in_twice(mai)
    page = laptop.get("/account/sessions/").content.decode()
    assert "Firefox / Windows" in page and "203.0.113.7" in page
    assert "Chrome / Android" in page and "198.51.100.20" in page
    marked = '<span class="tag">this session</span>'
    assert page.count(marked) == 1
    # The mark is on this browser's row (the other, more recent, comes first).
    assert page.index("Chrome / Android") < page.index("Firefox / Windows") < page.index(marked)
    # Session keys never reach the page: rows are named by id.
    for key in SignedInSession.objects.values_list("session_key", flat=True):
        assert key not in page
    assert 'href="/account/sessions/"' in laptop.get("/account/").content.decode()


def test_signing_out_another_session_ends_it_and_is_audited(mai, clock):
    laptop, phone = signed_in_twice(mai)
    other = SignedInSession.objects.get(user=mai, user_agent=CHROME)

    # Without the CSRF token, nothing happens.
    strict = Client(enforce_csrf_checks=True, HTTP_USER_AGENT=FIREFOX, REMOTE_ADDR="203.0.113.7")
    strict.cookies = laptop.cookies
    assert strict.post(f"/account/sessions/{other.pk}/end/").status_code == 403
    assert SignedInSession.objects.filter(pk=other.pk).exists()
    response = post(laptop, f"/account/sessions/{other.pk}/end/")
    assert response["Location"] == "/account/sessions/"

    assert phone.get("/account/")["Location"].startswith("/account/sign-in/")
    assert laptop.get("/account/").status_code == 200
    record = AuditRecord.objects.get(action="session_ended")
    assert record.changes == {"reason": "user", "name": "Chrome / Android", "ip": "198.51.100.20"}
    assert "Chrome / Android" not in laptop.get("/account/sessions/").content.decode()
    assert "signed out from the sessions page" in laptop.get("/account/activity/").content.decode()


def test_this_session_and_someone_elses_are_not_ended_from_the_list(mai, an_phat, clock):
    laptop, _phone = signed_in_twice(mai)
    mine = SignedInSession.objects.get(user=mai, user_agent=FIREFOX)
    assert post(laptop, f"/account/sessions/{mine.pk}/end/").status_code == 404
    intruder = browser(FIREFOX, "192.0.2.1")
    sign_in(intruder, AN_PHAT_TAX_CODE)
    assert post(intruder, f"/account/sessions/{mine.pk}/end/").status_code == 404
    assert SESSION_KEY in laptop.session
    assert not AuditRecord.objects.filter(action="session_ended").exists()


def test_signing_out_all_other_sessions_keeps_this_one(mai, clock):
    laptop, phone = signed_in_twice(mai)
    tablet = browser(CHROME, "198.51.100.21")
    sign_in(tablet, MAI_ID)

    response = post(laptop, "/account/sessions/end-others/")
    assert response["Location"] == "/account/sessions/"
    for ended in (phone, tablet):
        assert ended.get("/account/")["Location"].startswith("/account/sign-in/")
    assert laptop.get("/account/").status_code == 200
    assert AuditRecord.objects.get(action="sessions_ended").changes == {
        "reason": "user",
        "count": 2,
    }
    page = laptop.get("/account/sessions/").content.decode()
    assert page.count("<tr aria-current") == 1 and "Chrome" not in page


def test_ended_and_expired_sessions_are_not_listed(mai, clock, settings):
    laptop, phone = signed_in_twice(mai)
    phone.post("/account/sign-out/")
    assert "Chrome / Android" not in laptop.get("/account/sessions/").content.decode()

    other = browser(CHROME, "198.51.100.22")
    sign_in(other, MAI_ID)
    # The other browser stays idle past the idle timeout; this one keeps busy.
    step = settings.IDENTITY_SESSION_IDLE_SECONDS // 2
    for _i in range(3):
        clock.shift(step)
        assert laptop.get("/account/").status_code == 200
    page = laptop.get("/account/sessions/").content.decode()
    assert "198.51.100.22" not in page and "203.0.113.7" in page
