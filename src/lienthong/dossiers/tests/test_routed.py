"""A dossier routed from the portal's node to its first step's agency on another node
is held there: here nobody has it in a queue or acts on it, the back office shows it
read-only, and the citizen's withdrawal is a request that the holder's own state
machine grants (the new status comes back) or refuses (the refusal comes back).

The set-up is the interconnection tests' one (``test_interconnection.py``): the
ministry receives the citizen's dossier and routes step 1 to the office, whose
"node" is the same process; withdrawal requests are built as the exchange stores
them, or carried through its real API.
"""

from __future__ import annotations

import pytest
from django.db import transaction

from lienthong.backoffice import selectors as backoffice
from lienthong.dossiers import interconnection, selectors, services, workflow
from lienthong.dossiers.errors import DossierConflict
from lienthong.dossiers.models import AppliedEnvelope, Dossier, Status
from lienthong.dossiers.tests.conftest import put_in
from lienthong.dossiers.tests.test_interconnection import (  # noqa: F401
    MINISTRY,
    OFFICE,
    carry,
    inbound,
    node,
    submitted,
)
from lienthong.exchange.envelope import unverified_payload
from lienthong.exchange.models import OutboundMessage
from lienthong.portal import services as portal

pytestmark = pytest.mark.django_db


@pytest.fixture
def routed(node):  # noqa: F811
    """Chị Mai's dossier, received by the ministry and routed to the office for step 1;
    the office has opened its own dossier for the step and reported it new."""
    origin = submitted(node)
    with transaction.atomic():
        interconnection.route(actor=node.mai, dossier=origin, agency=node.office)
    [created] = carry(node)
    [reported] = carry(node)
    assert (created.outcome, reported.outcome) == ("created", "recorded")
    origin.refresh_from_db()
    return origin, created.dossier


def withdrawal(origin: Dossier, request_id: str = "r-1", sender: str = MINISTRY):
    return inbound(
        "dossier.withdraw",
        {"origin_code": origin.code, "request_id": request_id, "reason": "Nộp nhầm"},
        sender=sender,
        recipient=OFFICE,
    )


def sent(type_: str) -> list[dict]:
    return [
        unverified_payload(m.token)["payload"]
        for m in OutboundMessage.objects.filter(type=type_).order_by("pk")
    ]


# --- Held elsewhere --------------------------------------------------------------------------


def test_a_routed_dossier_is_held_by_the_first_steps_agency_and_in_no_queue_here(node, routed):  # noqa: F811
    origin, step1 = routed
    assert workflow.held_elsewhere(origin) and not workflow.held_elsewhere(step1)
    assert (origin.receiving_agency, origin.current_agency, origin.status) == (
        node.ministry,
        node.office,
        Status.NEW,
    )
    for queue in selectors.QUEUES:
        assert origin not in selectors.officer_queue(
            node.staff.tp_one_stop_officer, node.ministry, queue
        )
        # Even an officer here of the holding agency sees only its own step's dossier.
        assert origin not in selectors.officer_queue(
            node.staff.ca_one_stop_officer, node.office, queue
        )
    assert step1 in selectors.officer_queue(node.staff.ca_one_stop_officer, node.office, "new")

    for officer in (node.staff.tp_one_stop_officer, node.staff.ca_one_stop_officer):
        assert backoffice.next_moves(officer, origin) == set()
        with pytest.raises(DossierConflict) as refused:
            services.accept(actor=officer, dossier=origin, expected_version=origin.version)
        assert refused.value.code == "not_allowed"
    with pytest.raises(DossierConflict) as refused:  # not here: a request to the holder
        services.withdraw(actor=node.mai, dossier=origin, expected_version=origin.version)
    assert refused.value.code == "not_allowed"
    origin.refresh_from_db()
    assert (origin.status, origin.events.filter(action="accepted").exists()) == (Status.NEW, False)


def test_the_back_office_shows_it_read_only_with_who_holds_it_where(client, node, routed):  # noqa: F811
    origin, _step1 = routed
    client.force_login(node.staff.tp_one_stop_officer)
    page_url = f"/backoffice/{MINISTRY}/dossiers/{origin.code}/"

    response = client.get(page_url)

    assert response.status_code == 200
    page = response.content.decode()
    banner = page.split('role="note"', 1)[1].split("</div>", 1)[0]
    assert node.office.name in banner and node.office.node.name in banner
    assert "/accept/" not in page and "/reject/" not in page
    refused = client.post(page_url + "accept/", {"accept-version": origin.version})
    assert refused.status_code == 409
    origin.refresh_from_db()
    assert origin.status == Status.NEW


# --- Withdrawal: a request to the holder ---------------------------------------------------


