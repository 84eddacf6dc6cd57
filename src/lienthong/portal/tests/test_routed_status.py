"""A dossier routed to another node's agency keeps status "new" on the portal's node;
the citizen reads the status that agency last reported, and who holds it, on her
dossier's page, in her list and in the public look-up alike, the list still one query
for its rows.

The set-up is the routed tests' one (``dossiers/tests/test_routed.py``).
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from lienthong.dossiers import services
from lienthong.dossiers.models import Status
from lienthong.dossiers.tests.test_interconnection import carry, node, submitted  # noqa: F401
from lienthong.dossiers.tests.test_routed import routed  # noqa: F401

pytestmark = pytest.mark.django_db


def label(status: Status) -> str:
    with translation.override("vi"):
        return str(status.label)


def status_cell(page: str, start: str) -> str:
    """The text after ``start`` up to the end of its cell or definition."""
    return page.split(start, 1)[1].split("</dd>", 1)[0].split("</td>", 1)[0]


def test_the_citizen_reads_the_status_the_holder_reported_everywhere(client, node, routed):  # noqa: F811
    origin, step1 = routed
    services.accept(
        actor=node.staff.ca_one_stop_officer, dossier=step1, expected_version=step1.version
    )
    carry(node)
    origin.refresh_from_db()
    assert (origin.status, origin.remote_status) == (Status.NEW, Status.ACCEPTED)
    accepted, new = label(Status.ACCEPTED), label(Status.NEW)

    client.force_login(node.mai)
    page = client.get(f"/dossiers/{origin.code}/").content.decode()
    headline = status_cell(page, "<dt>Trạng thái</dt><dd>")
    assert accepted in headline and new not in headline
    assert node.office.name in headline  # who reported it

    listed = client.get("/dossiers/").content.decode()
    row = listed.split(origin.code, 1)[1].split("</tr>", 1)[0]
    assert accepted in row and new not in row and node.office.name in row

    client.logout()
    found = client.post(
        "/dossiers/lookup/", {"code": origin.code, "factor": origin.applicant_phone}
    ).content.decode()
    assert accepted in status_cell(found, "<dt>Trạng thái</dt><dd>")
    assert node.office.node.name in found.split(origin.code, 1)[1]


def test_the_list_reads_its_rows_in_one_query_however_many_are_routed(client, node, routed):  # noqa: F811
    client.force_login(node.mai)
    client.get("/dossiers/")  # the session's first request writes what later ones read
    with CaptureQueriesContext(connection) as one:
        client.get("/dossiers/")
    submitted(node)
    submitted(node)
    with CaptureQueriesContext(connection) as three:
        listed = client.get("/dossiers/").content.decode()
    assert listed.count("/dossiers/000.") >= 3
    assert len(three.captured_queries) == len(one.captured_queries)
