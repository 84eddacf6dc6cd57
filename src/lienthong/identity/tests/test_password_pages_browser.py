"""The password and recovery pages anyone can open meet WCAG 2.1 AA in a real browser.

Only pages that write nothing are opened: the live server shares the test
database, and a write from it would wait on the test's own transaction.
"""

from __future__ import annotations

import pytest

from lienthong.testing.browser import assert_accessible

pytestmark = pytest.mark.browser

PAGES = [
    "/account/password-reset/",
    "/account/password-reset/sent/",
    "/account/password-reset/MQ/new/",  # without an opened link: "this link does not work"
    "/account/recovery/",
]


@pytest.mark.parametrize("path", PAGES)
def test_each_password_page_meets_wcag_2_1_aa(page, path):
    response = page.goto(path)
    assert response.ok, f"{path} answered {response.status}"
    assert_accessible(page)
