"""Personas and a paired phone for the approvals tests.

Chị Mai (a citizen) pairs her phone, a software authenticator that gives real
WebAuthn answers; anh Bình is another citizen with a phone of his own.
"""

from __future__ import annotations

import base64
import json

import pytest
from django.core.cache import cache

from lienthong.approvals import ceremonies, services
from lienthong.identity import services as identity
from lienthong.identity.tests.authenticator import SoftAuthenticator

PASSWORD = "correct horse battery staple"
MAI_ID = "001190012345"
BINH_ID = "001190054321"
ORIGIN = "http://localhost:8000"
SIGNATURE = {
    "dossier_code": "000.00.00.G12-261201-0001",
    "document_name": "Giấy khai sinh.pdf",
    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "agency": "Sở Tư pháp Hà Nội (thử nghiệm)",
}
HASHES = ["n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="]


@pytest.fixture(autouse=True)
def approvals_settings(settings, django_db_setup, django_db_blocker):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.IDENTITY_RP_ID = "localhost"
    settings.IDENTITY_ORIGINS = [ORIGIN]
    # Some counters live in the cache (which may be the database's); the rate limits
    # live in lienthong.identity.throttle's store, rolled back with each test.
    with django_db_blocker.unblock():
        cache.clear()
    yield settings
    with django_db_blocker.unblock():
        cache.clear()


def citizen(name: str, personal_id: str):
    return identity.create_account(
        actor="test",
        kind="citizen",
        display_name=name,
        personal_id=personal_id,
        password=PASSWORD,
        source="test",
    ).user


@pytest.fixture
def mai(db):
    return citizen("Nguyễn Thị Mai", MAI_ID)


@pytest.fixture
def binh(db):
    return citizen("Trần Văn Bình", BINH_ID)


def pair(user, name: str = "Điện thoại của Mai"):
    """Pair a software authenticator with ``user`` through the services:
    (device, app secret, authenticator)."""
    _pairing, token, _short = services.start_pairing(user=user, source="test")
    pairing = services.redeem_pairing(token=token, address="127.0.0.1")
    handle = services.new_user_handle()
    options, challenge = ceremonies.registration_options(
        user=user, user_handle=handle, display_name=name
    )
    phone = SoftAuthenticator(origin=ORIGIN)
    device, secret = services.register_device(
        pairing_id=pairing.pk,
        credential=phone.create(json.loads(options)),
        challenge=challenge,
        user_handle=handle,
        origins=[ORIGIN],
        name=name,
        source="test",
    )
    return device, secret, phone


@pytest.fixture
def mai_phone(mai):
    return pair(mai)


@pytest.fixture
def binh_phone(binh):
    return pair(binh, "Điện thoại của Bình")


def assertion(phone, approval, device, nonce: bytes, **kwargs) -> dict:
    """The phone's answer to the options for approving ``approval`` with ``nonce``."""
    options = json.loads(ceremonies.approval_options(request=approval, device=device, nonce=nonce))
    return phone.get(options, **kwargs)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def clock(time_machine):
    """Time stands still at 09:00 on 1 December 2026 (Hà Nội) until a test shifts it."""
    time_machine.move_to("2026-12-01 09:00:00 +07:00", tick=False)
    return time_machine
