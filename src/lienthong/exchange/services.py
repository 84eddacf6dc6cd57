"""Sending and receiving envelopes: the outbox, the receiver's checks, signed receipts.

Sending (``send``) signs the envelope with the sender agency's key and queues
it in the caller's transaction — the business change and its message commit
together or not at all (transactional outbox); ``delivery.py`` carries it.

Receiving (``receive_batch``) checks each signed envelope of a batch, in this
order, and refuses it with the first reason that applies:

==========================  ==================================================
``malformed``               not a compact JWS of an envelope (envelope.py)
``signature_invalid``       the signature or canonical JSON does not verify
``untrusted_chain``         no path to an enabled root of either hierarchy
``certificate_revoked``     the signer's (or a CA's) certificate is revoked
``revocation_unknown``      the revocation status could not be obtained
``signature_indeterminate`` any other reason the signature is not TOTAL-PASSED
``unknown_sender``          the sender agency is not in the directory (active)
``sender_mismatch``         the certificate is not the sender agency's
``unknown_recipient``       the recipient agency is not hosted by this node
``clock_skew``              created more than the allowed skew in the future
``expired``                 created longer ago than the replay window
``forbidden``               no access right lets the sender send that type
``attachment_missing``      a file the envelope names is not in the store yet
==========================  ==================================================

Before all of these: a node that follows a directory authority and whose copy
of the directory has expired refuses every envelope (``directory_expired``)
and sends nothing (directory/snapshots.py).

A batch gets one receipt, signed by the receiver, that names every envelope
(id and SHA-256 of the signed envelope) with its status and, for a refusal,
the reason code. Accepted envelopes are stored once (the id is unique): the
same envelope again is "accepted" again and not stored twice, so a sender
that retries after a lost answer changes nothing (exactly-once in effect).
The accepted envelopes, their log records and the receipt's log record are
written in one transaction (log.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from lienthong.directory.models import Agency
from lienthong.exchange import attachments as attachments_store
from lienthong.exchange import envelope as envelopes
from lienthong.exchange import facts, inserts, log, wake, webhooks
from lienthong.exchange.models import InboundMessage, LogRecord, OutboundMessage, Receipt
from lienthong.node import this_node
from lienthong.trust import signing
from lienthong.trust.models import SigningKey
from lienthong.trust.validation.jws import verify_jws
from lienthong.trust.validation.report import Indication

RECEIPT_TYPE = "exchange.receipt"
API_PATH = "/api/v1/exchange/envelopes"
FILES_PATH = "/api/v1/exchange/files/"

REFUSALS = {
    "malformed": (
        "Phong bì không đúng định dạng",
        "The envelope is not well-formed",
    ),
    "signature_invalid": ("Chữ ký số không hợp lệ", "The signature is not valid"),
    "untrusted_chain": (
        "Chứng thư số không dẫn tới gốc tin cậy nào",
        "The certificate does not lead to a trusted root",
    ),
    "certificate_revoked": ("Chứng thư số đã bị thu hồi", "The certificate is revoked"),
    "revocation_unknown": (
        "Chưa xác định được tình trạng thu hồi của chứng thư số",
        "The revocation status of the certificate is unknown",
    ),
    "signature_indeterminate": (
        "Không xác định được tính hợp lệ của chữ ký số",
        "The validity of the signature could not be established",
    ),
    "unknown_sender": (
        "Cơ quan gửi không có trong danh bạ",
        "The sending agency is not in the directory",
    ),
    "sender_mismatch": (
        "Chứng thư số không phải của cơ quan gửi",
        "The certificate does not belong to the sending agency",
    ),
    "unknown_recipient": (
        "Cơ quan nhận không thuộc nút này",
        "The receiving agency is not hosted by this node",
    ),
    "clock_skew": (
        "Thời điểm tạo phong bì lệch quá xa so với đồng hồ của nút nhận",
        "The envelope's creation time is too far ahead of the receiver's clock",
    ),
    "expired": (
        "Phong bì đã quá hạn tiếp nhận",
        "The envelope is older than the receiver accepts",
    ),
    "forbidden": (
        "Cơ quan gửi không có quyền gửi loại thông điệp này",
        "The sending agency may not send this type of message",
    ),
    "out_of_order": (
        "Một phong bì trước của cùng hồ sơ trong lô này bị từ chối; hãy gửi lại theo thứ tự",
        "An earlier envelope of the same dossier in this batch was refused; send again in order",
    ),
    "directory_expired": (
        "Bản danh bạ của nút nhận đã hết hạn; nút tạm ngừng trao đổi cho đến khi cập nhật",
        "The receiving node's copy of the directory has expired; it exchanges nothing until renewed",
    ),
}
_SUB_INDICATION_REFUSALS = {
    "HASH_FAILURE": "signature_invalid",
    "SIG_CRYPTO_FAILURE": "signature_invalid",
    "FORMAT_FAILURE": "signature_invalid",
    "NO_CERTIFICATE_CHAIN_FOUND": "untrusted_chain",
    "CERTIFICATE_CHAIN_GENERAL_FAILURE": "untrusted_chain",
    "REVOKED": "certificate_revoked",
    "REVOKED_NO_POE": "certificate_revoked",
    "REVOKED_CA_NO_POE": "certificate_revoked",
    "TRY_LATER": "revocation_unknown",
}


class ExchangeRefused(Exception):
    """The sender's own side cannot send (no key, unknown recipient, …)."""

    def __init__(self, code: str, message_vi: str, message_en: str):
        self.code, self.message_vi, self.message_en = code, message_vi, message_en
        super().__init__(message_en)


