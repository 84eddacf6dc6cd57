"""The directory facts the exchange consults on every message, kept per process for
a few seconds (``LIENTHONG_EXCHANGE_FACTS_SECONDS``).

Every envelope and query asks the same questions — is the directory copy
current, which agencies does this node host, is the sender in the directory,
may it send this type, where is the recipient's node, which key signs for an
agency, which backend answers a service — and asked of the database each time
they were most of a message's cost. Kept here for a few seconds, a change made
elsewhere (another process, the directory snapshot applied by the worker) takes
effect within that time; a change saved in this process (admin, commands,
services) takes effect at once, through the signals at the bottom.

What must never be stale is not kept here: whether the signing key may sign is
checked again at every signature (trust/signing.py keeps it for a second per
process and forgets it at once on a change made in the process), and revocation
has its own cache with its own rules (trust/revocation.py).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

T = TypeVar("T")
_MISSING = object()
_lock = threading.Lock()
_store: dict[tuple, tuple[float, Any]] = {}
_clock = time.monotonic


def remembered(key: tuple, compute: Callable[[], T]) -> T:
    """``compute()``, or its value from less than EXCHANGE_FACTS_SECONDS ago."""
    ttl = settings.EXCHANGE_FACTS_SECONDS
    now = _clock()
    if ttl > 0:
        with _lock:
            found = _store.get(key, _MISSING)
        if found is not _MISSING and found[0] > now:
            return found[1]
    value = compute()
    if ttl > 0:
        with _lock:
            _store[key] = (now + ttl, value)
    return value


def forget(*args: Any, **kwargs: Any) -> None:
    """Drop every fact (a signal receiver too, hence the arguments)."""
    with _lock:
        _store.clear()


def expired_copy(now: dt.datetime | None = None) -> bool:
    """snapshots.expired_copy, with the copy's validity kept (not the verdict)."""
    from lienthong.directory.models import DirectoryAnchor, Snapshot

    def validity() -> tuple[bool, dt.datetime | None]:
        if not DirectoryAnchor.objects.exists():
            return False, None
        current = Snapshot.objects.filter(published=False).order_by("-serial").first()
        return True, current.valid_until if current else None

    follows, valid_until = remembered(("directory-validity",), validity)
    if not follows:
        return False
    return valid_until is None or valid_until <= (now or timezone.now())


def hosted() -> dict[str, Any]:
    """{identifier: Agency} of the agencies this node hosts."""
    from lienthong.node import this_node

    return remembered(("hosted",), lambda: {a.identifier: a for a in this_node().hosted_agencies()})


def agency(identifier: str) -> Any:
    """The active agency of the directory with this identifier, or None."""
    from lienthong.directory.models import Agency

    return remembered(
        ("agency", identifier),
        lambda: (
            Agency.objects.select_related("node")
            .filter(identifier=identifier, is_active=True)
            .first()
        ),
    )


def allowed(sender: Any, recipient: Any, message_type: str) -> bool:
    """Whether an enabled access right lets ``sender`` send ``message_type`` (or its
    family, ``prefix.*``) to ``recipient``."""
    from lienthong.exchange.models import AccessRight

    family = message_type.split(".")[0] + ".*"
    return remembered(
        ("allowed", sender.pk, recipient.pk, message_type),
        lambda: AccessRight.objects.filter(
            Q(consumer=sender) | Q(consumer__isnull=True),
            provider=recipient,
            message_type__in=[message_type, family],
            is_enabled=True,
        ).exists(),
    )


def signing_key(agency_identifier: str) -> Any:
    """The newest enabled key the node holds for an agency, or None."""
    from lienthong.trust.models import SigningKey

    return remembered(
        ("signing-key", agency_identifier),
        lambda: (
            SigningKey.objects.filter(agency__identifier=agency_identifier, is_enabled=True)
            .order_by("-not_after", "-pk")
            .first()
        ),
    )


def query_service(agency: Any, subsystem: str, code: str) -> Any:
    from lienthong.exchange.models import QueryService

    return remembered(
        ("query-service", agency.pk, subsystem, code),
        lambda: (
            QueryService.objects.select_related("agency")
            .filter(agency=agency, subsystem=subsystem, code=code, is_enabled=True)
            .first()
        ),
    )


def _connect() -> None:
    from lienthong.directory.models import Agency, DirectoryAnchor, Node, Snapshot
    from lienthong.exchange.models import AccessRight, QueryService, SystemClient
    from lienthong.trust import signals
    from lienthong.trust.models import SigningKey

    models = (Agency, Node, DirectoryAnchor, Snapshot, AccessRight, QueryService, SigningKey,
              SystemClient)  # fmt: skip
    for model in models:
        post_save.connect(forget, sender=model, dispatch_uid=f"exchange-facts-{model.__name__}")
        post_delete.connect(forget, sender=model, dispatch_uid=f"exchange-facts-d-{model.__name__}")
    # A key enabled or disabled by trust.services.switch_enabled (an update, no post_save).
    signals.signing_key_changed.connect(forget, dispatch_uid="exchange-facts-key-switched")
