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
   jitter, until ``EXCHANGE_MAX_ATTEMPTS``, then a dead letter. The receipt is
  stored once (``models.Receipt``), every settled message of the batch pointing
  to it, and recorded once in the message log.

The worker (``run``) keeps up to ``EXCHANGE_IN_FLIGHT`` batches posted at once
(``Pipeline``: a dossier never has more than one, its lease holds the rest), and
when idle waits to be woken (wake.py) instead of polling.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
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
from lienthong.exchange import attachments, facts, log, tls, wake, webhooks
from lienthong.exchange.envelope import unverified_payload
from lienthong.exchange.inserts import any_row
from lienthong.exchange.models import LogRecord, OutboundMessage
from lienthong.exchange.services import API_PATH, FILES_PATH, RECEIPT_TYPE, store_receipt
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


def claim(limit: int, *, look_first: bool = True) -> list[OutboundMessage]:
    """Due messages, several per dossier when they are next in line, oldest first.

    A message is claimable when it is due and no earlier queued message of its
    dossier (correlation id and recipient) is waiting for a later attempt. What
    is claimed is then cut, per dossier, to the prefix that starts at the
    dossier's oldest queued message with no gap: a message another worker holds
    (skipped under ``SKIP LOCKED``) keeps the later ones of its dossier here.
    Without ``SKIP LOCKED`` (SQLite: the write transaction is exclusive) that cut
    changes nothing and is not made: the earlier queued messages of a claimed
    one's dossier are all due, so they come first in the same claim.

    ``look_first``: a plain read first, so that an idle worker takes no write lock;
    a busy one (the last round claimed something) skips it.
    """
    now = timezone.now()

    def due_now():
        # Built only where it is used: a filter costs more than SQLite's whole claim.
        return OutboundMessage.objects.filter(
            state=OutboundMessage.State.QUEUED, next_attempt_at__lte=now
        )

    # An idle worker: a plain read first, so that it takes no write lock (on SQLite
    # every transaction here is a writer's) unless there is work.
    if look_first and not any_row(
        OutboundMessage,
        "state = %s AND next_attempt_at <= %s",
        [OutboundMessage.State.QUEUED, connection.ops.adapt_datetimefield_value(now)],
    ):
        return []
    skip_locked = connection.features.has_select_for_update_skip_locked
    if not skip_locked and connection.vendor == "sqlite":
        # One statement, atomic on its own: no transaction around it (a BEGIN less).
        return _claim_sqlite(now, limit)
    waiting_before = OutboundMessage.objects.filter(
        state=OutboundMessage.State.QUEUED,
        correlation_id=OuterRef("correlation_id"),
        recipient=OuterRef("recipient"),
        next_attempt_at__gt=now,
        pk__lt=OuterRef("pk"),
    )
    with transaction.atomic():
        due = due_now().exclude(Exists(waiting_before)).order_by("pk")
        if skip_locked:
            messages = _in_line(list(due.select_for_update(skip_locked=True)[:limit]))
        else:
            messages = list(due[:limit])
        if messages:
            lease = now + dt.timedelta(seconds=settings.EXCHANGE_LEASE_SECONDS)
            OutboundMessage.objects.filter(pk__in=[m.pk for m in messages]).update(
                next_attempt_at=lease, attempts=F("attempts") + 1, last_attempt_at=now
            )
            for message in messages:
                message.attempts += 1
    return messages


# The queue is read in id order through the partial index of queued rows
# (``exchange_out_queued``), stopping at the limit: without it SQLite chose the
# (state, next attempt) index, checked every queued row's dossier and sorted them
# all, so that a claim cost grew with the backlog (5.5 ms with 825 queued). The
# state is written as a literal: a partial index serves only a WHERE that names
# its condition.
_CLAIM_SQLITE = """
UPDATE {table} SET next_attempt_at = %s, attempts = attempts + 1, last_attempt_at = %s
WHERE id IN (
    SELECT o.id FROM {table} o INDEXED BY exchange_out_queued
    WHERE o.state = '{queued}' AND o.next_attempt_at <= %s AND NOT EXISTS (
        SELECT 1 FROM {table} w
        WHERE w.state = '{queued}' AND w.correlation_id = o.correlation_id
          AND w.recipient = o.recipient AND w.next_attempt_at > %s AND w.id < o.id
    )
    ORDER BY o.id LIMIT %s
)
RETURNING {columns}
"""


