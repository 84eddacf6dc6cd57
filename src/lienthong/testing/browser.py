"""Browser harness: the app served by a live-server thread, driven by Debian's
Chromium through Playwright, and checked for WCAG 2.1 AA with axe-core.

A browser test asks for ``page`` (or ``new_page`` for a context with other
options, such as JavaScript turned off), opens paths relative to the server —
``page.goto("/directory/")`` — and may call ``assert_accessible(page)``. Mark it
``@pytest.mark.browser``.

Each test runs with pytest-django's ``db``: that both gets the test database
created and lets the server thread through pytest-django's database block.
The server thread has its own connection, so it sees the committed national
directory imported at session start, but not rows the test writes in its
``db`` transaction; on SQLite that open transaction also holds the write lock,
so a page that writes would wait on it. Browser tests so far only read the
reference data.

Without Chromium or ``npm ci`` the tests are skipped, except in CI (``CI`` set),
where a skipped accessibility check would pass silently, so they fail.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "assert_accessible",
    "browser",
    "browser_server",
    "new_page",
    "page",
]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# src/lienthong/testing/browser.py -> the repository root, where `npm ci` installs.
REPOSITORY_ROOT = Path(__file__).resolve().parents[3]
AXE_SCRIPT = REPOSITORY_ROOT / "node_modules" / "axe-core" / "axe.min.js"
# The success criteria of DESIGN.md ("Accessible: WCAG 2.1 AA"), levels A and AA.
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}
SERVER_HOST = "127.0.0.1"
NODES_SHOWN = 5


def _require(path: Path, why: str) -> None:
    """Skip when a browser-test tool is missing, but fail in CI, where a skip
    would let an accessibility regression through unnoticed."""
    if path.exists():
        return
    message = f"{path} is missing: {why}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (required in CI)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser_server(django_db_setup, django_db_blocker) -> Iterator[str]:
    """The app, static files included, on 127.0.0.1 and a free port; yields its base URL.

    Not pytest-django's ``live_server``: that one needs ``transactional_db``,
    whose flush would empty the national directory imported at session start.
    A test that asks for this fixture without ``page`` or ``new_page`` must ask
    for ``db`` too: pytest-django creates the test database only for tests
    that use it.
    """
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.test.testcases import LiveServerThread
    from django.test.utils import modify_settings

    allowed_host = modify_settings(ALLOWED_HOSTS={"append": SERVER_HOST})
    allowed_host.enable()
    thread = LiveServerThread(SERVER_HOST, StaticFilesHandler, port=0)
    thread.daemon = True
    with django_db_blocker.unblock():
        thread.start()
        thread.is_ready.wait()
    try:
        if thread.error:
            raise thread.error
        yield f"http://{SERVER_HOST}:{thread.port}"
    finally:
        thread.terminate()
        allowed_host.disable()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright's sync API."""
    _require(CHROMIUM, "install Debian's chromium package to run the browser tests")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio event loop on this thread, so
    # Django takes every later ORM call here (test bodies, the rollback of
    # `db`) for one made from async code and raises SynchronousOnlyOperation.
    # Nothing here is really concurrent: the calls block as usual.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            try:
                yield chromium
            finally:
                chromium.close()


@pytest.fixture
def new_page(browser, browser_server, db) -> Iterator[Callable[..., Any]]:
    """Opens a page in a fresh context (no cookies, Vietnamese locale); keyword
    arguments go to ``browser.new_context``, e.g. ``java_script_enabled=False``.
    Every context is closed after the test."""
    contexts = []

    def open_page(**options: Any) -> Any:
        options = {"locale": "vi-VN", "base_url": browser_server, **options}
        context = browser.new_context(**options)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page) -> Any:
    """A page in a fresh context, Vietnamese locale, JavaScript on."""
    return new_page()


@functools.cache
def _axe_source() -> str:
    return AXE_SCRIPT.read_text(encoding="utf-8")


def assert_accessible(page: Any, *, context: Any = None) -> None:
    """Fail unless axe-core finds no WCAG 2.1 A/AA violation on the page.

    ``context`` narrows the check, as axe's own first argument does: a CSS
    selector, or ``{"include": [...], "exclude": [...]}``.
    """
    _require(AXE_SCRIPT, "run `npm ci` at the repository root to install axe-core")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(content=_axe_source())
    results = page.evaluate(
        """([context, options]) => context === null
            ? axe.run(document, options)
            : axe.run(context, options)""",
        [context, AXE_OPTIONS],
    )
    if results["violations"]:
        pytest.fail(_describe_violations(page.url, results), pytrace=False)


def _describe_violations(url: str, results: dict[str, Any]) -> str:
    violations = results["violations"]
    version = results.get("testEngine", {}).get("version", "")
    lines = [f"axe-core {version}: {len(violations)} WCAG 2.1 AA violation(s) on {url}"]
    for violation in violations:
        nodes = violation["nodes"]
        lines.append(
            f"- {violation['id']} ({violation.get('impact') or 'impact not given'}): "
            f"{violation['help']} [{len(nodes)} element(s)]"
        )
        for node in nodes[:NODES_SHOWN]:
            # A target is a list of selectors, nested lists for shadow DOM.
            target = " ".join(
                " >>> ".join(part) if isinstance(part, list) else part for part in node["target"]
            )
            lines.append(f"    {target}")
            # The summary's first line is "Fix any of the following:"; the second says what.
            summary = (node.get("failureSummary") or "").strip().splitlines()
            if len(summary) > 1:
                lines.append(f"      {summary[1].strip()}")
        if len(nodes) > NODES_SHOWN:
            lines.append(f"    … and {len(nodes) - NODES_SHOWN} more")
        lines.append(f"    {violation['helpUrl']}")
    return "\n".join(lines)
