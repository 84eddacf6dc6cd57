"""With Redis as the node's cache, sessions are read from it (no session row read per
request) and written to the database as well; ending a session ends it in both."""

import subprocess
import sys
import uuid

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lienthong.identity.models import SignedInSession
from lienthong.identity.tests.conftest import MAI_ID, sign_in
from lienthong.identity.tests.test_my_sessions import browser, post, signed_in_twice
from lienthong.identity.tests.test_throttle import _env, redis_url  # noqa: F401  (fixture)

CACHED_DB = "django.contrib.sessions.backends.cached_db"


def test_a_redis_cache_makes_sessions_read_from_it(tmp_path, redis_url):  # noqa: F811
    for url, engine in (
        (redis_url, CACHED_DB),
        ("database", "django.contrib.sessions.backends.db"),
    ):
        env = _env(tmp_path, LIENTHONG_CACHE_URL=url)
        shown = subprocess.run(
            [sys.executable, "-m", "lienthong", "shell", "-c",
             "from django.conf import settings; print(settings.SESSION_ENGINE)"],
            env=env, capture_output=True, text=True, timeout=120, check=True,
        ).stdout.strip().splitlines()[-1]  # fmt: skip
        assert shown == engine


@pytest.fixture
def sessions_in_redis(settings, redis_url):  # noqa: F811
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": f"lienthong-test-{uuid.uuid4().hex}",
        },
    }
    settings.SESSION_ENGINE = CACHED_DB
    settings.IDENTITY_THROTTLE_STORE = "database"


@pytest.mark.django_db
def test_a_signed_in_page_reads_no_session_row(sessions_in_redis, mai, clock):
    laptop = browser("Firefox", "203.0.113.7")
    sign_in(laptop, MAI_ID)
    assert Session.objects.count() == 1  # written through to the database

    with CaptureQueriesContext(connection) as queries:
        assert laptop.get("/account/").status_code == 200

    assert not any("django_session" in q["sql"] for q in queries.captured_queries)


@pytest.mark.django_db
def test_a_session_ended_from_the_list_is_gone_from_redis_and_the_database(
    sessions_in_redis, mai, clock
):
    laptop, phone = signed_in_twice(mai)
    other = SignedInSession.objects.get(user=mai, user_agent__contains="Android")

    post(laptop, f"/account/sessions/{other.pk}/end/")

    assert not Session.objects.filter(session_key=other.session_key).exists()
    assert phone.get("/account/")["Location"].startswith("/account/sign-in/")
    assert laptop.get("/account/").status_code == 200
