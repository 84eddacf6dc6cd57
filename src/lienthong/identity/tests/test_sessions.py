"""Sessions end when idle too long and when too old, whatever the activity."""

import pytest
from django.contrib.auth import SESSION_KEY

from lienthong.audit.models import AuditRecord
from lienthong.identity.tests.conftest import MAI_ID, sign_in

pytestmark = pytest.mark.django_db


def test_it_ends_a_session_idle_for_longer_than_the_idle_timeout(client, mai, clock, settings):
    sign_in(client, MAI_ID)
    clock.shift(settings.IDENTITY_SESSION_IDLE_SECONDS - 5)
    assert client.get("/account/").status_code == 200
    clock.shift(settings.IDENTITY_SESSION_IDLE_SECONDS + 1)
    response = client.get("/account/")
    assert response["Location"].startswith("/account/sign-in/")
    assert SESSION_KEY not in client.session
    assert AuditRecord.objects.get(action="sign_out").changes == {"reason": "idle_timeout"}


def test_it_ends_a_busy_session_after_the_absolute_timeout(client, mai, clock, settings):
    sign_in(client, MAI_ID)
    step = settings.IDENTITY_SESSION_IDLE_SECONDS // 2
    for _i in range(settings.IDENTITY_SESSION_ABSOLUTE_SECONDS // step - 1):
        clock.shift(step)
        assert client.get("/account/").status_code == 200
    clock.shift(step + 1)
    assert client.get("/account/").status_code == 302
    assert AuditRecord.objects.get(action="sign_out").changes == {"reason": "absolute_timeout"}


def test_the_session_cookie_is_http_only_and_same_site():
    from django.conf import settings

    assert settings.SESSION_COOKIE_HTTPONLY
    assert settings.SESSION_COOKIE_SAMESITE == "Lax"
    assert settings.SESSION_COOKIE_AGE == settings.IDENTITY_SESSION_ABSOLUTE_SECONDS
