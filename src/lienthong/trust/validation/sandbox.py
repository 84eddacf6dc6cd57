"""Running validations in separate, bounded worker processes.

Signed files come from anyone. A crafted PDF can nest objects deeply, inflate
a small stream into gigabytes, or simply take very long to parse; none of that
may take the node down or hang a request. Validations therefore run in worker
processes started from a clean "forkserver" (never a fork of a threaded web
worker), each with a limit on its address space; the caller waits at most
``timeout`` seconds for an answer and kills the worker that does not give one.

Workers are kept and reused (a pool per memory limit, per process), because
starting a process per document would cost more than most validations. A
worker is retired after ``MAX_JOBS_PER_WORKER`` documents, and at once after a
memory failure, a crash or a timeout, so no damaged state outlives one file.
The CPU is bounded by the wall-clock timeout rather than RLIMIT_CPU, which
counts a worker's whole life, not one document.

multiprocessing re-imports the program's main module in each worker (not for
``python -m package`` entry points such as granian); a main module that sets
up Django at import time would make every worker start slowly.
"""

from __future__ import annotations

import multiprocessing
import queue
import resource
import signal
import threading
import traceback
from typing import Any

import structlog

logger = structlog.get_logger(__name__)

# Imported once into the forkserver, so that each worker starts with them loaded.
_PRELOAD = [
    "lienthong.trust.validation.sandbox",
    "lienthong.trust.validation.engine",
    "lienthong.trust.validation.speedups",
    "lienthong.trust.validation.xades",
    "pyhanko.pdf_utils.reader",
    "pyhanko.sign.diff_analysis",
    "pyhanko.sign.validation.generic_cms",
    "pyhanko.sign.validation.pdf_embedded",
    "pyhanko.sign.validation.settings",
    "pyhanko_certvalidator.fetchers.aiohttp_fetchers",
    "signxml",
    "signxml.xades",
]
MAX_WORKERS = 2
MAX_JOBS_PER_WORKER = 500

_context = None
_pools: dict[int, _Pool] = {}
_pools_lock = threading.Lock()


class SandboxFailure(Exception):
    def __init__(self, code: str):
        self.code = code
        super().__init__(code)


def _mp():
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(_PRELOAD)
    return _context


def _serve(connection, memory_bytes: int) -> None:
    """A worker's life: answer jobs until told to stop or until a failure makes it unsafe."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    from lienthong.trust.validation import engine, speedups

    speedups.install()

    while True:
        try:
            job = connection.recv()
        except (EOFError, OSError):
            return
        try:
            connection.send(("ok", engine.run(job)))
        except MemoryError:
            connection.send(("error", "too_much_memory"))
            return  # allocations failed part-way: do not trust this process again
        except RecursionError:
            connection.send(("error", "unreadable"))
        except Exception:  # a bug, not bad input: the parent logs the traceback
            connection.send(("crash", traceback.format_exc()))
            return


class _Worker:
    def __init__(self, memory_bytes: int):
        context = _mp()
        self.connection, child_end = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(child_end, memory_bytes), daemon=True, name="lienthong-validation"
        )
        self.process.start()
        child_end.close()
        self.jobs = 0

    def usable(self) -> bool:
        return self.process.is_alive() and self.jobs < MAX_JOBS_PER_WORKER

    def retire(self) -> None:
        try:
            self.connection.close()
        finally:
            if self.process.is_alive():
                self.process.kill()
            self.process.join(timeout=5)


class _Pool:
    """Idle workers for one memory limit; at most MAX_WORKERS busy at once."""

    def __init__(self, memory_bytes: int):
        self.memory_bytes = memory_bytes
        self.idle: queue.LifoQueue[_Worker] = queue.LifoQueue()
        self.slots = threading.BoundedSemaphore(MAX_WORKERS)

    def acquire(self) -> _Worker:
        self.slots.acquire()
        while True:
            try:
                worker = self.idle.get_nowait()
            except queue.Empty:
                try:
                    return _Worker(self.memory_bytes)
                except Exception:
                    self.slots.release()
                    raise
            if worker.usable():
                return worker
            worker.retire()

    def release(self, worker: _Worker, *, healthy: bool) -> None:
        try:
            if healthy and worker.usable():
                self.idle.put(worker)
            else:
                worker.retire()
        finally:
            self.slots.release()


def _pool(memory_bytes: int) -> _Pool:
    with _pools_lock:
        if memory_bytes not in _pools:
            _pools[memory_bytes] = _Pool(memory_bytes)
        return _pools[memory_bytes]


def run_bounded(job: dict[str, Any], *, timeout: float, memory_bytes: int) -> dict[str, Any]:
    """Run ``engine.run(job)`` in a worker; raise SandboxFailure(code) when it cannot finish."""
    pool = _pool(memory_bytes)
    worker = pool.acquire()
    healthy = False
    try:
        worker.connection.send(job)
        worker.jobs += 1
        if not worker.connection.poll(timeout):
            raise SandboxFailure("too_slow")
        try:
            outcome, value = worker.connection.recv()
        except EOFError as exc:
            # The worker died without answering: a limit killed it, or it crashed.
            worker.process.join(timeout=2)
            killed = worker.process.exitcode in (-signal.SIGXCPU, -signal.SIGKILL)
            raise SandboxFailure("too_slow" if killed else "unreadable") from exc
        if outcome == "crash":
            logger.error("validation crashed", traceback=value)
            raise SandboxFailure("internal_error")
        if outcome != "ok":
            raise SandboxFailure(value)
        healthy = True
        return value
    finally:
        pool.release(worker, healthy=healthy)
