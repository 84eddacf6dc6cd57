"""Signed webhooks: envelopes pushed to the connected systems they are addressed to.

A connected system (adapter.py) may give a webhook URL (``PUT
/api/v1/exchange/webhook``, or ``lienthong exchange set-webhook``); it gets a
secret once. From then on, every envelope the node accepts for
``VN:GOV:{its agency}:{its subsystem}`` is queued for it in the transaction
that stores the envelope, and the worker posts it::

    POST {webhook_url}
    Content-Type: application/json
    X-Lienthong-Event-Id: {envelope id}
    X-Lienthong-Signature: t={unix time},v1={hex HMAC-SHA256(secret, "{t}.{body}")}

    {"event": "envelope.received", "envelope_id", "type", "sender", "recipient",
     "correlation_id", "created_at", "received_at", "payload", "token"}

``token`` is the sender's signed envelope, for systems that verify it
themselves. A 2xx answer acknowledges the envelope (it leaves the pull inbox);
anything else is retried with the exchange's backoff, in order per system, and
after ``LIENTHONG_EXCHANGE_MAX_ATTEMPTS`` the delivery is a dead letter — the
envelope stays in the inbox, so a system can still pull it: nothing is lost.

The secret is not stored: it is derived (HKDF-SHA256) from the node's
key-encryption key, the system and a generation number that a new secret
increments. (Replacing the key-encryption key therefore replaces every webhook
secret: set the webhooks again.) ``verify`` is what a receiving system runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import structlog
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from lienthong.audit import services as audit
from lienthong.audit.models import AuditRecord
from lienthong.exchange import facts
from lienthong.exchange.envelope import format_time
from lienthong.exchange.inserts import any_row
from lienthong.exchange.models import InboundMessage, SystemClient, WebhookDelivery

logger = structlog.get_logger(__name__)

EVENT = "envelope.received"
SIGNATURE_HEADER = "X-Lienthong-Signature"
TOLERANCE_SECONDS = 300


def secret(system: SystemClient) -> str:
    """The system's current webhook secret (hex), derived, never stored."""
    kek = settings.KEY_ENCRYPTION_KEY
    material = kek.encode() if isinstance(kek, str) else bytes(kek)
    info = f"lienthong exchange webhook v1:{system.pk}:{system.webhook_generation}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(material).hex()