def _claim_sqlite(now: dt.datetime, limit: int) -> list[OutboundMessage]:
    """The claim as one statement (``UPDATE … RETURNING``): the same rows, lease and
    count as the ORM's select, in-line check and update, in one statement."""
    meta = OutboundMessage._meta
    quote = connection.ops.quote_name
    sql = _CLAIM_SQLITE.format(
        table=quote(meta.db_table),
        columns=", ".join(quote(field.column) for field in meta.concrete_fields),
        queued=OutboundMessage.State.QUEUED.value,
    )
    at = connection.ops.adapt_datetimefield_value
    lease = now + dt.timedelta(seconds=settings.EXCHANGE_LEASE_SECONDS)
    params = [at(lease), at(now), at(now), at(now), limit]
    return sorted(OutboundMessage.objects.raw(sql, params), key=lambda m: m.pk)


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
    now = timezone.now()
    with transaction.atomic():
        # The receipt once, every settled message of the batch pointing to it.
        row = store_receipt(receipt, now)
        if delivered:
            _mark(
                delivered,
                state=OutboundMessage.State.DELIVERED,
                delivered_at=now,
                receipt=row.pk,
                last_error="",
            )
        for code, messages in refused.items():
            _mark(
                messages,
                state=OutboundMessage.State.REFUSED,
                receipt=row.pk,
                refusal_code=code,
                last_error=f"refused: {code}",
            )
        log.append(
            kind=LogRecord.Kind.RECEIPT_RECEIVED, envelope_id="", correlation_id="", content=receipt
        )
    result.delivered += len(delivered)
    result.refused += sum(len(m) for m in refused.values())


def _mark(messages: list[OutboundMessage], **values: Any) -> None:
    """Set ``values`` (field name: value, a key for a foreign key) on these messages' rows:
    the ORM's ``filter(pk__in=…).update(…)`` as one statement built from the model's
    fields, without compiling a query on every settle."""
    meta = OutboundMessage._meta
    quote = connection.ops.quote_name
    fields = [meta.get_field(name) for name in values]
    keys = [message.pk for message in messages]
    sql = (
        f"UPDATE {quote(meta.db_table)} SET "  # noqa: S608 (names from the model)
        f"{', '.join(f'{quote(field.column)} = %s' for field in fields)} "
        f"WHERE {quote(meta.pk.column)} IN ({', '.join(['%s'] * len(keys))})"
    )
    params = [
        field.get_db_prep_save(value, connection)
        for field, value in zip(fields, values.values(), strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *keys])


def client(timeout: float | None = None) -> httpx.Client:
    """The HTTP client to other nodes; mutual TLS when the node has a client certificate."""
    return httpx.Client(timeout=timeout or settings.EXCHANGE_HTTP_TIMEOUT, **tls.client_options())


def _deliver(http: httpx.Client, endpoint: str, batch: list[OutboundMessage], pin: str) -> str:
    """Offer the batch's files, post it, return the receipt (HTTP only: no database)."""
    _offer_files(http, endpoint, batch, pin)
    return _post(http, endpoint, [m.token for m in batch], pin)


def _conclude(batch: list[OutboundMessage], outcome: str | Exception, result: RoundResult) -> None:
    """Settle a posted batch by its receipt, or retry it after a transport error."""
    if isinstance(outcome, Exception):
        for message in batch:
            _retry_or_bury(message, f"{type(outcome).__name__}: {outcome}", result)
    else:
        _settle(batch, outcome, result)


def deliver_due(
    http: httpx.Client, limit: int | None = None, *, look_first: bool = True
) -> RoundResult:
    """One round: claim, post per endpoint, settle every message."""
    result = RoundResult()
    if facts.expired_copy():
        logger.warning("the directory copy has expired: nothing is sent until it is renewed")
        return result
    messages = claim(limit or settings.EXCHANGE_BATCH_SIZE, look_first=look_first)
    result.claimed = len(messages)
    by_endpoint: dict[str, list[OutboundMessage]] = {}
    for message in messages:
        by_endpoint.setdefault(message.endpoint, []).append(message)
    pins = tls.pins(API_PATH) if by_endpoint else {}
    for endpoint, batch in by_endpoint.items():
        try:
            outcome: str | Exception = _deliver(http, endpoint, batch, pins.get(endpoint, ""))
        except (httpx.HTTPError, ValueError) as exc:
            outcome = exc
        _conclude(batch, outcome, result)
    return result


