"""Sending SMS through a pluggable gateway.

A gateway is a subclass of ``SmsGateway`` implementing ``send``; the node
uses the one named by ``IDENTITY_SMS_BACKEND`` (a short name below, or a
dotted path to a class). docs/identity.md shows how to add one for a
provider's HTTP API. The demo backends never leave the machine:

- ``console``: writes the message to the log;
- ``file``: appends one JSON line per message to ``<data dir>/sms/outbox.jsonl``;
- ``memory``: keeps messages in ``MemoryGateway.outbox`` (tests).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import structlog
from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SmsMessage:
    phone: str
    text: str


class SmsGateway:
    """Delivers one text message or raises ``SmsNotSent``."""

    def send(self, message: SmsMessage) -> None:
        raise NotImplementedError


class SmsNotSent(Exception):
    """The gateway could not take the message."""


class ConsoleGateway(SmsGateway):
    def send(self, message: SmsMessage) -> None:
        log.info("sms", phone=message.phone, text=message.text)


class FileGateway(SmsGateway):
    _lock = threading.Lock()

    def send(self, message: SmsMessage) -> None:
        folder = settings.DATA_DIR / "sms"
        folder.mkdir(parents=True, exist_ok=True)
        line = json.dumps(
            {"at": timezone.now().isoformat(), "phone": message.phone, "text": message.text},
            ensure_ascii=False,
        )
        with self._lock, (folder / "outbox.jsonl").open("a", encoding="utf-8") as outbox:
            outbox.write(line + "\n")


class MemoryGateway(SmsGateway):
    outbox: list[SmsMessage] = []

    def send(self, message: SmsMessage) -> None:
        MemoryGateway.outbox.append(message)


BACKENDS = {"console": ConsoleGateway, "file": FileGateway, "memory": MemoryGateway}


def gateway() -> SmsGateway:
    name = settings.IDENTITY_SMS_BACKEND
    cls = BACKENDS.get(name) or import_string(name)
    return cls()


def send(*, phone: str, text: str) -> None:
    gateway().send(SmsMessage(phone=phone, text=text))
