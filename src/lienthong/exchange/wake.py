"""Waking the delivery worker when there is work, so that an idle one costs nothing.

The worker (``delivery.run``) used to poll the database several times a second
when idle. Instead it now waits until one of these comes first:

- a **wake-up**: the process that queues an outbound envelope (``services.send``,
  ``delivery.replay``) or stores inbound ones (``services.receive_batch``) signals
  it once its transaction has committed (``transaction.on_commit``);
- the next moment it already knows something is due (a retry's backoff or a
  lease running out, a webhook retry, the directory pull, the log timestamp);
- the fallback (``EXCHANGE_WAKE_FALLBACK_SECONDS``, 5 s by default), for a change
  made without a signal (a row edited by hand, another program's write).

The signal is on PostgreSQL ``NOTIFY lienthong_exchange`` (the worker
``LISTEN``s on a connection of its own; every worker of the database hears it),
and on SQLite a loopback UDP datagram: the worker binds ``127.0.0.1`` on a port
of the system's choice and writes the port to ``<data folder>/exchange-worker.port``;
a sender reads that file and sends one datagram. Either way the payload says
what happened — ``o`` outbound queued, ``i`` inbound stored — so that the worker
hands received envelopes to their consumers only when some arrived. A lost
signal (no worker running, a full socket buffer, a datagram to a port another
program took since) costs at most the fallback, never a message: the outbox and
the inbox are the truth, the signal only says "look now".
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
from pathlib import Path

import structlog
from django.conf import settings
from django.db import connection, transaction

CHANNEL = "lienthong_exchange"
OUTBOUND, INBOUND = "o", "i"
PORT_FILE = "exchange-worker.port"

logger = structlog.get_logger(__name__)


def _port_path() -> Path:
    return Path(settings.DATA_DIR) / PORT_FILE


def _is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def _send(kind: str) -> None:
    """Signal the worker now (after the commit): NOTIFY, or a datagram to its port."""
    try:
        if _is_postgresql():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, kind])
            return
        port = int(_port_path().read_text().strip() or 0)
        if not 0 < port < 65536:
            return
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(kind.encode(), ("127.0.0.1", port))
    except (OSError, ValueError):
        pass  # no worker listening, or it moved: the fallback poll finds the work
    except Exception as exc:  # a signal must never fail what was already committed
        logger.warning("worker not woken", error=str(exc))


def _outbound() -> None:
    _send(OUTBOUND)


def _inbound() -> None:
    _send(INBOUND)


def signal(kind: str) -> None:
    """Wake the worker once the current transaction commits (at once outside one).

    Within one transaction the worker is signalled once per kind, however many
    envelopes it queued or stored."""
    callback = _inbound if kind == INBOUND else _outbound
    if connection.in_atomic_block and any(
        entry[1] is callback for entry in connection.run_on_commit
    ):
        return
    transaction.on_commit(callback)


def own_connection():
    """A PostgreSQL connection of its own (autocommit) to Django's database: a NOTIFY
    is heard, or delivered, outside any transaction of Django's connection."""
    import psycopg

    params = connection.get_connection_params()
    for name in ("cursor_factory", "context", "prepare_threshold", "pool"):
        params.pop(name, None)
    return psycopg.connect(**params, autocommit=True)


_current: Waiter | None = None


def interrupt() -> None:
    """End the current wait at once (from a signal handler: the worker is stopping)."""
    waiter = _current
    if waiter is not None:
        with contextlib.suppress(OSError):
            os.write(waiter._pipe[1], b"x")


class Waiter:
    """The worker's side: wait for a signal, at most ``timeout`` seconds; which kinds came.

    ``Waiter()`` opens the channel (LISTEN on PostgreSQL, the UDP socket and its
    port file on SQLite); ``close()`` ends it. If the channel cannot be opened the
    waiter still waits — it simply is never woken early (``available`` is False).
    ``interrupt()`` ends a wait from a signal handler (a self-pipe)."""

    def __init__(self) -> None:
        global _current
        self.available = False
        self._sock: socket.socket | None = None
        self._pg = None
        self._heard: set[str] = set()
        self._port_path: Path | None = None
        self._pipe = os.pipe()
        os.set_blocking(self._pipe[0], False)
        os.set_blocking(self._pipe[1], False)
        try:
            if _is_postgresql():
                self._listen_postgresql()
            else:
                self._listen_udp()
            self.available = True
        except Exception:  # waking is an optimisation; polling still works
            self._close_channel()
        _current = self

    def _listen_postgresql(self) -> None:
        self._pg = own_connection()
        self._pg.add_notify_handler(lambda notice: self._heard.add(notice.payload[:1]))
        self._pg.execute(f"LISTEN {CHANNEL}")

    def _listen_udp(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        self._sock = sock
        path = _port_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_text(f"{sock.getsockname()[1]}\n")
        partial.replace(path)  # atomic: a sender never reads half a port
        self._port_path = path

    def wait(self, timeout: float) -> set[str]:
        """Block until a signal or ``timeout``; the kinds received (empty on timeout)."""
        watched = [self._pipe[0]]
        if self._sock is not None:
            watched.append(self._sock)
        if self._pg is not None:
            watched.append(self._pg.fileno())
        ready, _, _ = select.select(watched, [], [], max(0.0, timeout))
        if self._pipe[0] in ready:
            with contextlib.suppress(OSError):
                os.read(self._pipe[0], 64)
        kinds: set[str] = set()
        if self._sock is not None and self._sock in ready:
            kinds |= self._drain_udp()
        if self._pg is not None and (self._pg.fileno() in ready or self._heard):
            try:
                self._pg.execute("SELECT 1")  # reads what arrived; the handler collects it
            except Exception:  # a lost connection: poll from now on
                self._close_channel()
                self.available = False
                return {OUTBOUND, INBOUND}
            kinds |= self._heard
            self._heard = set()
        return kinds

    def _drain_udp(self) -> set[str]:
        kinds: set[str] = set()
        while True:
            try:
                data = self._sock.recv(64)
            except (BlockingIOError, InterruptedError):
                return kinds
            kinds.add(data.decode("ascii", "replace")[:1])

    def _close_channel(self) -> None:
        if self._sock is not None:
            port = self._sock.getsockname()[1]
            self._sock.close()
            self._sock = None
            if self._port_path is not None:
                with contextlib.suppress(OSError, ValueError):
                    if int(self._port_path.read_text().strip()) == port:
                        self._port_path.unlink()
        if self._pg is not None:
            with contextlib.suppress(Exception):
                self._pg.close()
            self._pg = None

    def close(self) -> None:
        global _current
        self._close_channel()
        if _current is self:
            _current = None
        for end in self._pipe:
            with contextlib.suppress(OSError):
                os.close(end)
