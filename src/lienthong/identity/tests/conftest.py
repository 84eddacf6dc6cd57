"""Personas and helpers for the identity tests.

Chị Mai is a citizen, Công ty An Phát a business, anh Hùng an officer of the
Hà Nội Department of Justice (test agency) and of a commune.
"""

from __future__ import annotations

import pyotp
import pytest

from lienthong.directory.tests.factories import AgencyFactory
from lienthong.identity import factors, services, sms
from lienthong.identity.models import TotpDevice

PASSWORD = "correct horse battery staple"
MAI_ID = "001190012345"
AN_PHAT_TAX_CODE = "0100109106"


@pytest.fixture(autouse=True)
def identity_settings(settings):
    # A fast hasher: these tests sign in hundreds of times.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.IDENTITY_SMS_BACKEND = "memory"
    settings.IDENTITY_RP_ID = "localhost"
    settings.IDENTITY_ORIGINS = ["http://localhost:8000"]
    # Failure counters live in the database (throttle.DatabaseStore): each
    # test's transaction rolls them back.
    sms.MemoryGateway.outbox.clear()
    return settings


@pytest.fixture
def mai(db):
    return services.create_account(
        actor="test",
        kind="citizen",
        display_name="Nguyễn Thị Mai",
        personal_id=MAI_ID,
        password=PASSWORD,
        phone="0912345678",
        source="test",
    ).user


@pytest.fixture
def an_phat(db):
    return services.create_account(
        actor="test",
        kind="business",
        display_name="Công ty TNHH An Phát",
        tax_code=AN_PHAT_TAX_CODE,
        password=PASSWORD,
        source="test",
    ).user


@pytest.fixture
def hung(db):
    return services.create_account(
        actor="test",
        kind="officer",
        display_name="Trần Văn Hùng",
        username="hung.officer",
        password=PASSWORD,
        source="test",
    ).user


@pytest.fixture
def justice(db):
    return AgencyFactory(name="Sở Tư pháp (thử nghiệm)")


@pytest.fixture
def commune(db):
    return AgencyFactory(name="UBND xã (thử nghiệm)")


def give_totp(user) -> pyotp.TOTP:
    """Enrol an authenticator app for ``user``; the TOTP generator of its seed."""
    device = factors.start_totp_enrolment(user=user)
    totp = pyotp.TOTP(factors.totp_secret(device))
    assert factors.confirm_totp(user=user, code=totp.now(), source="test") is not None
    return totp


def totp_of(user) -> pyotp.TOTP:
    return pyotp.TOTP(factors.totp_secret(TotpDevice.objects.get(user=user)))


def sign_in(client, identifier: str, password: str = PASSWORD):
    return client.post("/account/sign-in/", {"identifier": identifier, "password": password})


@pytest.fixture
def clock(time_machine):
    """Time stands still at 09:00 on 1 December 2026 (Hà Nội) until a test shifts it."""
    time_machine.move_to("2026-12-01 09:00:00 +07:00", tick=False)
    return time_machine


@pytest.fixture
def english(client):
    """The test client reads pages in English (the language cookie)."""
    client.cookies["lienthong_language"] = "en"
    return client