def signature(secret_hex: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(bytes.fromhex(secret_hex), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret_hex: str, header: str, body: bytes, *, now: float | None = None) -> bool:
    """What a receiving system checks: the signature over the exact body, made less
    than five minutes ago (a replayed old post fails)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (ValueError, KeyError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = signature(secret_hex, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


# --- Setting a webhook ------------------------------------------------------------------------


def set_webhook(*, actor: Any, system: SystemClient, url: str) -> str:
    """Post the system's envelopes to ``url`` from now on; returns the new secret
    (shown once). Raises ValueError for a URL that is not http(s)."""
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host or len(url) > 300:
        raise ValueError(f"not an http(s) URL: {url[:120]}")
    with transaction.atomic():
        before = system.webhook_url
        SystemClient.objects.filter(pk=system.pk).update(
            webhook_url=url, webhook_generation=F("webhook_generation") + 1
        )
        system.refresh_from_db(fields=["webhook_url", "webhook_generation"])
        audit.record(
            actor=actor,
            action=AuditRecord.Action.UPDATE,
            obj=system,
            changes={"webhook_url": [before, url], "webhook_secret": "replaced"},
            source="exchange",
        )
    facts.forget()
    return secret(system)


def remove_webhook(*, actor: Any, system: SystemClient) -> None:
    """No more posts; what is queued for the system stays in its inbox."""
    with transaction.atomic():
        before = system.webhook_url
        SystemClient.objects.filter(pk=system.pk).update(webhook_url="")
        WebhookDelivery.objects.filter(system=system, state=WebhookDelivery.State.QUEUED).delete()
        audit.record(
            actor=actor,
            action=AuditRecord.Action.UPDATE,
            obj=system,
            changes={"webhook_url": [before, ""]},
            source="exchange",
        )
    system.webhook_url = ""
    facts.forget()


# --- Queueing, in the receiver's transaction -----------------------------------------------------


def _subscribers() -> dict[str, int]:
    """{member: system pk} of the enabled systems with a webhook."""
    return facts.remembered(
        ("webhooks",),
        lambda: {
            system.member: system.pk
            for system in SystemClient.objects.select_related("agency")
            .filter(is_enabled=True)
            .exclude(webhook_url="")
        },
    )


def queue_for(messages: list[InboundMessage]) -> int:
    """Queue a delivery for each stored message whose recipient has a webhook."""
    subscribers = _subscribers()
    if not subscribers:
        return 0
    now = timezone.now()
    deliveries = [
        WebhookDelivery(system_id=subscribers[m.recipient], message_id=m.pk, next_attempt_at=now)
        for m in messages
        if m.recipient in subscribers
    ]
    WebhookDelivery.objects.bulk_create(deliveries)
    return len(deliveries)


# --- Posting, by the worker ---------------------------------------------------------------------


def claim(limit: int) -> list[WebhookDelivery]:
    """Due deliveries, oldest first, leased like the outbox (delivery.claim); none
    behind an earlier one of the same system that waits for a later attempt."""
    now = timezone.now()
    queued = WebhookDelivery.State.QUEUED
    # No write lock while idle (delivery.claim), and no queryset built for the look.
    at = connection.ops.adapt_datetimefield_value(now)
    if not any_row(WebhookDelivery, "state = %s AND next_attempt_at <= %s", [queued, at]):
        return []
    waiting_before = WebhookDelivery.objects.filter(
        state=queued, system=OuterRef("system"), next_attempt_at__gt=now, pk__lt=OuterRef("pk")
    )
    due_now = WebhookDelivery.objects.filter(state=queued, next_attempt_at__lte=now)
    with transaction.atomic():
        due = due_now.exclude(Exists(waiting_before))
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True, of=("self",))
        claimed = list(due.select_related("system", "message").order_by("pk")[:limit])
        if claimed:
            lease = now + dt.timedelta(seconds=settings.EXCHANGE_LEASE_SECONDS)
            WebhookDelivery.objects.filter(pk__in=[d.pk for d in claimed]).update(
                next_attempt_at=lease, attempts=F("attempts") + 1, last_attempt_at=now
            )
            for item in claimed:
                item.attempts += 1
    return claimed


def body(message: InboundMessage) -> bytes:
    return json.dumps(
        {
            "event": EVENT,
            "envelope_id": message.envelope_id,
            "type": message.type,
            "sender": message.sender,
            "recipient": message.recipient,
            "correlation_id": message.correlation_id,
            "created_at": format_time(message.created_at),
            "received_at": format_time(message.received_at),
            "payload": message.payload,
            "token": message.token,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def deliver_due(http: httpx.Client, limit: int | None = None) -> int:
    """One round: post every claimed delivery; per system, stop at the first failure so
    that the later ones keep their order. Returns how many were claimed."""
    from lienthong.exchange.delivery import backoff

    claimed = claim(limit or settings.EXCHANGE_BATCH_SIZE)
    failed_systems: set[int] = set()
    for item in claimed:
        if item.system_id in failed_systems:
            # Behind one that failed: back in the queue, this attempt not counted; the
            # failed one's backoff now holds it (claim).
            WebhookDelivery.objects.filter(pk=item.pk).update(
                attempts=F("attempts") - 1, next_attempt_at=timezone.now()
            )
            continue
        system = item.system
        if not system.is_enabled or not system.webhook_url:
            item.delete()
            continue
        content = body(item.message)
        headers = {
            "Content-Type": "application/json",
            "X-Lienthong-Event-Id": item.message.envelope_id,
            SIGNATURE_HEADER: signature(secret(system), int(time.time()), content),
        }
        try:
            answer = http.post(system.webhook_url, content=content, headers=headers)
            if not 200 <= answer.status_code < 300:
                raise httpx.HTTPStatusError(
                    f"HTTP {answer.status_code}", request=answer.request, response=answer
                )
        except httpx.HTTPError as exc:
            failed_systems.add(item.system_id)
            _retry_or_bury(item, f"{type(exc).__name__}: {exc}", backoff)
            continue
        now = timezone.now()
        with transaction.atomic():
            WebhookDelivery.objects.filter(pk=item.pk).update(
                state=WebhookDelivery.State.DELIVERED, delivered_at=now, last_error=""
            )
            InboundMessage.objects.filter(pk=item.message_id, acknowledged_at__isnull=True).update(
                acknowledged_at=now
            )
    return len(claimed)


def _retry_or_bury(item: WebhookDelivery, error: str, backoff) -> None:
    if item.attempts >= settings.EXCHANGE_MAX_ATTEMPTS:
        WebhookDelivery.objects.filter(pk=item.pk).update(
            state=WebhookDelivery.State.DEAD, last_error=error[:500]
        )
        logger.warning("webhook dead letter", delivery=item.pk, error=error[:200])
        return
    WebhookDelivery.objects.filter(pk=item.pk).update(
        next_attempt_at=timezone.now() + backoff(item.attempts), last_error=error[:500]
    )


def replay(*, actor: Any, deliveries: list[WebhookDelivery]) -> int:
    """Queue dead deliveries again (after the system's receiver was fixed); audited."""
    count = 0
    with transaction.atomic():
        for item in deliveries:
            updated = WebhookDelivery.objects.filter(
                pk=item.pk, state=WebhookDelivery.State.DEAD
            ).update(state=WebhookDelivery.State.QUEUED, attempts=0, next_attempt_at=timezone.now())
            if updated:
                audit.record(
                    actor=actor,
                    action=AuditRecord.Action.UPDATE,
                    obj=item,
                    changes={"state": [WebhookDelivery.State.DEAD, WebhookDelivery.State.QUEUED]},
                    source="exchange",
                )
                count += 1
    return count


def client() -> httpx.Client:
    """The worker's client for webhooks: systems' own URLs, verified the usual way
    (not the trust-list bundle that node-to-node calls use)."""
    return httpx.Client(timeout=settings.EXCHANGE_HTTP_TIMEOUT, follow_redirects=False)
