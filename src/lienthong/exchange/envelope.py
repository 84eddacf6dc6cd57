"""The exchange envelope: what one agency sends another, signed.

An envelope is a JSON object::

    {
      "id": "0193a7b2-5c1e-7d4a-8f00-3b1c2d4e5f60",        # UUIDv7
      "type": "dossier.status",                             # what it is
      "sender": "VN:GOV:000.00.00.G12:dossiers",            # member:subsystem
      "recipient": "VN:GOV:000.00.00.G22:dossiers",
      "correlation_id": "000.00.00.G12-261128-0001",        # the dossier code
      "created_at": "2026-11-28T20:30:00.123Z",             # UTC, milliseconds
      "payload": {...},                                     # a JSON object
      "attachments": [{"sha256": "…", "size": 123, "media_type": "application/pdf",
                       "name": "giay-khai-sinh.pdf"}]
    }

signed whole as a compact JWS over its RFC 8785 canonical JSON by the sender
agency's key, with the certificate chain in ``x5c`` (trust/signing.py
``sign_jws``). Identities follow X-Road and Vietnam's data-exchange platform:
``VN:GOV:{agency electronic identifier}:{subsystem}``.

``parse`` is strict: unknown members, wrong types, malformed identifiers,
non-UTC or unparseable times are refused with a stable code (``EnvelopeError``),
so a receiver stores nothing it would have to interpret later.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import rfc8785

# Decision 20/2020/QĐ-TTg: dot-separated groups of digits and capital letters, ≤ 35 chars.
AGENCY_CODE = r"[0-9A-Z]+(?:\.[0-9A-Z]+)*"
MEMBER_RE = re.compile(rf"VN:GOV:(?P<agency>{AGENCY_CODE}):(?P<subsystem>[a-z][a-z0-9-]{{0,39}})")
TYPE_RE = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*){1,3}")
CORRELATION_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z._:-]{0,99}")
TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
MEDIA_TYPE_RE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}")
MAX_ATTACHMENTS = 100
MEMBERS = {
    "id",
    "type",
    "sender",
    "recipient",
    "correlation_id",
    "created_at",
    "payload",
    "attachments",
}


class EnvelopeError(ValueError):
    """An envelope that cannot be accepted as written; ``code`` is stable."""

    def __init__(self, code: str, detail: str = ""):
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)


@dataclass(frozen=True)
class Member:
    """An exchange identity: an agency of the directory and one of its subsystems."""

    agency: str
    subsystem: str

    def __str__(self) -> str:
        return f"VN:GOV:{self.agency}:{self.subsystem}"

    @classmethod
    def parse(cls, text: Any, what: str = "member") -> Member:
        if not isinstance(text, str) or (match := MEMBER_RE.fullmatch(text)) is None:
            raise EnvelopeError(f"invalid_{what}", repr(text)[:120])
        if len(match["agency"]) > 35:
            raise EnvelopeError(f"invalid_{what}", "agency identifier longer than 35 characters")
        return cls(match["agency"], match["subsystem"])


@dataclass(frozen=True)
class Attachment:
    sha256: str
    size: int
    media_type: str
    name: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "size": self.size,
            "media_type": self.media_type,
            "name": self.name,
        }


@dataclass(frozen=True)
class Envelope:
    id: str
    type: str
    sender: Member
    recipient: Member
    correlation_id: str
    created_at: dt.datetime
    payload: dict[str, Any]
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "sender": str(self.sender),
            "recipient": str(self.recipient),
            "correlation_id": self.correlation_id,
            "created_at": format_time(self.created_at),
            "payload": self.payload,
            "attachments": [a.as_dict() for a in self.attachments],
        }


def unverified_payload(token: str) -> Any:
    """The decoded JSON payload of a compact JWS, before anything checks its signature
    (to find an id, a type or a dossier); ValueError when it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a compact JWS")
    segment = parts[1]
    try:
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except RecursionError as exc:
        raise ValueError("the payload is nested too deeply") from exc


def format_time(moment: dt.datetime) -> str:
    """UTC, millisecond precision, ``Z``: one spelling per instant."""
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(text: Any) -> dt.datetime:
    if not isinstance(text, str) or TIME_RE.fullmatch(text) is None:
        raise EnvelopeError("invalid_time", repr(text)[:60])
    try:
        return dt.datetime.fromisoformat(text[:-1]).replace(tzinfo=dt.UTC)
    except ValueError as exc:
        raise EnvelopeError("invalid_time", repr(text)[:60]) from exc


# --- UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then randomness; sortable by time ---

_uuid_lock = threading.Lock()
_last = {"ms": 0, "counter": 0}


# A clock that steps back less than this keeps counting from the last id (so ids
# stay increasing); a bigger step is a different time, taken as it is.
_MAX_CLAMP_MS = 10_000


