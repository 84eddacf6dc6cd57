"""The public pages in a real browser: WCAG 2.1 AA in both languages, and the
directory search with and without JavaScript (DESIGN.md, "Everywhere")."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from lienthong.testing.browser import assert_accessible

pytestmark = pytest.mark.browser

PAGES = [
    "/",
    "/directory/",
    "/directory/units/01/",
    "/directory/agencies/",
    "/directory/agencies/000.00.00.G12/",
    "/directory/search/?q=ha+noi",
    "/trust/validate/",
]
HA_NOI = "Thành phố Hà Nội"


def choose_language(page, code: str) -> None:
    """Switch language as a visitor does, with the form in the header."""
    page.locator("#language-select").select_option(code)
    page.locator("form.language").get_by_role("button").click()
    expect(page.locator("html")).to_have_attribute("lang", code)


def search_from_the_home_page(page, text: str) -> None:
    page.goto("/")
    page.get_by_role("searchbox").fill(text)
    page.get_by_role("search").get_by_role("button").click()


@pytest.mark.parametrize("path", PAGES)
def test_each_page_meets_wcag_2_1_aa_in_vietnamese(page, path):
    response = page.goto(path)

    assert response.ok, f"{path} answered {response.status}"
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    assert_accessible(page)


@pytest.mark.parametrize("path", PAGES)
def test_each_page_meets_wcag_2_1_aa_in_english(page, path):
    page.goto(path)

    choose_language(page, "en")

    assert page.url.endswith(path), "the language form returns to the page it was sent from"
    assert_accessible(page)


@pytest.mark.parametrize("path", PAGES)
def test_each_page_reflows_to_320_css_pixels_without_sideways_scrolling(new_page, path):
    # WCAG 1.4.10, which axe cannot check: a phone held upright, or 400% zoom.
    page = new_page(viewport={"width": 320, "height": 640})

    page.goto(path)

    scroll_width, client_width = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert scroll_width <= client_width, f"{path} is {scroll_width}px wide at 320px"


def test_the_chosen_language_is_kept_on_the_next_page(page):
    page.goto("/")
    choose_language(page, "en")

    page.goto("/directory/")

    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("National directory")


def test_search_finds_ha_noi_with_htmx_without_leaving_the_page(page):
    search_from_the_home_page(page, "ha noi")

    results = page.locator("#search-results")
    expect(results.get_by_role("link", name=HA_NOI, exact=True)).to_be_visible()
    # Still the home page: htmx put the results into its live region.
    expect(page.locator("#directory-heading")).to_be_visible()
    expect(results).to_have_count(1)
    assert_accessible(page)


def test_search_finds_ha_noi_without_javascript(new_page):
    page = new_page(java_script_enabled=False)

    search_from_the_home_page(page, "ha noi")

    expect(page).to_have_url(re.compile(r"/directory/search/\?q=ha\+noi"))
    expect(
        page.locator("#search-results").get_by_role("link", name=HA_NOI, exact=True)
    ).to_be_visible()