# --- Sending -----------------------------------------------------------------------------


def agency_key(agency_identifier: str) -> SigningKey:
    """The enabled key the node holds for an agency (the newest), to sign its envelopes."""
    key = facts.signing_key(agency_identifier)
    if key is None:
        raise ExchangeRefused(
            "no_signing_key",
            f"Nút không giữ khóa ký nào đang dùng được của cơ quan {agency_identifier}.",
            f"The node holds no enabled signing key of agency {agency_identifier}.",
        )
    return key


# Refusals of a key that facts.signing_key still offered: it was disabled, or its
# certificate expired, since. Asked again once, fresh.
_UNUSABLE_KEY = {"key_disabled", "key_expired", "key_not_yet_valid"}


def sign_for(agency_identifier: str, payload: dict[str, Any], *, actor: Any) -> str:
    """``payload`` signed with the agency's key (a JWS, not audited: the message log
    records it). A key found unusable (disabled in this process since the facts
    kept it, say) makes the facts forgotten and the agency's key asked again, once;
    ExchangeRefused (``no_signing_key``) if the node then has no key that signs."""
    for fresh in (False, True):
        key = agency_key(agency_identifier)
        try:
            return signing.sign_jws(
                actor=actor, key=key, payload=payload, source="exchange", audit=False
            )
        except signing.SigningRefused as refused:
            if refused.code not in _UNUSABLE_KEY:
                raise
            if fresh:
                raise ExchangeRefused(
                    "no_signing_key", refused.message_vi, refused.message_en
                ) from refused
            facts.forget()
    raise AssertionError("unreachable")


def receiving_node(agency_identifier: str) -> Any:
    """The node the directory places an active agency on, if it lists an address for it."""
    agency = facts.agency(agency_identifier)
    node = agency.node if agency is not None else None
    return node if node is not None and node.exchange_endpoint else None


def endpoint_for(recipient: envelopes.Member) -> str:
    """Where the recipient agency's node receives envelopes (from the directory)."""
    node = receiving_node(recipient.agency)
    if node is None:
        raise ExchangeRefused(
            "unknown_recipient",
            f"Danh bạ không có nút nhận của cơ quan {recipient.agency}.",
            f"The directory lists no receiving node for agency {recipient.agency}.",
        )
    return node.exchange_endpoint + API_PATH


