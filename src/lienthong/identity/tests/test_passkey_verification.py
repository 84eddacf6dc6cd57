"""The passkey check itself: verification apart from the counter's write, and that write.

``passkeys.verify`` checks an answer without writing; ``store_sign_count``
stores its counter with one conditional UPDATE, so of two answers checked
against the same stored counter (a clone racing the original) one passes.
"""

import json

import pytest

from lienthong.identity import passkeys
from lienthong.identity.models import Passkey
from lienthong.identity.tests.authenticator import SoftAuthenticator, b64url, unb64url

pytestmark = pytest.mark.django_db
ORIGINS = ["http://localhost:8000"]


@pytest.fixture
def phone(mai, settings):
    settings.IDENTITY_RP_ID = "localhost"
    device = SoftAuthenticator()
    created, challenge = passkeys.registration_options(user=mai)
    passkeys.register(user=mai, credential=device.create(json.loads(created)),
                      challenge=challenge, origins=ORIGINS, name="Mai", source="test")  # fmt: skip
    return device


def answer(device, **overrides):
    asked, challenge = passkeys.authentication_options()
    return device.get(json.loads(asked), **overrides), challenge


def test_verifying_writes_nothing_and_storing_moves_the_counter(phone):
    credential, challenge = answer(phone)
    checked = passkeys.verify(credential=credential, challenge=challenge, origins=ORIGINS)
    assert checked.new_sign_count == 1
    assert Passkey.objects.get().sign_count == 0
    passkeys.store_sign_count(checked)
    stored = Passkey.objects.get()
    assert stored.sign_count == 1 and stored.last_used_at is not None


def test_of_two_answers_checked_against_the_same_counter_one_passes(phone):
    first, challenge_1 = answer(phone)
    phone.sign_count = 0  # a clone, answering with the same counter
    second, challenge_2 = answer(phone)
    checked = [
        passkeys.verify(credential=first, challenge=challenge_1, origins=ORIGINS),
        passkeys.verify(credential=second, challenge=challenge_2, origins=ORIGINS),
    ]
    passkeys.store_sign_count(checked[0])
    with pytest.raises(passkeys.PasskeyRefused):
        passkeys.store_sign_count(checked[1])
    assert Passkey.objects.get().sign_count == 1


def test_the_kept_public_key_does_not_spare_the_signature_check(phone):
    good, challenge = answer(phone)
    passkeys.authenticate(credential=good, challenge=challenge, origins=ORIGINS)  # key kept
    forged, challenge = answer(phone)
    signature = bytearray(unb64url(forged["response"]["signature"]))
    signature[-1] ^= 1
    forged["response"]["signature"] = b64url(bytes(signature))
    with pytest.raises(passkeys.PasskeyRefused):
        passkeys.authenticate(credential=forged, challenge=challenge, origins=ORIGINS)


@pytest.mark.parametrize(
    "damage",
    [
        lambda c: c.update(id=b64url(b"another id")),  # id and rawId disagree
        lambda c: c["response"].update(authenticatorData=b64url(b"short")),
        lambda c: c["response"].update(clientDataJSON=b64url(b"not json")),
    ],
)
def test_a_malformed_answer_is_refused(phone, damage):
    credential, challenge = answer(phone)
    damage(credential)
    with pytest.raises(passkeys.PasskeyRefused):
        passkeys.verify(credential=credential, challenge=challenge, origins=ORIGINS)


def test_a_registration_answer_does_not_sign_in(phone):
    # clientData of type webauthn.create, signed like an assertion.
    asked, challenge = passkeys.authentication_options()
    original = phone._client_data
    phone._client_data = lambda kind, ch, origin: original("webauthn.create", ch, origin)
    credential = phone.get(json.loads(asked))
    with pytest.raises(passkeys.PasskeyRefused):
        passkeys.verify(credential=credential, challenge=challenge, origins=ORIGINS)
