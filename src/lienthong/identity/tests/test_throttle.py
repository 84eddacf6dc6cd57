"""Failure counters are shared by every process of the node: in the database by
default, in Redis when the node has one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection

from lienthong.identity import throttle
from lienthong.identity.apps import create_cache_table
from lienthong.identity.models import FailureCounter
from lienthong.identity.tests.conftest import MAI_ID, sign_in

SUBJECT = f"id:{MAI_ID}"
REDIS = ("127.0.0.1", 6379)


def count(subject: str = SUBJECT) -> int:
    return throttle.store().count(throttle._key(throttle.failures(), "subject", subject))


@pytest.mark.django_db
def test_failures_count_in_the_database_by_default(settings):
    assert settings.IDENTITY_THROTTLE_STORE == "database"
    for _ in range(3):
        throttle.record_failure(subject=SUBJECT, address="192.0.2.7")
    assert count() == 3
    assert FailureCounter.objects.count() == 2  # the identifier's and the address's
    # What was typed is not kept, only a digest of it.
    assert not FailureCounter.objects.filter(key__contains=MAI_ID).exists()


@pytest.mark.django_db
def test_the_fifth_failure_locks_and_the_lockout_ends_with_its_window(settings, clock):
    for _ in range(settings.IDENTITY_MAX_FAILURES - 1):
        throttle.record_failure(subject=SUBJECT, address=None)
    assert not throttle.is_locked(subject=SUBJECT, address=None)
    throttle.record_failure(subject=SUBJECT, address=None)
    assert throttle.is_locked(subject=SUBJECT, address=None)
    clock.shift(settings.IDENTITY_LOCKOUT_SECONDS - 1)
    assert throttle.is_locked(subject=SUBJECT, address=None)
    clock.shift(1)
    assert not throttle.is_locked(subject=SUBJECT, address=None)
    # A failure after the window starts a new count from one.
    throttle.record_failure(subject=SUBJECT, address=None)
    assert count() == 1


@pytest.mark.django_db
def test_later_failures_do_not_extend_the_window(settings, clock):
    throttle.record_failure(subject=SUBJECT, address=None)
    clock.shift(settings.IDENTITY_LOCKOUT_SECONDS - 10)
    for _ in range(settings.IDENTITY_MAX_FAILURES):
        throttle.record_failure(subject=SUBJECT, address=None)
    assert throttle.is_locked(subject=SUBJECT, address=None)
    clock.shift(10)
    assert not throttle.is_locked(subject=SUBJECT, address=None)


@pytest.mark.django_db
def test_an_address_is_locked_after_its_own_limit(settings):
    settings.IDENTITY_MAX_FAILURES_PER_ADDRESS = 3
    for number in range(3):
        throttle.record_failure(subject=f"id:someone-{number}", address="192.0.2.7")
    assert throttle.is_locked(subject="id:someone-else", address="192.0.2.7")
    assert not throttle.is_locked(subject="id:someone-else", address="192.0.2.8")


@pytest.mark.django_db
def test_a_success_clears_the_identifier_not_the_address(settings):
    throttle.record_failure(subject=SUBJECT, address="192.0.2.7")
    throttle.clear(subject=SUBJECT)
    assert count() == 0
    assert throttle.store().count(throttle._key(throttle.failures(), "address", "192.0.2.7")) == 1


@pytest.mark.django_db
def test_expired_counters_are_purged(settings, clock):
    throttle.record_failure(subject=SUBJECT, address=None)
    clock.shift(settings.IDENTITY_LOCKOUT_SECONDS)
    assert throttle.DatabaseStore().purge_expired() == 1
    assert not FailureCounter.objects.exists()


@pytest.mark.django_db
def test_reset_requests_have_their_own_counters(settings):
    for _ in range(settings.IDENTITY_MAX_RESETS):
        throttle.record_failure(subject=SUBJECT, address=None, limit=throttle.resets())
    assert throttle.is_locked(subject=SUBJECT, address=None, limit=throttle.resets())
    assert not throttle.is_locked(subject=SUBJECT, address=None)


@pytest.mark.django_db
def test_wrong_passwords_typed_in_the_browser_lock_through_the_database(client, mai, settings):
    for _ in range(settings.IDENTITY_MAX_FAILURES):
        sign_in(client, MAI_ID, "wrong password, sorry")
    assert count() == settings.IDENTITY_MAX_FAILURES
    assert sign_in(client, MAI_ID).status_code == 200  # the right password is refused too


@pytest.mark.django_db
def test_migrate_makes_the_cache_table(settings):
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS lienthong_cache")
    create_cache_table(using="default")
    assert "lienthong_cache" in connection.introspection.table_names()


# --- Two processes, one count -------------------------------------------------------

RECORD = """
from lienthong.identity import throttle
for _ in range({n}):
    throttle.record_failure(subject={subject!r}, address=None)
