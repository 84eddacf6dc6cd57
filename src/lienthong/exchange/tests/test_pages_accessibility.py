"""The operator's page of receiving nodes in a real browser: WCAG 2.1 AA, both languages.

Rendered by the test client (staff, inside the test's transaction) and shown
with set_content on the live server's origin, so its styles load.
"""

from __future__ import annotations

import datetime as dt

import pytest

from lienthong.exchange.models import OutboundMessage
from lienthong.testing.browser import assert_accessible

pytestmark = [pytest.mark.browser, pytest.mark.django_db]


def message(n: int, state: str, **fields) -> OutboundMessage:
    now = dt.datetime.now(dt.UTC)
    return OutboundMessage.objects.create(
        envelope_id=f"0193a7b2-5c1e-7d4a-8f00-{n:012d}",
        type="dossier.status",
        sender="VN:GOV:000.00.00.G12:dossiers",
        recipient="VN:GOV:000.00.00.G22:dossiers",
        correlation_id="000.00.00.G12-261128-0001",
        created_at=now,
        token="header.payload.signature",
        token_sha256="0" * 64,
        endpoint="https://node.example/api/v1/exchange/envelopes",
        state=state,
        next_attempt_at=now,
        **fields,
    )


@pytest.mark.parametrize("language", ["vi", "en"])
@pytest.mark.parametrize("with_peers", [True, False])
def test_the_peers_page_meets_wcag_2_1_aa(client, operator, page, language, with_peers):
    if with_peers:
        message(1, "delivered", delivered_at=dt.datetime.now(dt.UTC))
        message(2, "queued", attempts=3, last_error="HTTPStatusError: 503")
        message(3, "dead", attempts=12, last_error="ConnectError")
    client.force_login(operator)
    client.post("/i18n/setlang/", {"language": language, "next": "/"})
    html = client.get("/exchange/peers/").content.decode()

    page.goto("/")
    page.set_content(html)

    assert page.locator("h1").inner_text()
    assert page.locator("table caption").inner_text()
    assert_accessible(page)
