"""Starting an interconnected procedure (Decree 63/2024/NĐ-CP) from the portal: one
dossier, submitted for the first step; its page shows every step, the agency
that holds it and the status it reported.

The set-up is the dossiers' interconnection tests' one (two agencies of one
node, the exchange's real API in process): see ``dossiers/tests/test_interconnection.py``.
"""

from __future__ import annotations

import re

import pytest

from lienthong.dossiers.models import Dossier, Status
from lienthong.dossiers.tests.test_interconnection import carry, decide, node  # noqa: F401
from lienthong.portal import selectors, services
from lienthong.portal.tests.conftest import MAI_ID

pytestmark = pytest.mark.django_db

BIRTH_GROUP = "LT.900001"  # seeded: birth, permanent residence, health insurance card


def steps_table(page: str) -> list[list[str]]:
    """The rows of the steps table as text cells."""
    table = page.split('id="steps-heading"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table.split("<tbody>", 1)[1], re.S)
    return [
        [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
        for row in rows
    ]  # fmt: skip


def test_the_seeded_birth_group_starts_with_its_first_step(signed_in, english, mai):
    page = signed_in(MAI_ID).get(f"/dossiers/new/interconnected/{BIRTH_GROUP}/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "The dossier starts with its first step" in text
    assert "Birth registration" in text or "khai sinh" in text


def test_my_dossiers_offers_the_interconnected_procedures(signed_in, mai):
    page = signed_in(MAI_ID).get("/dossiers/").content.decode()

    assert f'href="/dossiers/new/interconnected/{BIRTH_GROUP}/"' in page
    assert 'href="/dossiers/new/interconnected/LT.900002/"' in page  # death registration


def test_an_unknown_group_does_not_exist(signed_in, mai):
    assert signed_in(MAI_ID).get("/dossiers/new/interconnected/LT.999999/").status_code == 404


def test_one_dossier_goes_through_every_step_and_its_page_shows_them(
    signed_in,
    english,
    node,  # noqa: F811
):
    client = signed_in(MAI_ID)
    form = client.get(f"/dossiers/new/interconnected/{node.chain.code}/")
    assert "One dossier, several agencies" in form.content.decode()

    response = client.post(
        f"/dossiers/new/interconnected/{node.chain.code}/", {"agency": node.ministry.identifier}
    )

    assert response.status_code == 302
    origin = Dossier.objects.get(applicant=node.mai)
    assert (origin.interconnected, origin.procedure, origin.step.position) == (
        node.chain,
        node.birth,
        1,
    )
    page = client.get(response["Location"]).content.decode()
    assert steps_table(page) == [
        ["1 current", "Đăng ký khai sinh (thử)", node.ministry.name, "New", "—"],
        ["2", "Đăng ký thường trú (thử)", "not reached yet", "—", "—"],
    ]

    origin = decide(node.staff, "tp", origin)  # done at the ministry: handed to the office
    assert origin.status == Status.DONE
    assert not services.may_rate(node.mai, origin)  # the citizen rates the whole procedure
    page = client.get(f"/dossiers/{origin.code}/").content.decode()
    assert steps_table(page)[1] == ["2", "Đăng ký thường trú (thử)", node.office.name, "—", "—"]

    step2 = carry(node)[0].dossier  # the office opens its own dossier for step 2 …
    carry(node)  # … and reports "new" back
    page = client.get(f"/dossiers/{origin.code}/").content.decode()
    assert steps_table(page) == [
        ["1", "Đăng ký khai sinh (thử)", node.ministry.name, "Done", "—"],
        ["2 current", "Đăng ký thường trú (thử)", node.office.name, "New", "—"],
    ]

    decide(node.staff, "ca", step2)
    carry(node)
    origin = Dossier.objects.get(pk=origin.pk)
    rows = selectors.interconnected_steps(origin)
    assert [(r.position, r.agency, r.status) for r in rows] == [
        (1, node.ministry, Status.DONE),
        (2, node.office, Status.DONE),
    ]
    assert services.may_rate(node.mai, origin)  # the last step is done


def test_a_plain_dossier_has_no_steps(mai, procedure, xanh):
    from lienthong.portal.tests.conftest import submitted

    assert selectors.interconnected_steps(submitted(mai, procedure, xanh)) == []


@pytest.fixture
def elsewhere(node, settings):  # noqa: F811
    """This node is the ministry's alone; the office, which handles the first step too,
    is on another node (the directory gives it an address)."""
    settings.NODE_IDENTIFIER = "VN:GOV:000.00.00.G12:node"
    settings.NODE_AGENCIES = [node.ministry.identifier]
    node.birth.agencies.add(node.office)
    return node


def test_a_dossier_for_an_agency_on_another_node_is_routed_there_on_submission(
    signed_in, english, elsewhere, settings
):
    from lienthong.exchange.models import OutboundMessage

    client = signed_in(MAI_ID)
    response = client.post(
        f"/dossiers/new/interconnected/{elsewhere.chain.code}/",
        {"agency": elsewhere.office.identifier},
    )

    assert response.status_code == 302
    origin = Dossier.objects.get(applicant=elsewhere.mai)
    assert (origin.receiving_agency, origin.status) == (elsewhere.ministry, Status.NEW)
    [handoff] = OutboundMessage.objects.filter(type="dossier.handoff")
    assert (handoff.sender, handoff.recipient, handoff.correlation_id) == (
        f"VN:GOV:{elsewhere.ministry.identifier}:dossiers",
        f"VN:GOV:{elsewhere.office.identifier}:dossiers",
        origin.code,
    )
    page = client.get(response["Location"]).content.decode()
    holding = page.split("Agency holding it</dt>", 1)[1].split("</dd>", 1)[0]
    assert elsewhere.office.name in holding and elsewhere.office.node.name in holding
    assert "sent to the agency of the first step" in holding

    settings.NODE_AGENCIES = [elsewhere.ministry.identifier, elsewhere.office.identifier]
    [applied] = carry(elsewhere)  # the office's node opens step 1 …
    assert (applied.outcome, applied.dossier.current_agency) == ("created", elsewhere.office)
    carry(elsewhere)  # … and reports "new"
    page = client.get(f"/dossiers/{origin.code}/").content.decode()
    assert steps_table(page)[0] == [
        "1 current",
        "Đăng ký khai sinh (thử)",
        elsewhere.office.name,
        "New",
        "—",
    ]


def test_a_submission_that_cannot_be_routed_writes_nothing(signed_in, english, elsewhere):
    from lienthong.trust.models import SigningKey

    for key in SigningKey.objects.filter(agency=elsewhere.ministry):
        key.is_enabled = False  # the hand-off cannot be signed
        key.save()

    response = signed_in(MAI_ID).post(
        f"/dossiers/new/interconnected/{elsewhere.chain.code}/",
        {"agency": elsewhere.office.identifier},
    )

    assert response.status_code == 400
    assert "The dossier could not be sent to the agency" in response.content.decode()
    assert not Dossier.objects.exists()


def test_each_steps_signed_result_comes_back_to_the_citizens_page_to_download_and_verify(
    signed_in,
    english,
    node,  # noqa: F811
):
    from lienthong.dossiers import attachments
    from lienthong.dossiers.tests.test_interconnection import a_pdf, approved_with_result

    client = signed_in(MAI_ID)
    response = client.post(
        f"/dossiers/new/interconnected/{node.chain.code}/", {"agency": node.ministry.identifier}
    )
    origin = decide(node.staff, "tp", Dossier.objects.get(applicant=node.mai))
    step2 = carry(node)[0].dossier
    carry(node)
    step2 = approved_with_result(node.staff, "ca", step2, a_pdf("Xac nhan thuong tru"))
    carry(node)

    page = client.get(response["Location"]).content.decode()
    assert steps_table(page)[1][4].startswith("Signed result of step 2 (PDF)")
    assert "Signed result of step 2 received" in page  # on the timeline
    download = client.get(f"/dossiers/{origin.code}/steps/2/result.pdf")
    assert download.status_code == 200
    assert download["Content-Type"] == "application/pdf"
    assert download.content == attachments.full_path(step2.result.path).read_bytes()
    assert client.get(f"/dossiers/{origin.code}/steps/1/result.pdf").status_code == 404

    verified = client.post(f"/dossiers/{origin.code}/steps/2/verify/")
    assert verified.status_code == 302
    assert verified["Location"].startswith("/trust/reports/")
