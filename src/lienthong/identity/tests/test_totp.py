"""Authenticator apps: enrolment with a QR code, the seed sealed at rest, backup codes hashed."""

import pytest

from lienthong.identity import factors, sealing
from lienthong.identity.models import BackupCode, TotpDevice
from lienthong.identity.tests.conftest import MAI_ID, give_totp, sign_in, totp_of

pytestmark = pytest.mark.django_db


def test_a_citizen_sets_up_an_authenticator_app_by_scanning_a_qr_code(client, mai, clock):
    sign_in(client, MAI_ID)
    page = client.get("/account/totp/").content.decode()
    assert 'src="data:image/svg+xml' in page
    secret = factors.totp_secret(TotpDevice.objects.get(user=mai))
    assert secret in page
    clock.shift(30)
    response = client.post("/account/totp/", {"code": totp_of(mai).now()})
    codes = [c for c in factors.BackupCode.objects.filter(user=mai)]
    assert len(codes) == 10
    assert response.content.decode().count("<code>") == 10
    assert factors.has_totp(mai)


def test_a_wrong_first_code_does_not_confirm_the_app(client, english, mai):
    sign_in(client, MAI_ID)
    client.get("/account/totp/")
    response = client.post("/account/totp/", {"code": "000000"})
    assert "The code is wrong or has expired." in response.content.decode()
    assert not factors.has_totp(mai)


def test_the_seed_is_stored_sealed_and_bound_to_its_owner(mai, an_phat):
    give_totp(mai)
    device = TotpDevice.objects.get(user=mai)
    secret = factors.totp_secret(device)
    assert secret.encode() not in bytes(device.sealed_secret)
    with pytest.raises(sealing.SealBroken):
        sealing.unseal(device.sealed_secret, bound_to=f"totp:{an_phat.pk}")


def test_a_seed_sealed_under_another_node_key_does_not_open(mai, settings):
    give_totp(mai)
    device = TotpDevice.objects.get(user=mai)
    settings.KEY_ENCRYPTION_KEY = "another-node-key-" + "x" * 64
    with pytest.raises(sealing.SealBroken):
        factors.totp_secret(device)


def test_backup_codes_are_stored_hashed(mai):
    give_totp(mai)
    codes = factors.regenerate_backup_codes(user=mai, source="test")
    stored = " ".join(BackupCode.objects.filter(user=mai).values_list("code_hash", flat=True))
    assert not any(code.replace("-", "") in stored for code in codes)
    assert len(set(codes)) == 10


def test_new_backup_codes_replace_the_old_ones(mai):
    give_totp(mai)
    old = factors.regenerate_backup_codes(user=mai, source="test")
    factors.regenerate_backup_codes(user=mai, source="test")
    assert not factors.use_backup_code(user=mai, code=old[0], source="test")


def test_a_code_from_the_previous_time_step_is_still_accepted_but_not_older(mai, clock):
    totp = give_totp(mai)
    clock.shift(60)
    previous = totp.at(clock_now() - 30)
    older = totp.at(clock_now() - 90)
    assert not factors.verify_totp(user=mai, code=older)
    assert factors.verify_totp(user=mai, code=previous)


def clock_now() -> float:
    import time

    return time.time()