def uuid7(now_ms: int | None = None) -> str:
    """A UUIDv7; ids made in one process are strictly increasing (RFC 9562 § 6.2, method 1:
    a 12-bit counter in rand_a, re-seeded every millisecond)."""
    with _uuid_lock:
        ms = int(time.time() * 1000) if now_ms is None else now_ms
        if _last["ms"] - _MAX_CLAMP_MS <= ms <= _last["ms"]:
            ms, counter = _last["ms"], _last["counter"] + 1
            if counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                ms, counter = ms + 1, 0
        else:
            counter = int.from_bytes(os.urandom(2)) & 0x7FF  # leave room to count up
        _last.update(ms=ms, counter=counter)
    rand_b = int.from_bytes(os.urandom(8)) & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand_b
    return str(uuid.UUID(int=value))


def uuid7_time(text: str) -> dt.datetime:
    value = uuid.UUID(text).int
    return dt.datetime.fromtimestamp((value >> 80) / 1000, dt.UTC)


def _is_uuid7(text: Any) -> bool:
    if not isinstance(text, str) or len(text) != 36:
        return False
    try:
        value = uuid.UUID(text)
    except ValueError:
        return False
    return str(value) == text and value.version == 7 and value.variant == uuid.RFC_4122


def new(
    *,
    type: str,
    sender: str | Member,
    recipient: str | Member,
    correlation_id: str,
    payload: dict[str, Any],
    attachments: list[dict[str, Any]] | None = None,
    now: dt.datetime | None = None,
) -> Envelope:
    """A new envelope with a fresh id and the current time, checked like a received one."""
    moment = now or dt.datetime.now(dt.UTC)
    data = {
        "id": uuid7(int(moment.timestamp() * 1000)),
        "type": type,
        "sender": str(sender),
        "recipient": str(recipient),
        "correlation_id": correlation_id,
        "created_at": format_time(moment),
        "payload": payload,
        "attachments": attachments or [],
    }
    return parse(data)


def parse(data: Any) -> Envelope:
    """An Envelope from decoded JSON, or EnvelopeError naming the first problem."""
    if not isinstance(data, dict):
        raise EnvelopeError("not_an_object")
    missing = MEMBERS - data.keys()
    if missing:
        raise EnvelopeError("missing_member", ", ".join(sorted(missing)))
    unknown = data.keys() - MEMBERS
    if unknown:
        raise EnvelopeError("unknown_member", ", ".join(sorted(map(str, unknown)))[:120])
    if not _is_uuid7(data["id"]):
        raise EnvelopeError("invalid_id", "a UUIDv7 in lower-case hex is expected")
    if not isinstance(data["type"], str) or TYPE_RE.fullmatch(data["type"]) is None:
        raise EnvelopeError("invalid_type", repr(data["type"])[:60])
    sender = Member.parse(data["sender"], "sender")
    recipient = Member.parse(data["recipient"], "recipient")
    correlation = data["correlation_id"]
    if not isinstance(correlation, str) or CORRELATION_RE.fullmatch(correlation) is None:
        raise EnvelopeError("invalid_correlation_id", repr(correlation)[:60])
    created_at = parse_time(data["created_at"])
    if not isinstance(data["payload"], dict):
        raise EnvelopeError("invalid_payload", "the payload is a JSON object")
    try:
        rfc8785.dumps(data["payload"])  # what is signed must have one canonical form
    except (rfc8785.CanonicalizationError, TypeError, ValueError, RecursionError) as exc:
        raise EnvelopeError("invalid_payload", f"no RFC 8785 canonical form: {exc}"[:120]) from exc
    attachments = data["attachments"]
    if not isinstance(attachments, list) or len(attachments) > MAX_ATTACHMENTS:
        raise EnvelopeError("invalid_attachments", f"a list of at most {MAX_ATTACHMENTS}")
    return Envelope(
        id=data["id"],
        type=data["type"],
        sender=sender,
        recipient=recipient,
        correlation_id=correlation,
        created_at=created_at,
        payload=data["payload"],
        attachments=tuple(_attachment(a) for a in attachments),
    )


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, from a "\\udXXX" escape
        return False
    return True


def _attachment(data: Any) -> Attachment:
    if not isinstance(data, dict) or not {"sha256", "size", "media_type"} <= data.keys():
        raise EnvelopeError("invalid_attachments", "sha256, size and media_type are required")
    if data.keys() - {"sha256", "size", "media_type", "name"}:
        raise EnvelopeError("invalid_attachments", "unknown attachment member")
    sha, size, media, name = data["sha256"], data["size"], data["media_type"], data.get("name", "")
    if not isinstance(sha, str) or SHA256_RE.fullmatch(sha) is None:
        raise EnvelopeError("invalid_attachments", "sha256: 64 lower-case hex digits")
    if type(size) is not int or size < 0:
        raise EnvelopeError("invalid_attachments", "size: a non-negative integer")
    if not isinstance(media, str) or MEDIA_TYPE_RE.fullmatch(media) is None:
        raise EnvelopeError("invalid_attachments", "media_type: type/subtype")
    if (
        not isinstance(name, str)
        or len(name) > 255
        or not _is_utf8(name)
        or any(c in name for c in "/\\\0")
    ):
        raise EnvelopeError("invalid_attachments", "name: a file name without a path")
    return Attachment(sha, size, media, name)