def send(
    *,
    actor: Any,
    type: str,
    sender: str,
    recipient: str,
    correlation_id: str,
    payload: dict[str, Any],
    attachments: list[dict[str, Any]] | None = None,
) -> OutboundMessage:
    """Sign an envelope and queue it, in the caller's transaction (the outbox)."""
    if facts.expired_copy():
        raise ExchangeRefused(
            "directory_expired",
            "Bản danh bạ của nút đã hết hạn: hãy cập nhật (lienthong directory pull).",
            "This node's copy of the directory has expired: renew it (lienthong directory pull).",
        )
    built = envelopes.new(
        type=type,
        sender=sender,
        recipient=recipient,
        correlation_id=correlation_id,
        payload=payload,
        attachments=attachments,
    )
    absent = attachments_store.missing(built.attachments)
    if absent:
        raise ExchangeRefused(
            "attachment_missing",
            f"Nút chưa lưu tệp đính kèm {absent[0]}: hãy tải tệp lên trước.",
            f"The node does not hold the attachment {absent[0]}: upload the file first.",
        )
    endpoint = endpoint_for(built.recipient)
    token = sign_for(built.sender.agency, built.as_dict(), actor=actor)
    # No savepoint: inside the caller's transaction, a failure here must fail the
    # whole of it (the business change and its message commit together or not at all).
    with transaction.atomic(savepoint=False):
        (message,) = inserts.insert(
            [
                OutboundMessage(
                    envelope_id=built.id,
                    type=built.type,
                    sender=str(built.sender),
                    recipient=str(built.recipient),
                    correlation_id=built.correlation_id,
                    created_at=built.created_at,
                    token=token,
                    token_sha256=_sha256(token),
                    endpoint=endpoint,
                    next_attempt_at=timezone.now(),
                    attachment_digests=attachments_store.digests(built.attachments),
                )
            ]
        )
        log.append(
            kind=LogRecord.Kind.ENVELOPE_SENT,
            envelope_id=built.id,
            correlation_id=built.correlation_id,
            content=token,
        )
        wake.signal(wake.OUTBOUND)
    return message


# --- Receiving ---------------------------------------------------------------------------


@dataclass
class Entry:
    """One envelope's fate, as the batch receipt states it."""

    envelope_id: str | None
    envelope_sha256: str
    accepted: bool
    code: str | None = None
    duplicate: bool = False

    def as_dict(self) -> dict[str, Any]:
        entry = {
            "envelope_id": self.envelope_id,
            "envelope_sha256": self.envelope_sha256,
            "status": "accepted" if self.accepted else "refused",
            "reason": self.code,
        }
        if self.code:
            entry["message_vi"], entry["message_en"] = REFUSALS[self.code]
        return entry


@dataclass
class BatchOutcome:
    entries: list[Entry]
    receipt: str


@dataclass
class Outcome:
    """One envelope received alone (``receive``): its entry and the receipt."""

    envelope_id: str | None
    accepted: bool
    receipt: str
    code: str | None = None
    duplicate: bool = False


class _Refusal(Exception):
    def __init__(self, code: str, detail: str = ""):
        self.code, self.detail = code, detail


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _payload(token: str) -> Any:
    try:
        return envelopes.unverified_payload(token)
    except ValueError as exc:
        raise _Refusal("malformed", str(exc)) from exc


def _claims(token: Any) -> tuple[Any, str | None, tuple[Any, Any] | None]:
    """What a token claims before any check, decoded once: the payload (None if
    unreadable), the envelope id (to find duplicates) and the dossier line
    (correlation id, recipient) that orders it."""
    if not isinstance(token, str):
        return None, None, None
    try:
        claimed = _payload(token)
    except _Refusal:
        return None, None, None
    if not isinstance(claimed, dict):
        return claimed, None, None
    envelope_id = claimed.get("id")
    if not (isinstance(envelope_id, str) and len(envelope_id) == 36):
        envelope_id = None
    return claimed, envelope_id, (str(claimed.get("correlation_id")), str(claimed.get("recipient")))


