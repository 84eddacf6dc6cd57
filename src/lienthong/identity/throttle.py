"""Failure counters and lockout for passwords, every second factor and reset requests.

Counted per identifier (or user) and per client address, in a store every
process of the node shares: a table of counters in the database (the
default), or the shared cache when it is Redis (``IDENTITY_THROTTLE_STORE``).
A per-process count would multiply the limit by the number of workers.

The identifier is what the person typed, not an account: an unknown number
locks exactly like a known one, so the lockout itself tells nobody which
accounts exist. Only failures count; a success clears the identifier's
counter (not the address's: one client guessing many accounts stays limited).
A window opens at the first failure and is not extended by later ones, so a
lockout always ends.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from lienthong.identity.models import FailureCounter

# One failure in this many also deletes the counters whose window has closed.
CULL_EVERY = 50


@dataclass(frozen=True)
class Limit:
    """How many events one subject, and one address, may cause within ``seconds``."""

    name: str
    per_subject: int
    per_address: int
    seconds: int


def failures() -> Limit:
    """Wrong passwords, codes and passkey answers."""
    return Limit(
        "fail",
        settings.IDENTITY_MAX_FAILURES,
        settings.IDENTITY_MAX_FAILURES_PER_ADDRESS,
        settings.IDENTITY_LOCKOUT_SECONDS,
    )


def resets() -> Limit:
    """Password-reset requests: each one sends a message, so they are counted too."""
    return Limit(
        "reset",
        settings.IDENTITY_MAX_RESETS,
        settings.IDENTITY_MAX_RESETS_PER_ADDRESS,
        settings.IDENTITY_LOCKOUT_SECONDS,
    )


def _key(limit: Limit, scope: str, subject: str) -> str:
    digest = hashlib.sha256(subject.strip().lower().encode()).hexdigest()[:40]
    return f"lienthong:identity:{limit.name}:{scope}:{digest}"


# --- The stores ------------------------------------------------------------------


class DatabaseStore:
    """Counters in ``identity_failurecounter``, one row per key.

    The increment is a single INSERT … ON CONFLICT DO UPDATE … RETURNING
    (SQLite ≥ 3.35 and PostgreSQL): two processes failing at the same moment
    both count, which a read-then-write would not guarantee.
    """

    def count(self, key: str) -> int:
        row = (
            FailureCounter.objects.filter(key=key, window_ends__gt=int(time.time()))
            .values_list("failures", flat=True)
            .first()
        )
        return row or 0

    def increment(self, key: str, seconds: int) -> int:
        now = int(time.time())
        quote = connection.ops.quote_name
        table, key_col, count_col, ends_col = (
            quote(name)
            for name in (FailureCounter._meta.db_table, "key", "failures", "window_ends")
        )
        sql = (
            f"INSERT INTO {table} ({key_col}, {count_col}, {ends_col}) "  # noqa: S608
            f"VALUES (%s, 1, %s) ON CONFLICT ({key_col}) DO UPDATE SET "
            f"{count_col} = CASE WHEN {table}.{ends_col} <= %s THEN 1 "
            f"ELSE {table}.{count_col} + 1 END, "
            f"{ends_col} = CASE WHEN {table}.{ends_col} <= %s THEN %s "
            f"ELSE {table}.{ends_col} END "
            f"RETURNING {count_col}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [key, now + seconds, now, now, now + seconds])
            (count,) = cursor.fetchone()
        if secrets.randbelow(CULL_EVERY) == 0:
            self.purge_expired()
        return count

    def delete(self, key: str) -> None:
        FailureCounter.objects.filter(key=key).delete()

    def purge_expired(self) -> int:
        deleted, _by_type = FailureCounter.objects.filter(
            window_ends__lte=int(time.time())
        ).delete()
        return deleted


class CacheStore:
    """Counters in the shared cache (Redis: ``INCR`` is atomic)."""

    def count(self, key: str) -> int:
        return int(cache.get(key, 0))

    def increment(self, key: str, seconds: int) -> int:
        # add() then incr(): the window starts at the first failure.
        cache.add(key, 0, timeout=seconds)
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=seconds)
            return 1

    def delete(self, key: str) -> None:
        cache.delete(key)

    def purge_expired(self) -> int:
        return 0  # the cache expires its own keys


def store() -> DatabaseStore | CacheStore:
    return CacheStore() if settings.IDENTITY_THROTTLE_STORE == "cache" else DatabaseStore()


# --- Counting ------------------------------------------------------------------------


def is_locked(*, subject: str | None, address: str | None, limit: Limit | None = None) -> bool:
    """True while too many recent failures came for this subject or from this address."""
    limit = limit or failures()
    counters = store()
    if subject and counters.count(_key(limit, "subject", subject)) >= limit.per_subject:
        return True
    return bool(address and counters.count(_key(limit, "address", address)) >= limit.per_address)


def record_failure(*, subject: str | None, address: str | None, limit: Limit | None = None) -> None:
    limit = limit or failures()
    counters = store()
    if subject:
        counters.increment(_key(limit, "subject", subject), limit.seconds)
    if address:
        counters.increment(_key(limit, "address", address), limit.seconds)


def clear(*, subject: str, limit: Limit | None = None) -> None:
    store().delete(_key(limit or failures(), "subject", subject))


# --- Rates of plain events (not only failures) --------------------------------------


_RATE = re.compile(r"(\d+)/(\d*)([smhd]?)")
_PERIODS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """Parses a rate in django-ratelimit's syntax, as the settings write it: "10/10m" is
    (10, 600), ten events per 600 seconds."""
    match = _RATE.fullmatch(rate.strip().lower())
    if not match:
        raise ValueError(f"not a rate (count/[n]s|m|h|d): {rate!r}")
    count, multiple, period = match.groups()
    return int(count), _PERIODS[period] * int(multiple or 1)


def rate_exceeded(name: str, subject: str, rate: str) -> bool:
    """Counts one event of ``subject`` (a client address) under ``name`` and tells
    whether it goes beyond ``rate`` ("10/10m", django-ratelimit's syntax).

    One atomic upsert in the counters' store (see above) instead of
    django-ratelimit on the database cache, whose add, get and set each count
    the cache's rows to cull it: five or six statements per request. The
    window opens at the first event and is not extended, so at most the
    rate's count of events pass per window, as with django-ratelimit.
    """
    allowed, seconds = parse_rate(rate)
    key = _key(Limit(name, allowed, allowed, seconds), "rate", subject)
    return store().increment(key, seconds) > allowed
