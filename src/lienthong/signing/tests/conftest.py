"""Personas and helpers for the remote-signing tests.

Chị Mai is a citizen with an authenticator app and a signing key certified by
the TEST public CA; anh Bình another citizen with his own key; anh Hùng an
officer certified by the TEST government CA. Time stands still unless a test
moves it (``clock``), so TOTP codes and SAD lifetimes are exact.
"""

from __future__ import annotations

import base64
import hashlib
import json

import pyotp
import pytest
from django.core.cache import cache
from django.utils import timezone

from lienthong.identity import factors, services, sms
from lienthong.signing import services as signing
from lienthong.signing import tokens

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def signing_settings(settings, db):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.IDENTITY_SMS_BACKEND = "memory"
    cache.clear()
    sms.MemoryGateway.outbox.clear()
    yield settings
    cache.clear()


@pytest.fixture
def clock(time_machine):
    """Now, frozen (the TEST PKI's certificates are valid from an hour ago)."""
    time_machine.move_to(timezone.now(), tick=False)
    return time_machine


def citizen(name: str, personal_id: str, phone: str = ""):
    return services.create_account(
        actor="test",
        kind="citizen",
        display_name=name,
        personal_id=personal_id,
        password=PASSWORD,
        phone=phone,
        source="test",
    ).user


def give_totp(user) -> pyotp.TOTP:
    device = factors.start_totp_enrolment(user=user)
    totp = pyotp.TOTP(factors.totp_secret(device))
    # Enrolment spends the current step; the tests' codes come from the next ones.
    assert factors.confirm_totp(user=user, code=totp.now(), source="test") is not None
    return totp


def certified(user, pki, label: str = "Chữ ký cá nhân"):
    credential = signing.create_credential(actor="test", user=user, label=label, source="test")
    return signing.issue_test_certificate(
        actor="test", credential=credential, pki=pki, source="test"
    )


@pytest.fixture
def mai(db):
    return citizen("Nguyễn Thị Mai", "001190012345", phone="0912345678")


@pytest.fixture
def binh(db):
    return citizen("Trần Văn Bình", "001190054321")


@pytest.fixture
def mai_totp(clock, mai):
    return give_totp(mai)


@pytest.fixture
def mai_key(mai, trusted_test_pki):
    return certified(mai, trusted_test_pki)


@pytest.fixture
def binh_key(binh, trusted_test_pki):
    return certified(binh, trusted_test_pki, label="Bình")


@pytest.fixture
def mai_token(mai):
    raw, _token = tokens.issue_access_token(user=mai, client_name="Ứng dụng ký", source="test")
    return raw


@pytest.fixture
def binh_token(binh):
    raw, _token = tokens.issue_access_token(user=binh, client_name="Ứng dụng ký", source="test")
    return raw


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Csc:
    """The CSC API through Django's test client, as a client application calls it."""

    def __init__(self, client, token: str | None):
        self.client = client
        self.token = token

    def __call__(self, endpoint: str, body: dict | None = None, token: str | None = None):
        headers = {}
        token = token if token is not None else self.token
        if token:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        return self.client.post(
            f"/csc/v2/{endpoint}",
            data=json.dumps(body or {}),
            content_type="application/json",
            **headers,
        )

    def authorize(self, credential, hashes: list[bytes], otp: str, **extra):
        return self(
            "credentials/authorize",
            {
                "credentialID": credential.credential_id,
                "numSignatures": len(hashes),
                "hash": [b64(h) for h in hashes],
                "OTP": otp,
                **extra,
            },
        )

    def sign(self, credential, sad: str, hashes: list[bytes], **extra):
        return self(
            "signatures/signHash",
            {
                "credentialID": credential.credential_id,
                "SAD": sad,
                "hash": [b64(h) for h in hashes],
                "hashAlgo": "2.16.840.1.101.3.4.2.1",
                "signAlgo": "1.2.840.10045.4.3.2",
                **extra,
            },
        )


@pytest.fixture
def csc(client, mai_token):
    return Csc(client, mai_token)


def next_code(totp: pyotp.TOTP, clock) -> str:
    """A code of the next time step: each step's code is accepted once."""
    clock.shift(30)
    return totp.now()