def _peek_id(token: Any) -> str | None:
    """The envelope id a token claims (unverified), to find duplicates; None if none."""
    return _claims(token)[1]


class _Directory:
    """What a message asks of the directory and the access rights (facts.py)."""

    def __init__(self):
        self.hosted = facts.hosted()

    def sender(self, identifier: str) -> Agency | None:
        return facts.agency(identifier)

    def allowed(self, sender: Agency, recipient: Agency, message_type: str) -> bool:
        return facts.allowed(sender, recipient, message_type)


def _check(
    token: Any, claimed: Any, now: dt.datetime, directory: _Directory
) -> tuple[envelopes.Envelope, Agency]:
    """The receiver's checks, in the documented order; the recipient agency if all pass.

    ``claimed`` is the token's payload as decoded (unverified) by ``_claims``."""
    if not isinstance(token, str) or len(token) > settings.EXCHANGE_MAX_ENVELOPE_BYTES:
        raise _Refusal("malformed", "too large or not text")
    try:
        parsed = envelopes.parse(claimed if claimed is not None else _payload(token))
    except envelopes.EnvelopeError as exc:
        raise _Refusal("malformed", str(exc)) from exc
    sender, recipient = authenticate(
        token, sender=parsed.sender.agency, recipient=parsed.recipient.agency, directory=directory
    )
    skew = dt.timedelta(seconds=settings.EXCHANGE_MAX_CLOCK_SKEW)
    if parsed.created_at > now + skew:
        raise _Refusal("clock_skew", envelopes.format_time(parsed.created_at))
    if parsed.created_at < now - dt.timedelta(seconds=settings.EXCHANGE_REPLAY_WINDOW):
        raise _Refusal("expired", envelopes.format_time(parsed.created_at))
    if not directory.allowed(sender, recipient, parsed.type):
        raise _Refusal("forbidden", f"{parsed.sender.agency} → {parsed.type}")
    absent = attachments_store.missing(parsed.attachments)
    if absent:
        raise _Refusal("attachment_missing", absent[0])
    return parsed, recipient


def authenticate(
    token: str, *, sender: str, recipient: str, directory: _Directory
) -> tuple[Agency, Agency]:
    """The first checks of every signed message (envelope or query), in this order:
    signature, chain and revocation; the sending agency in the directory and the
    signer's; the receiving agency hosted here. Both agencies, or ``_Refusal``."""
    result = verify_jws(token)
    if result.indication != Indication.TOTAL_PASSED:
        code = _SUB_INDICATION_REFUSALS.get(result.sub_indication or "", "signature_indeterminate")
        raise _Refusal(code, f"{result.indication}/{result.sub_indication}")
    sending = directory.sender(sender)
    if sending is None:
        raise _Refusal("unknown_sender", sender)
    if result.signer is None or sender not in result.signer.identifiers:
        raise _Refusal("sender_mismatch", result.signer.subject if result.signer else "")
    receiving = directory.hosted.get(recipient)
    if receiving is None:
        raise _Refusal("unknown_recipient", recipient)
    return sending, receiving


def sign_as_node(body: dict[str, Any], *, preferred: list[str], what_vi: str, what_en: str) -> str:
    """``body`` signed by the first of ``preferred`` the node holds a key for, else by the
    first agency it hosts that has one (receipts, query answers)."""
    for identifier in [*preferred, *facts.hosted()]:
        try:
            return sign_for(identifier, body, actor="exchange")
        except ExchangeRefused:
            continue
    raise ExchangeRefused(
        "no_signing_key",
        f"Nút không giữ khóa ký nào để ký {what_vi}.",
        f"The node holds no signing key to sign {what_en} with.",
    )


