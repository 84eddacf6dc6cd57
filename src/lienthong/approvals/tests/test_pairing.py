"""Pairing a phone: one-time codes, the phone's own passkey, unpairing."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from lienthong.approvals import ceremonies, services
from lienthong.approvals.models import PairedDevice, PairingCode
from lienthong.approvals.services import ApprovalRefused
from lienthong.approvals.tests.conftest import ORIGIN, pair
from lienthong.audit.models import AuditRecord
from lienthong.identity.models import Passkey
from lienthong.identity.tests.authenticator import SoftAuthenticator

pytestmark = pytest.mark.django_db


def refusal(call) -> str:
    with pytest.raises(ApprovalRefused) as caught:
        call()
    return caught.value.code


def test_pairing_keeps_only_hashes_of_the_codes(mai):
    pairing, token, short = services.start_pairing(user=mai, source="test")
    assert len(short) == 9 and short[4] == "-"
    assert token not in (pairing.token_hash, pairing.short_code_hash)
    assert short.replace("-", "") not in (pairing.token_hash, pairing.short_code_hash)
    assert services.redeem_pairing(token=token, address="127.0.0.1") == pairing
    typed = short.lower().replace("-", " ")
    assert services.redeem_pairing(short_code=typed, address="127.0.0.1") == pairing


def test_a_pairing_code_expires(mai, clock, settings):
    settings.APPROVALS_PAIRING_SECONDS = 300
    _pairing, token, _short = services.start_pairing(user=mai, source="test")
    clock.shift(dt.timedelta(seconds=301))
    assert refusal(lambda: services.redeem_pairing(token=token, address="x")) == "pairing_invalid"


def test_a_new_pairing_code_ends_the_previous_one(mai):
    _first, token, _short = services.start_pairing(user=mai, source="test")
    services.start_pairing(user=mai, source="test")
    assert refusal(lambda: services.redeem_pairing(token=token, address="x")) == "pairing_invalid"


def test_a_pairing_code_pairs_one_phone_only(mai):
    device, secret, _phone = pair(mai)
    pairing = PairingCode.objects.get(user=mai)
    assert pairing.used_at is not None
    assert services.device_for_secret(secret) == device
    handle = services.new_user_handle()
    options, challenge = ceremonies.registration_options(
        user=mai, user_handle=handle, display_name="x"
    )
    second = lambda: services.register_device(  # noqa: E731
        pairing_id=pairing.pk,
        credential=SoftAuthenticator(origin=ORIGIN).create(json.loads(options)),
        challenge=challenge,
        user_handle=handle,
        origins=[ORIGIN],
        name="Another phone",
    )
    assert refusal(second) == "pairing_invalid"
    assert PairedDevice.objects.filter(user=mai).count() == 1


def test_the_phone_passkey_is_not_a_sign_in_passkey(mai):
    device, _secret, phone = pair(mai)
    assert not Passkey.objects.filter(user=mai).exists()
    # Its user handle is the device's own, not the account's.
    assert phone.user_handle == bytes(device.user_handle)
    record = AuditRecord.objects.get(action="factor_added")
    assert record.changes["factor"] == "phone"
    assert record.changes["name"] == "Điện thoại của Mai"


def test_registration_needs_user_verification_and_a_name(mai):
    pairing, token, _short = services.start_pairing(user=mai, source="test")
    handle = services.new_user_handle()
    options, challenge = ceremonies.registration_options(
        user=mai, user_handle=handle, display_name="x"
    )
    answer = SoftAuthenticator(origin=ORIGIN).create(json.loads(options))
    unnamed = lambda: services.register_device(  # noqa: E731
        pairing_id=pairing.pk, credential=answer, challenge=challenge,
        user_handle=handle, origins=[ORIGIN], name="  ",
    )  # fmt: skip
    assert refusal(unnamed) == "pairing_name_required"
    wrong = lambda: services.register_device(  # noqa: E731
        pairing_id=pairing.pk, credential=answer, challenge=b"another challenge",
        user_handle=handle, origins=[ORIGIN], name="Phone",
    )  # fmt: skip
    assert refusal(wrong) == "pairing_not_verified"
    assert services.redeem_pairing(token=token, address="x") == pairing


def test_registration_options_ask_for_the_phones_own_authenticator(mai):
    options, _challenge = ceremonies.registration_options(
        user=mai, user_handle=b"h" * 32, display_name="Mai"
    )
    selection = json.loads(options)["authenticatorSelection"]
    assert selection["userVerification"] == "required"
    assert selection["residentKey"] == "preferred"
    assert selection["authenticatorAttachment"] == "platform"


def test_wrong_typed_codes_lock_the_address(mai, settings):
    settings.IDENTITY_MAX_FAILURES = 3
    _pairing, _token, short = services.start_pairing(user=mai, source="test")
    for _ in range(3):
        assert refusal(
            lambda: services.redeem_pairing(short_code="AAAA-AAAA", address="203.0.113.9")
        ) in ("pairing_invalid",)
    locked = lambda: services.redeem_pairing(short_code=short, address="203.0.113.9")  # noqa: E731
    assert refusal(locked) == "approval_locked"
    # Another address is not held back.
    assert services.redeem_pairing(short_code=short, address="203.0.113.10")


def test_pairing_and_unpairing_are_audited(mai):
    device, _secret, _phone = pair(mai)
    services.revoke_device(user=mai, device=device, source="test")
    assert list(
        AuditRecord.objects.filter(action__in=["pairing_started", "factor_added", "factor_removed"])
        .order_by("id")
        .values_list("action", flat=True)
    ) == ["pairing_started", "factor_added", "factor_removed"]