class Pipeline:
    """Several requests in flight (``EXCHANGE_IN_FLIGHT``), for the worker.

    ``step()`` tops the pipeline up -- claims (``claim``, each a batch of at most
    ``EXCHANGE_BATCH_SIZE``) posted on the pool's threads -- until ``in_flight``
    requests are out or nothing more is due, then waits for the first to come back
    and settles it. Claims and settlements stay in the calling thread; the threads
    only do HTTP. Order per dossier holds as it does between workers: a claimed
    message's lease keeps the later ones of its dossier out of every claim until it
    is settled (delivered, or backing off), so a dossier has at most one request in
    flight, and a later claim takes its following messages in order. While
    requests are out, the next is claimed and posted and the returned ones settled:
    the sender's and the receiver's work overlap."""

    def __init__(
        self, http: httpx.Client, pool: Executor, in_flight: int, limit: int | None = None
    ):
        self.http, self.pool = http, pool
        self.in_flight = max(1, in_flight)
        self.limit = limit or settings.EXCHANGE_BATCH_SIZE
        self.out: dict[Future, list[OutboundMessage]] = {}
        # The last claim came back short: nothing more was claimable then. Until a
        # request is settled (its dossiers' next messages become claimable) or the
        # worker is told of new or due work (``more``), claiming again would only read
        # the queue to find what it found before -- every queued message, when the
        # requests out hold all the busy dossiers.
        self.exhausted = False

    def more(self) -> None:
        """New or due messages may be waiting (a wake-up, a due moment)."""
        self.exhausted = False

    @property
    def busy(self) -> bool:
        return bool(self.out)

    def step(self, *, look_first: bool = True) -> RoundResult:
        result = RoundResult()
        if facts.expired_copy():
            if not self.out:
                logger.warning("the directory copy has expired: nothing is sent until renewed")
                return result
        else:
            self._fill(result, look_first=look_first)
        if self.out:
            self._settle_first(result)
        return result

    def drain(self) -> RoundResult:
        """Settle what is still out (the worker is stopping)."""
        result = RoundResult()
        while self.out:
            self._settle_first(result)
        return result

    def _fill(self, result: RoundResult, *, look_first: bool) -> None:
        pins: dict[str, str] | None = None
        while len(self.out) < self.in_flight and not self.exhausted:
            messages = claim(self.limit, look_first=look_first and not self.out)
            self.exhausted = len(messages) < self.limit
            if not messages:
                return
            result.claimed += len(messages)
            pins = tls.pins(API_PATH) if pins is None else pins
            by_endpoint: dict[str, list[OutboundMessage]] = {}
            for message in messages:
                by_endpoint.setdefault(message.endpoint, []).append(message)
            for endpoint, batch in by_endpoint.items():
                pin = pins.get(endpoint, "")
                self.out[self.pool.submit(_deliver, self.http, endpoint, batch, pin)] = batch

    def _settle_first(self, result: RoundResult) -> None:
        done, _ = wait(self.out, return_when=FIRST_COMPLETED)
        self.exhausted = False
        for future in done:
            batch = self.out.pop(future)
            try:
                outcome: str | Exception = future.result()
            except (httpx.HTTPError, ValueError) as exc:
                outcome = exc
            _conclude(batch, outcome, result)


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


def next_due_in() -> float | None:
    """Seconds until the next queued outbound message or webhook delivery falls due
    later (a backoff or a lease running out); None when none waits for a later moment.
    What is due already was tried by the round just done."""
    from django.db.models import Min

    from lienthong.exchange.models import WebhookDelivery

    now = timezone.now()
    moments = [
        model.objects.filter(state=model.State.QUEUED, next_attempt_at__gt=now).aggregate(
            at=Min("next_attempt_at")
        )["at"]
        for model in (OutboundMessage, WebhookDelivery)
    ]
    known = [m for m in moments if m is not None]
    if not known:
        return None
    return max(0.0, (min(known) - now).total_seconds())