"""
REPORT = """
from lienthong.identity import throttle
key = throttle._key(throttle.failures(), "subject", {subject!r})
print(throttle.store().count(key), throttle.is_locked(subject={subject!r}, address=None))
"""


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(LIENTHONG_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="lienthong.settings")
    env.update(extra)
    return env


def _lienthong(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lienthong", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _two_processes_then_report(env: dict[str, str], per_process: int) -> str:
    script = RECORD.format(n=per_process, subject=SUBJECT)
    # Both at once: increments racing from two processes must all count.
    runs = [_lienthong(env, "shell", "-c", script) for _ in range(2)]
    for run in runs:
        _out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
    report = _lienthong(env, "shell", "-c", REPORT.format(subject=SUBJECT))
    out, err = report.communicate(timeout=120)
    assert report.returncode == 0, err
    return out.strip().splitlines()[-1]  # after the shell's own banner


def test_two_processes_on_one_sqlite_file_count_toward_one_lockout(tmp_path):
    env = _env(tmp_path, LIENTHONG_IDENTITY_MAX_FAILURES="30")
    migrate = _lienthong(env, "migrate", "-v0")
    _out, err = migrate.communicate(timeout=300)
    assert migrate.returncode == 0, err
    # 2 x 20 = 40 ≥ 30: neither process reached the limit alone.
    assert _two_processes_then_report(env, per_process=20) == "40 True"


def _redis_reachable() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_url():
    if not _redis_reachable():
        if os.environ.get("CI"):
            pytest.fail("Redis is not running on 127.0.0.1:6379 (CI starts it)")
        pytest.skip("no Redis on 127.0.0.1:6379 (CI has one)")
    return "redis://127.0.0.1:6379/15"


def test_with_redis_two_processes_count_toward_one_lockout(tmp_path, redis_url):
    # A prefix of our own: the Redis server may be shared with other tests.
    prefix = f"lienthong-test-{uuid.uuid4().hex}"
    env = _env(
        tmp_path,
        LIENTHONG_CACHE_URL=redis_url,
        LIENTHONG_CACHE_KEY_PREFIX=prefix,
        LIENTHONG_IDENTITY_MAX_FAILURES="30",
    )
    try:
        assert _two_processes_then_report(env, per_process=20) == "40 True"
    finally:
        import redis

        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)


def test_with_redis_counters_expire_with_their_window(settings, redis_url):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": f"lienthong-test-{uuid.uuid4().hex}",
        }
    }
    settings.IDENTITY_THROTTLE_STORE = "cache"
    subject = f"id:{uuid.uuid4().hex}"
    for _ in range(settings.IDENTITY_MAX_FAILURES):
        throttle.record_failure(subject=subject, address=None)
    assert throttle.is_locked(subject=subject, address=None)
    import redis
    from django.core.cache import cache

    key = cache.make_key(throttle._key(throttle.failures(), "subject", subject))
    assert 0 < redis.Redis.from_url(redis_url).ttl(key) <= settings.IDENTITY_LOCKOUT_SECONDS
    throttle.clear(subject=subject)
    assert not throttle.is_locked(subject=subject, address=None)


# --- Every factor locks through the same store ---------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["sms", "backup_code"])
def test_wrong_sms_and_backup_codes_lock_like_authenticator_codes(
    client, mai, clock, settings, method, django_capture_on_commit_callbacks
):
    import re

    from lienthong.identity import factors, sms
    from lienthong.identity.models import Account
    from lienthong.identity.tests.conftest import give_totp

    give_totp(mai)
    codes = factors.regenerate_backup_codes(user=mai, source="test")
    Account.objects.filter(user=mai).update(sms_enabled=True)
    clock.shift(30)
    sign_in(client, MAI_ID)
    with django_capture_on_commit_callbacks(execute=True):
        factors.send_sms_code(user=mai, phone="0912345678")
    right = {
        "sms": re.search(r"\d{6}", sms.MemoryGateway.outbox[-1].text).group(),
        **{"backup_code": codes[0]},
    }[method]
    for _ in range(settings.IDENTITY_MAX_FAILURES):
        client.post("/account/sign-in/verify/", {"method": method, "code": "999999"})
    assert count(f"user:{mai.pk}") == settings.IDENTITY_MAX_FAILURES
    response = client.post("/account/sign-in/verify/", {"method": method, "code": right})
    assert response["Location"] == "/account/sign-in/"  # locked: the right code is refused


@pytest.mark.django_db
def test_refused_passkeys_lock_the_user_and_the_address(mai, settings):
    from lienthong.identity import signin

    for _ in range(settings.IDENTITY_MAX_FAILURES):
        signin.passkey_failed(user=mai, address="192.0.2.7", source="test")
    assert signin.passkey_locked(user=mai, address=None)
    assert count(f"user:{mai.pk}") == settings.IDENTITY_MAX_FAILURES


def test_rates_read_django_ratelimit_syntax():
    assert throttle.parse_rate("10/10m") == (10, 600)
    assert throttle.parse_rate("3/m") == (3, 60)
    assert throttle.parse_rate("1000000/s") == (1000000, 1)
    assert throttle.parse_rate("5/2h") == (5, 7200)
    with pytest.raises(ValueError):
        throttle.parse_rate("ten per minute")


@pytest.mark.django_db
def test_a_rate_lets_its_count_through_per_window_and_address(clock):
    for _ in range(3):
        assert not throttle.rate_exceeded("lookup", "192.0.2.7", "3/m")
    assert throttle.rate_exceeded("lookup", "192.0.2.7", "3/m")
    assert not throttle.rate_exceeded("lookup", "192.0.2.8", "3/m")  # another address
    clock.shift(59)
    assert throttle.rate_exceeded("lookup", "192.0.2.7", "3/m")  # not extended, still shut
    clock.shift(2)
    assert not throttle.rate_exceeded("lookup", "192.0.2.7", "3/m")  # a new window
    # One row per address and window, the address kept only as a digest.
    assert not FailureCounter.objects.filter(key__contains="192.0.2").exists()
