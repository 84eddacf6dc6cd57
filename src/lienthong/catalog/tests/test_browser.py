"""A citizen finds a procedure and reads what it needs, in a real Chromium:
with htmx live search, and without JavaScript; WCAG 2.1 AA checked by axe-core.

The browser's server thread sees the catalogue seeded (and committed) once
per session by ``seeded_catalog``.
"""

import re

import pytest

from lienthong.testing.browser import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db]


def test_a_citizen_searches_without_diacritics_and_opens_the_procedure(seeded_catalog, page):
    page.goto("/procedures/")
    assert_accessible(page)

    page.get_by_label("Tìm thủ tục theo tên").fill("dang ky khai sinh")
    # htmx swaps the results in as the citizen types, and puts the search in the address.
    page.wait_for_url(re.compile(r"q=dang(%20|\+)ky(%20|\+)khai(%20|\+)sinh"))
    result = page.locator("#procedure-results").get_by_role(
        "link", name="Đăng ký khai sinh", exact=True
    )
    result.wait_for()
    assert_accessible(page)

    result.click()
    page.wait_for_url("**/procedures/1.001193/")
    assert page.locator("h1").inner_text() == "Đăng ký khai sinh"
    assert page.get_by_role("heading", name="Thành phần hồ sơ").is_visible()
    assert_accessible(page)


def test_the_search_works_without_javascript(seeded_catalog, new_page):
    page = new_page(java_script_enabled=False)
    page.goto("/procedures/")
    page.get_by_label("Lĩnh vực", exact=True).select_option("cu-tru")
    page.get_by_role("button", name="Tìm kiếm").click()
    page.get_by_role("link", name="Đăng ký tạm trú", exact=True).click()
    assert page.locator("h1").inner_text() == "Đăng ký tạm trú"
    assert "3 ngày làm việc" in page.locator(".facts").inner_text()


def test_in_english_a_filter_updates_the_results_and_both_pages_meet_wcag(seeded_catalog, page):
    page.goto("/procedures/")
    page.locator("#language-select").select_option("en")
    page.locator("form.language").get_by_role("button").click()
    page.wait_for_selector("html[lang=en]")

    page.get_by_label("Field", exact=True).select_option("cu-tru")
    results = page.locator("#procedure-results")
    results.get_by_text("3 procedures.").wait_for()
    assert_accessible(page)

    page.goto("/procedures/LT.900002/")
    assert "Funeral allowance" in page.locator("table").inner_text()
    assert_accessible(page)