def run(
    *,
    once: bool = False,
    idle_seconds: float = 1.0,
    stop=None,
    fallback_seconds: float | None = None,
) -> None:
    """The worker loop: rounds back to back while there is work; when idle, a wait
    for a wake-up (wake.py), the next known due moment or the fallback; the
    directory snapshot pulled every DIRECTORY_POLL_SECONDS (on a following node),
    received envelopes handed to the apps that act on them when some arrived (or
    at the fallback), and the message log's head timestamped every
    EXCHANGE_LOG_TIMESTAMP_SECONDS. Without a wake-up channel, idle rounds are
    ``idle_seconds`` apart, as before.

    A round does only what its wake-up calls for: an outbound signal (or the
    pipeline still busy) claims and posts, an inbound one delivers webhooks and
    hands received envelopes to the consumers; a timeout (a due moment, the
    fallback) looks at everything. The moment of the next due retry is read again
    only after a round that may have moved it, not before every wait. A receiving
    node's worker, woken for every arriving request, otherwise spent more on the
    queries of the other parts (claims, webhook claims, due moments) than on
    applying what arrived."""
    fallback = (
        settings.EXCHANGE_WAKE_FALLBACK_SECONDS if fallback_seconds is None else fallback_seconds
    )
    next_stamp = next_pull = next_consume = time.monotonic()
    # What the next round looks at: claims, webhook deliveries, the consumers.
    outbound_pending = hooks_pending = inbound_pending = True
    due_at: float | None = None  # monotonic moment of the next later retry; None: none known
    due_stale = True
    waiter = None if once else wake.Waiter()
    in_flight = max(1, settings.EXCHANGE_IN_FLIGHT)
    busy = False
    try:
        with (
            client() as http,
            webhooks.client() as hooks,
            ThreadPoolExecutor(in_flight, thread_name_prefix="exchange-post") as pool,
        ):
            pipeline = Pipeline(http, pool, in_flight)
            while stop is None or not stop():
                if time.monotonic() >= next_pull:
                    # A node that imports an anchor later is noticed within the fallback.
                    following = DirectoryAnchor.objects.exists()
                    next_pull = time.monotonic() + (
                        settings.DIRECTORY_POLL_SECONDS if following else fallback
                    )
                    if following:
                        try:
                            snapshots.pull(actor="worker", http=http)
                        except snapshots.SnapshotRefused as refused:
                            logger.warning("directory snapshot not applied", code=refused.code,
                                           detail=refused.detail)  # fmt: skip
                if once or outbound_pending or busy:
                    if outbound_pending:
                        pipeline.more()
                    outbound_pending = False
                    outcome = deliver_due(http) if once else pipeline.step(look_first=not busy)
                    busy = outcome.claimed > 0 or pipeline.busy
                    due_stale = True
                posted = 0
                if once or hooks_pending:
                    # Webhook deliveries are queued with what was received.
                    posted = webhooks.deliver_due(hooks)
                    # Fewer than a batch: nothing more was due.
                    hooks_pending = posted >= settings.EXCHANGE_BATCH_SIZE
                    due_stale = due_stale or posted > 0
                applied = 0
                if inbound_pending or time.monotonic() >= next_consume:
                    # The consumers' query only when something was received (or at the
                    # fallback): not on every round.
                    next_consume = time.monotonic() + fallback
                    applied = consume_inbound()
                inbound_pending = applied > 0  # perhaps more behind them
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
                if busy or hooks_pending or inbound_pending:
                    if waiter.available:
                        # Signals that came meanwhile (no wait: a select that returns).
                        heard = waiter.wait(0)
                        outbound_pending = outbound_pending or wake.OUTBOUND in heard
                        if wake.INBOUND in heard:
                            hooks_pending = inbound_pending = True
                    continue
                if not waiter.available:
                    time.sleep(idle_seconds)
                    outbound_pending = hooks_pending = inbound_pending = True
                    continue
                now = time.monotonic()
                if due_stale:
                    due = next_due_in()
                    due_at = None if due is None else now + due + 0.01
                    due_stale = False
                moments = [fallback, next_consume - now]
                if due_at is not None:
                    moments.append(due_at - now)
                moments.append(next_pull - now)
                if settings.TSA_URL:
                    moments.append(next_stamp - now)
                if stop is not None and stop():
                    return
                heard = waiter.wait(min(moments))
                if heard:
                    outbound_pending = wake.OUTBOUND in heard
                    hooks_pending = inbound_pending = wake.INBOUND in heard
                else:  # a due moment, the fallback or a stop: look at everything
                    outbound_pending = hooks_pending = inbound_pending = due_stale = True
            pipeline.drain()  # stopping: settle what is still out
    finally:
        if waiter is not None:
            waiter.close()


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
        if count:
            wake.signal(wake.OUTBOUND)
    return count
