"""Carrying queued envelopes to their receiving nodes: ``lienthong worker``.

One round (``deliver_due``):

1. **Claim** the due messages in a short transaction: queued, next attempt
   reached, and next in line for their dossier (correlation id and recipient):
   several of one dossier go in one batch, in order, when nothing of that
   dossier waits before them. Claiming moves ``next_attempt_at`` a
   lease ahead and counts the attempt, so another worker does not take them;
   on PostgreSQL the rows are read ``FOR UPDATE SKIP LOCKED``, on SQLite the
   write transaction itself is exclusive. A worker killed mid-batch leaves
   its messages to be claimed again when the lease runs out; the receiver
   deduplicates by envelope id, so nothing is applied twice.
2. **Post** each endpoint's messages as one batch and read the batch receipt.
   It counts only if its signature verifies, and for a message only if it names
   that envelope (id and SHA-256 of the signed envelope).
3. **Settle**: accepted → delivered; refused for a reason retrying cannot
   change → refused (the operator sees it and may replay it after fixing the
   cause); anything else (no answer, HTTP error, a receipt that does not
   verify, "revocation unknown") → retried after an exponential backoff with
   jitter, until ``EXCHANGE_MAX_ATTEMPTS``, then a dead letter.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from lienthong.directory import snapshots
from lienthong.directory.models import DirectoryAnchor
from lienthong.exchange import attachments, facts, log, tls, webhooks
from lienthong.exchange.envelope import unverified_payload
from lienthong.exchange.models import LogRecord, OutboundMessage
from lienthong.exchange.services import API_PATH, FILES_PATH, RECEIPT_TYPE
from lienthong.trust.validation.jws import verify_jws
from lienthong.trust.validation.report import Indication

logger = structlog.get_logger(__name__)

# Refusals that a retry cannot turn into an acceptance.
FINAL_REFUSALS = {
    "malformed",
    "signature_invalid",
    "untrusted_chain",
    "certificate_revoked",
    "unknown_sender",
    "sender_mismatch",
    "unknown_recipient",
    "expired",
    "forbidden",
    "replayed",
}
# "out_of_order" (an earlier envelope of the same dossier in the batch was refused) and
# the refusals that may pass later are retried.


@dataclass
class RoundResult:
    claimed: int = 0
    delivered: int = 0
    refused: int = 0
    retried: int = 0
    dead: int = 0


def backoff(attempts: int) -> dt.timedelta:
    """Exponential backoff with jitter (0.5 to 1.5 times), capped."""
    base = settings.EXCHANGE_BACKOFF_SECONDS * 2 ** max(0, attempts - 1)
    delay = min(settings.EXCHANGE_BACKOFF_CAP_SECONDS, base) * random.uniform(0.5, 1.5)  # noqa: S311
    return dt.timedelta(seconds=delay)


def claim(limit: int) -> list[OutboundMessage]:
    """Due messages, several per dossier when they are next in line, oldest first.

    A message is claimable when it is due and no earlier queued message of its
    dossier (correlation id and recipient) is waiting for a later attempt. What
    is claimed is then cut, per dossier, to the prefix that starts at the
    dossier's oldest queued message with no gap: a message another worker holds
    (skipped under ``SKIP LOCKED``) keeps the later ones of its dossier here.
    """
    now = timezone.now()
    waiting_before = OutboundMessage.objects.filter(
        state=OutboundMessage.State.QUEUED,
        correlation_id=OuterRef("correlation_id"),
        recipient=OuterRef("recipient"),
        next_attempt_at__gt=now,
        pk__lt=OuterRef("pk"),
    )
    due_now = OutboundMessage.objects.filter(
        state=OutboundMessage.State.QUEUED, next_attempt_at__lte=now
    )
    # An idle worker polls: a plain read first, so that it takes no write lock (on
    # SQLite every transaction here is a writer's) unless there is work.
    if not due_now.exists():
        return []
    with transaction.atomic():
        due = due_now.exclude(Exists(waiting_before))
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        messages = _in_line(list(due.order_by("pk")[:limit]))
        if messages:
            lease = now + dt.timedelta(seconds=settings.EXCHANGE_LEASE_SECONDS)
            OutboundMessage.objects.filter(pk__in=[m.pk for m in messages]).update(
                next_attempt_at=lease, attempts=F("attempts") + 1, last_attempt_at=now
            )
            for message in messages:
                message.attempts += 1
    return messages


def _in_line(candidates: list[OutboundMessage]) -> list[OutboundMessage]:
    """Per dossier, the candidates that follow its oldest queued message without a gap."""
    if not candidates:
        return []
    last: dict[tuple[str, str], int] = {}
    for message in candidates:
        last[message.correlation_id, message.recipient] = message.pk
    condition = Q()
    for (correlation, recipient), pk in last.items():
        condition |= Q(correlation_id=correlation, recipient=recipient, pk__lte=pk)
    queued: dict[tuple[str, str], list[int]] = {}
    for pk, correlation, recipient in (
        OutboundMessage.objects.filter(condition, state=OutboundMessage.State.QUEUED)
        .order_by("pk")
        .values_list("pk", "correlation_id", "recipient")
    ):
        queued.setdefault((correlation, recipient), []).append(pk)
    position: dict[tuple[str, str], int] = {}
    kept, broken = [], set()
    for message in candidates:
        group = message.correlation_id, message.recipient
        if group in broken:
            continue
        index = position.get(group, 0)
        line = queued.get(group, [])
        if index < len(line) and line[index] == message.pk:
            kept.append(message)
            position[group] = index + 1
        else:
            broken.add(group)
    return kept


def _receipt_body(token: Any) -> dict[str, Any] | None:
    if not isinstance(token, str):
        return None
    try:
        body = unverified_payload(token)
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("type") != RECEIPT_TYPE:
        return None
    return body if isinstance(body.get("entries"), list) else None


def _post(client: httpx.Client, endpoint: str, tokens: list[str], pin: str = "") -> str:
    response = client.post(endpoint, json={"envelopes": tokens})
    tls.check_pin(response, pin)
    response.raise_for_status()
    receipt = response.json().get("receipt")
    if not isinstance(receipt, str):
        raise ValueError("the answer holds no receipt")
    return receipt


def _offer_files(http: httpx.Client, endpoint: str, batch: list[OutboundMessage], pin: str) -> None:
    """Transfer the files the batch references that the receiver does not hold yet
    (attachments.py): a look, then a streamed upload of each missing one."""
    wanted = sorted({d for m in batch for d in m.attachment_digests.split()})
    if not wanted:
        return
    base = endpoint.removesuffix(API_PATH) + FILES_PATH
    for digest in wanted:
        look = http.get(base + digest)
        tls.check_pin(look, pin)
        if look.status_code == 200 and look.json().get("size") == attachments.size_of(digest):
            continue
        size = attachments.size_of(digest)
        if size is None:
            raise ValueError(f"the attachment {digest} is no longer in this node's store")
        answer = http.put(
            base + digest,
            content=attachments.read(digest),
            headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
        )
        tls.check_pin(answer, pin)
        answer.raise_for_status()


def _retry_or_bury(message: OutboundMessage, error: str, result: RoundResult) -> None:
    now = timezone.now()
    if message.attempts >= settings.EXCHANGE_MAX_ATTEMPTS:
        OutboundMessage.objects.filter(pk=message.pk).update(
            state=OutboundMessage.State.DEAD, last_error=error[:500]
        )
        result.dead += 1
        logger.warning("dead letter", envelope_id=message.envelope_id, error=error[:200])
        return
    OutboundMessage.objects.filter(pk=message.pk).update(
        next_attempt_at=now + backoff(message.attempts), last_error=error[:500]
    )
    result.retried += 1


def _settle(batch: list[OutboundMessage], receipt: str, result: RoundResult) -> None:
    """Each message of a posted batch, by what the batch receipt says of it."""
    body = _receipt_body(receipt)
    if body is None:
        for message in batch:
            _retry_or_bury(message, "the answer is not a receipt", result)
        return
    verified = verify_jws(receipt)
    if verified.indication != Indication.TOTAL_PASSED:
        error = f"receipt signature {verified.indication}/{verified.sub_indication}"
        for message in batch:
            _retry_or_bury(message, error, result)
        return
    entries = {
        (entry.get("envelope_id"), entry.get("envelope_sha256")): entry
        for entry in body["entries"]
        if isinstance(entry, dict)
    }
    delivered: list[OutboundMessage] = []
    refused: dict[str, list[OutboundMessage]] = {}
    for message in batch:
        entry = entries.get((message.envelope_id, message.token_sha256))
        if entry is None:
            _retry_or_bury(message, "the receipt does not name this envelope", result)
            continue
        status, code = entry.get("status"), str(entry.get("reason") or "")
        if status == "accepted":
            delivered.append(message)
        elif status == "refused" and code in FINAL_REFUSALS:
            refused.setdefault(code, []).append(message)
        else:
            _retry_or_bury(message, f"refused for now: {code or status}", result)
    if not delivered and not refused:
        return
    with transaction.atomic():
        OutboundMessage.objects.filter(pk__in=[m.pk for m in delivered]).update(
            state=OutboundMessage.State.DELIVERED,
            delivered_at=timezone.now(),
            receipt=receipt,
            last_error="",
        )
        for code, messages in refused.items():
            OutboundMessage.objects.filter(pk__in=[m.pk for m in messages]).update(
                state=OutboundMessage.State.REFUSED,
                receipt=receipt,
                refusal_code=code,
                last_error=f"refused: {code}",
            )
        log.append(
            kind=LogRecord.Kind.RECEIPT_RECEIVED, envelope_id="", correlation_id="", content=receipt
        )
    result.delivered += len(delivered)
    result.refused += sum(len(m) for m in refused.values())


def client(timeout: float | None = None) -> httpx.Client:
    """The HTTP client to other nodes; mutual TLS when the node has a client certificate."""
    return httpx.Client(timeout=timeout or settings.EXCHANGE_HTTP_TIMEOUT, **tls.client_options())


def deliver_due(http: httpx.Client, limit: int | None = None) -> RoundResult:
    """One round: claim, post per endpoint, settle every message."""
    result = RoundResult()
    if facts.expired_copy():
        logger.warning("the directory copy has expired: nothing is sent until it is renewed")
        return result
    messages = claim(limit or settings.EXCHANGE_BATCH_SIZE)
    result.claimed = len(messages)
    by_endpoint: dict[str, list[OutboundMessage]] = {}
    for message in messages:
        by_endpoint.setdefault(message.endpoint, []).append(message)
    pins = tls.pins(API_PATH) if by_endpoint else {}
    for endpoint, batch in by_endpoint.items():
        try:
            _offer_files(http, endpoint, batch, pins.get(endpoint, ""))
            receipt = _post(http, endpoint, [m.token for m in batch], pins.get(endpoint, ""))
        except (httpx.HTTPError, ValueError) as exc:
            for message in batch:
                _retry_or_bury(message, f"{type(exc).__name__}: {exc}", result)
            continue
        _settle(batch, receipt, result)
    return result


def consume_inbound() -> int:
    """Hand what this node received to the apps that act on it
    (``settings.EXCHANGE_INBOUND_CONSUMERS``: dossier hand-offs and statuses);
    how many envelopes they applied. Each consumer applies an envelope once, in
    its own transaction, so a failing round is simply tried again."""
    applied = 0
    for path in settings.EXCHANGE_INBOUND_CONSUMERS:
        try:
            done = import_string(path)()
        except DatabaseError as exc:  # a busy or lost database: the next round tries again
            logger.warning("received envelopes not applied", consumer=path, error=str(exc))
            close_old_connections()
            continue
        applied += done if isinstance(done, int) else len(done)
    return applied


def run(*, once: bool = False, idle_seconds: float = 1.0, stop=None) -> None:
    """The worker loop: rounds back to back while there is work, a pause when idle;
    the directory snapshot pulled every DIRECTORY_POLL_SECONDS (on a following node),
    received envelopes handed to the apps that act on them, and the message log's head timestamped every EXCHANGE_LOG_TIMESTAMP_SECONDS."""
    next_stamp = next_pull = time.monotonic()
    with client() as http, webhooks.client() as hooks:
        while stop is None or not stop():
            if time.monotonic() >= next_pull and DirectoryAnchor.objects.exists():
                next_pull = time.monotonic() + settings.DIRECTORY_POLL_SECONDS
                try:
                    snapshots.pull(actor="worker", http=http)
                except snapshots.SnapshotRefused as refused:
                    logger.warning("directory snapshot not applied", code=refused.code,
                                   detail=refused.detail)  # fmt: skip
            outcome = deliver_due(http)
            posted = webhooks.deliver_due(hooks)
            applied = consume_inbound()
            if settings.TSA_URL and time.monotonic() >= next_stamp:
                # When the head is due and when to retry a failing authority is kept in
                # the database (log.stamp_if_due); this only spares the query.
                next_stamp = time.monotonic() + 30
                try:
                    log.stamp_if_due(settings.TSA_URL)
                except log.TimestampFailed as exc:
                    logger.warning("log head not timestamped", error=str(exc))
            if once:
                return
            if outcome.claimed == 0 and posted == 0 and applied == 0:
                time.sleep(idle_seconds)


def replay(*, actor: Any, envelope_ids: list[str]) -> int:
    """Queue dead or refused messages again (after the operator fixed the cause)."""
    from lienthong.audit import services as audit
    from lienthong.audit.models import AuditRecord

    count = 0
    with transaction.atomic():
        for message in OutboundMessage.objects.select_for_update().filter(
            envelope_id__in=envelope_ids,
            state__in=[OutboundMessage.State.DEAD, OutboundMessage.State.REFUSED],
        ):
            before = message.state
            OutboundMessage.objects.filter(pk=message.pk).update(
                state=OutboundMessage.State.QUEUED,
                attempts=0,
                next_attempt_at=timezone.now(),
                refusal_code="",
            )
            audit.record(
                actor=actor,
                action=AuditRecord.Action.UPDATE,
                obj=message,
                changes={"state": [before, OutboundMessage.State.QUEUED]},
                source="exchange",
            )
            count += 1
    return count
