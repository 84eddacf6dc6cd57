"""Running one validation in a separate, bounded process.

Signed files come from anyone. A crafted PDF can nest objects deeply, inflate
a small stream into gigabytes, or simply take very long to parse; none of that
may take the node down or hang a request. Each validation therefore runs in a
child process (started from a clean "forkserver", never a fork of a threaded
web worker) with limits on address space and CPU time, and the parent waits
at most ``timeout`` seconds before killing it.

multiprocessing re-imports the program's main module in each child (not for
``python -m package`` entry points such as granian); a main module that sets
up Django at import time would make every validation pay for that start-up.
"""

from __future__ import annotations

import multiprocessing
import resource
import signal
import traceback
from typing import Any

import structlog

logger = structlog.get_logger(__name__)

# Imported once into the forkserver, so that each child starts with them
# loaded instead of paying for the imports on every validation.
_PRELOAD = [
    "lienthong.trust.validation.sandbox",
    "lienthong.trust.validation.engine",
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
_context = None


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


def _child(connection, job: dict[str, Any], memory_bytes: int, cpu_seconds: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    try:
        from lienthong.trust.validation import engine

        connection.send(("ok", engine.run(job)))
    except MemoryError:
        connection.send(("error", "too_much_memory"))
    except RecursionError:
        connection.send(("error", "unreadable"))
    except Exception:  # a bug, not bad input: the parent logs the traceback
        connection.send(("crash", traceback.format_exc()))
    finally:
        connection.close()


def run_bounded(job: dict[str, Any], *, timeout: float, memory_bytes: int) -> dict[str, Any]:
    """Run ``engine.run(job)`` in a child; raise SandboxFailure(code) when it cannot finish."""
    context = _mp()
    receive, send = context.Pipe(duplex=False)
    process = context.Process(
        target=_child, args=(send, job, memory_bytes, int(timeout) + 5), daemon=True
    )
    process.start()
    send.close()
    try:
        if not receive.poll(timeout):
            raise SandboxFailure("too_slow")
        try:
            outcome, value = receive.recv()
        except EOFError as exc:
            # The child died without answering: a limit killed it, or it crashed.
            process.join(timeout=2)
            cpu_limit = process.exitcode in (-signal.SIGXCPU, -signal.SIGKILL)
            raise SandboxFailure("too_slow" if cpu_limit else "unreadable") from exc
        if outcome == "crash":
            logger.error("validation crashed", traceback=value)
            raise SandboxFailure("internal_error")
        if outcome != "ok":
            raise SandboxFailure(value)
        return value
    finally:
        receive.close()
        if process.is_alive():
            process.kill()
        process.join(timeout=5)