def _sign_receipt(
    entries: list[Entry], *, now: dt.datetime, signers: list[str], directory: _Directory
) -> str:
    """The batch receipt, signed by a recipient agency of the batch (or, when none
    was accepted, by the first agency this node hosts that has a key)."""
    body = {
        "type": RECEIPT_TYPE,
        "receiver": this_node().identifier,
        "received_at": envelopes.format_time(now),
        "entries": [entry.as_dict() for entry in entries],
    }
    return sign_as_node(body, preferred=signers, what_vi="biên nhận", what_en="receipts")


def receive_batch(tokens: list[Any]) -> BatchOutcome:
    """Judge every envelope of a batch; store the accepted ones and the log records in
    one transaction; answer with one receipt, signed, naming each envelope's fate.

    An envelope already stored (the same bytes) is "accepted" again and stored
    no second time; another envelope under a stored id is refused as "replayed".
    Which ids are stored is asked only when it matters: for an envelope that
    fails a check (a duplicate is accepted whatever the checks now say), and
    when storing finds an id taken (then the batch is judged again, every id
    looked up first). The common batch, all new and all accepted, asks nothing.
    """
    for attempt in range(4):
        try:
            return _receive_batch(tokens, look_up=attempt > 0)
        except IntegrityError:
            # Some of these ids are stored (a retry after a lost answer, or a concurrent
            # request between our look-up and our insert): judge the batch again
            # against what is stored now.
            if attempt == 3:
                raise
    raise AssertionError("unreachable")


_STORE_RECEIPT = """
INSERT INTO {table} ({token}, {sha256}, {stored_at}) VALUES (%s, %s, %s)
ON CONFLICT ({sha256}) DO UPDATE SET {sha256} = excluded.{sha256}
RETURNING {id}
"""


def store_receipt(token: str, now: dt.datetime) -> Receipt:
    """The receipt's row: inserted, or the one already stored under its SHA-256 (a node
    that both gave and got it), in one statement either way (an upsert: PostgreSQL,
    SQLite 3.35+). The instance returned is to point messages to the row (its
    ``stored_at`` is ``now`` even if the row was stored earlier)."""
    connection = transaction.get_connection()
    quote = connection.ops.quote_name
    sql = _STORE_RECEIPT.format(
        table=quote(Receipt._meta.db_table),
        **{name: quote(name) for name in ("token", "sha256", "stored_at", "id")},
    )
    digest = _sha256(token)
    with connection.cursor() as cursor:
        cursor.execute(sql, [token, digest, connection.ops.adapt_datetimefield_value(now)])
        (pk,) = cursor.fetchone()
    return Receipt(pk=pk, token=token, sha256=digest, stored_at=now)


def _stored(envelope_ids: list[str]) -> dict[str, str]:
    """{envelope id: SHA-256 of the stored envelope} of those ids already received."""
    if not envelope_ids:
        return {}
    return dict(
        InboundMessage.objects.filter(envelope_id__in=envelope_ids).values_list(
            "envelope_id", "token_sha256"
        )
    )