def test_withdrawing_it_asks_the_holder_which_withdraws_it_and_reports_back(node, routed):  # noqa: F811
    origin, step1 = routed
    assert portal.may_withdraw(origin)

    origin = portal.withdraw(
        actor=node.mai, dossier=origin, expected_version=origin.version, reason="Nộp nhầm"
    )

    assert origin.status == Status.NEW  # nothing decided here
    [request] = OutboundMessage.objects.filter(type="dossier.withdraw")
    assert (request.sender, request.recipient, request.correlation_id) == (
        f"VN:GOV:{MINISTRY}:dossiers",
        f"VN:GOV:{OFFICE}:dossiers",
        origin.code,
    )
    assert origin.events.filter(action="withdraw_requested", agency=node.office).exists()
    assert not portal.may_withdraw(origin)
    with pytest.raises(DossierConflict) as again:
        portal.withdraw(actor=node.mai, dossier=origin, expected_version=origin.version)
    assert again.value.code == "withdrawal_pending"
    assert OutboundMessage.objects.filter(type="dossier.withdraw").count() == 1

    [applied] = carry(node)  # the office's state machine lets the applicant withdraw
    assert (applied.type, applied.outcome) == ("dossier.withdraw", "withdrawn")
    step1.refresh_from_db()
    assert step1.status == Status.WITHDRAWN
    assert step1.events.get(action="withdrawn").reason == "Nộp nhầm"

    [reported] = carry(node)  # … and reports it as any change
    assert (reported.type, reported.outcome) == ("dossier.status", "recorded")
    origin.refresh_from_db()
    assert (origin.status, origin.remote_status) == (Status.NEW, Status.WITHDRAWN)
    assert not portal.may_withdraw(origin)


def test_a_withdrawal_the_holders_state_machine_refuses_is_refused_back_with_why(node, routed):  # noqa: F811
    origin, step1 = routed
    put_in(step1, Status.PROCESSING)  # the office started on it; its report is on its way

    applied = interconnection.apply(withdrawal(origin))

    assert applied.outcome == "refused"
    step1.refresh_from_db()
    assert step1.status == Status.PROCESSING
    [refusal] = sent("dossier.refusal")
    assert (refusal["request"], refusal["refusal"], refusal["status"]) == (
        "dossier.withdraw",
        "illegal_transition",
        Status.PROCESSING,
    )
    assert refusal["message_vi"] and refusal["message_en"]
    assert [p["status"] for p in sent("dossier.status")] == [Status.NEW]  # nothing changed

    [recorded] = carry(node)  # back on the citizen's dossier
    assert (recorded.type, recorded.outcome) == ("dossier.refusal", "recorded")
    origin.refresh_from_db()
    event = origin.events.get(action="refused")
    assert (event.agency, event.reason) == (node.office, refusal["message_vi"])
    assert origin.remote_status == Status.PROCESSING
    assert not portal.may_withdraw(origin)


def test_a_replayed_withdrawal_changes_nothing_more(node, routed):  # noqa: F811
    origin, step1 = routed
    message = withdrawal(origin)

    first = interconnection.apply(message)
    again = interconnection.apply(message)  # the same envelope
    replay = interconnection.apply(withdrawal(origin))  # the same request, another envelope

    assert (first.outcome, again.pk, replay.outcome) == ("withdrawn", first.pk, "duplicate")
    step1.refresh_from_db()
    assert step1.status == Status.WITHDRAWN
    assert [p["status"] for p in sent("dossier.status")] == [Status.NEW, Status.WITHDRAWN]
    assert sent("dossier.refusal") == []


def test_only_the_originating_agency_may_ask_to_withdraw(node, routed):  # noqa: F811
    origin, step1 = routed

    applied = interconnection.apply(withdrawal(origin, sender=OFFICE))

    assert (applied.outcome, applied.dossier) == ("unknown_dossier", None)
    step1.refresh_from_db()
    assert step1.status == Status.NEW
    assert AppliedEnvelope.objects.filter(outcome="withdrawn").count() == 0


def test_a_withdrawal_the_reported_status_rules_out_is_refused_here_with_nothing_sent(
    node,  # noqa: F811
    routed,
):
    origin, _step1 = routed
    origin = put_in(origin, Status.NEW, remote_status=Status.PROCESSING)

    with pytest.raises(DossierConflict) as refused:
        portal.withdraw(actor=node.mai, dossier=origin, expected_version=origin.version)

    assert refused.value.code == "illegal_transition"
    assert not OutboundMessage.objects.filter(type="dossier.withdraw").exists()
    assert not origin.events.filter(action="withdraw_requested").exists()


def test_the_citizens_withdraw_button_sends_the_request(client, node, routed):  # noqa: F811
    origin, _step1 = routed
    client.force_login(node.mai)
    url = f"/dossiers/{origin.code}/withdraw/"

    response = client.post(url, {"version": origin.version, "confirm": "on"})

    assert response.status_code == 302
    assert OutboundMessage.objects.filter(type="dossier.withdraw").count() == 1
    origin.refresh_from_db()
    again = client.post(url, {"version": origin.version, "confirm": "on"})
    assert again.status_code == 409
    assert OutboundMessage.objects.filter(type="dossier.withdraw").count() == 1
