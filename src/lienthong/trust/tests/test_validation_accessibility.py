"""The validation report in a real browser: WCAG 2.1 AA for every verdict, both languages.

The report is rendered by the test client (inside the test's transaction) and
shown in the page with set_content, on the live server's origin so its styles
load: the browser's server thread cannot see uncommitted test data.
"""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from lienthong.testing.browser import assert_accessible
from lienthong.trust.tests import documents

pytestmark = [pytest.mark.browser, pytest.mark.django_db]


def rendered_report(client, data: bytes, language: str) -> str:
    client.post("/i18n/setlang/", {"language": language, "next": "/"})
    response = client.post("/trust/validate/", {"document": SimpleUploadedFile("x.pdf", data)})
    return client.get(response["Location"]).content.decode()


@pytest.mark.parametrize("language", ["vi", "en"])
@pytest.mark.parametrize("case", ["passed", "untrusted", "modified", "garbage"])
def test_every_kind_of_report_meets_wcag_2_1_aa(client, page, trusted_test_pki, language, case):
    # pyHanko signs through asyncio.run, which cannot start on this thread while
    # Playwright's event loop runs here: sign on a worker thread.
    with ThreadPoolExecutor(1) as worker:
        signed = worker.submit(documents.signed_pdf, trusted_test_pki, "citizen").result()
    data = {
        "passed": signed,
        "untrusted": signed[:-40],
        "modified": documents.changed_after_signing(signed),
        "garbage": b"%PDF-1.7 broken",
    }[case]
    html = rendered_report(client, data, language)

    page.goto("/trust/validate/")
    page.set_content(html)

    assert page.locator("h1").inner_text()
    assert_accessible(page)