def _receive_batch(tokens: list[Any], *, look_up: bool) -> BatchOutcome:
    now = timezone.now()
    directory = _Directory()
    if facts.expired_copy(now):
        # Routing and authorisation would rest on stale facts: refuse everything, for now.
        entries = [
            Entry(_peek_id(t), _sha256(t) if isinstance(t, str) else "", False, "directory_expired")
            for t in tokens
        ]
        receipt = _sign_receipt(entries, now=now, signers=[], directory=directory)
        with transaction.atomic():
            log.append(kind=LogRecord.Kind.RECEIPT_SENT, envelope_id="", correlation_id="",
                       content=receipt)  # fmt: skip
        return BatchOutcome(entries, receipt)
    claims = [_claims(token) for token in tokens]
    ids = [c[1] for c in claims if c[1]]
    known = _stored(ids) if look_up else {}
    # The checks of every envelope not known to be stored (pure: no database but the
    # directory facts), then, if one failed, which of these ids are stored after all.
    checked: list[tuple[envelopes.Envelope, Agency] | _Refusal | None] = []
    for token, (claimed, envelope_id, _) in zip(tokens, claims, strict=True):
        if envelope_id in known:
            checked.append(None)
            continue
        try:
            checked.append(_check(token, claimed, now, directory))
        except _Refusal as refusal:
            checked.append(refusal)
    if not look_up and any(isinstance(c, _Refusal) for c in checked):
        known = _stored(ids)
    entries: list[Entry] = []
    accepted: list[tuple[envelopes.Envelope, str, str]] = []
    signers: list[str] = []
    # Order per dossier: once an envelope of a dossier is refused, the later ones of
    # that dossier in this batch are refused too ("out_of_order", to be sent again).
    stopped: set[tuple[Any, Any]] = set()
    for token, (_, envelope_id, line), outcome in zip(tokens, claims, checked, strict=True):
        digest = _sha256(token) if isinstance(token, str) else ""
        if line is not None and line in stopped:
            entries.append(Entry(envelope_id, digest, False, "out_of_order"))
            continue
        if envelope_id in known:
            same = known[envelope_id] == digest
            entries.append(
                Entry(envelope_id, digest, same, None if same else "replayed", duplicate=same)
            )
            if not same and line is not None:
                stopped.add(line)
            continue
        if isinstance(outcome, _Refusal):
            entries.append(Entry(envelope_id, digest, False, outcome.code))
            if line is not None:
                stopped.add(line)
            continue
        parsed, recipient = outcome
        known[parsed.id] = digest  # the same id again in this batch: a duplicate of this one
        accepted.append((parsed, token, digest))
        entries.append(Entry(parsed.id, digest, True))
        if recipient.identifier not in signers:
            signers.append(recipient.identifier)
    receipt = _sign_receipt(entries, now=now, signers=signers, directory=directory)
    with transaction.atomic():
        stored = []
        if accepted:
            row = store_receipt(receipt, now)
            stored = inserts.insert(
                [
                    InboundMessage(
                        envelope_id=parsed.id,
                        type=parsed.type,
                        sender=str(parsed.sender),
                        recipient=str(parsed.recipient),
                        correlation_id=parsed.correlation_id,
                        created_at=parsed.created_at,
                        received_at=now,
                        token=token,
                        token_sha256=digest,
                        payload=parsed.payload,
                        receipt=row,
                        attachment_digests=attachments_store.digests(parsed.attachments),
                    )
                    for parsed, token, digest in accepted
                ]
            )
            webhooks.queue_for(stored)
        log.append_many(
            [
                (LogRecord.Kind.ENVELOPE_RECEIVED, parsed.id, parsed.correlation_id, token)
                for parsed, token, _ in accepted
            ]
            + [(LogRecord.Kind.RECEIPT_SENT, "", "", receipt)]
        )
        if stored:
            wake.signal(wake.INBOUND)
    return BatchOutcome(entries, receipt)


def receive(token: Any) -> Outcome:
    """One envelope alone: a batch of one."""
    outcome = receive_batch([token])
    entry = outcome.entries[0]
    return Outcome(entry.envelope_id, entry.accepted, outcome.receipt, entry.code, entry.duplicate)


REFUSALS["attachment_missing"] = (
    "Nút nhận chưa có tệp đính kèm mà phong bì nêu; nút gửi sẽ chuyển tệp rồi gửi lại",
    "The receiving node does not hold an attachment the envelope names; the sender "
    "transfers the file and sends again",
)
REFUSALS["replayed"] = (
    "Mã phong bì đã được dùng cho một phong bì khác",
    "The envelope id was already used for another envelope",
)
