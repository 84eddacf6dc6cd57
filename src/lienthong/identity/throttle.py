"""Failure counters and lockout for passwords and every second factor.

Counted in the cache (shared by every process when the node configures a
shared cache), per identifier and per client address. The identifier is what
the person typed, not an account: an unknown number locks exactly like a
known one, so the lockout itself tells nobody which accounts exist.

Only failures count; a success clears the identifier's counter (not the
address's: one client guessing many accounts stays limited).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache


def _key(scope: str, subject: str) -> str:
    digest = hashlib.sha256(subject.strip().lower().encode()).hexdigest()[:32]
    return f"lienthong:identity:fail:{scope}:{digest}"


def _count(key: str) -> int:
    return int(cache.get(key, 0))


def is_locked(*, subject: str | None, address: str | None) -> bool:
    """True while too many recent failures came for this identifier or from this address."""
    if subject and _count(_key("subject", subject)) >= settings.IDENTITY_MAX_FAILURES:
        return True
    return bool(
        address and _count(_key("address", address)) >= settings.IDENTITY_MAX_FAILURES_PER_ADDRESS
    )


def record_failure(*, subject: str | None, address: str | None) -> None:
    keys = [_key("subject", subject)] if subject else []
    keys += [_key("address", address)] if address else []
    for key in keys:
        # add() then incr(): the window starts at the first failure and is not
        # extended by later ones, so a lockout always ends.
        cache.add(key, 0, timeout=settings.IDENTITY_LOCKOUT_SECONDS)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=settings.IDENTITY_LOCKOUT_SECONDS)


def clear(*, subject: str) -> None:
    cache.delete(_key("subject", subject))
