"""A fee asked by the agency holding a routed dossier on another node is paid on the
portal's node: the status 6 report carries the fee, the citizen pays it here, and the
payment travels back as a ``dossier.payment`` envelope, signed and sent through the
exchange, which the holder records through its own state machine, once.

The set-up is the routed-dossier tests' one (``test_routed.py``): the ministry
receives the citizen's dossier and routes step 1 to the office; envelopes travel
through the node's real exchange API, in process (``carry``)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import transaction

from lienthong.audit.models import AuditRecord
from lienthong.dossiers import interconnection, payments, services
from lienthong.dossiers.models import AttemptState, Dossier, Payment, PaymentAttempt, Status
from lienthong.dossiers.tests.test_interconnection import (  # noqa: F401
    MINISTRY,
    OFFICE,
    carry,
    node,
    submitted,
)
from lienthong.exchange.envelope import unverified_payload, uuid7
from lienthong.exchange.models import InboundMessage, OutboundMessage

pytestmark = pytest.mark.django_db

RETURN = "https://portal.test/dossiers/X/payment/return/"
CALLBACK = "https://portal.test/dossiers/payments/console/callback/"


@pytest.fixture
def asked(node):  # noqa: F811
    """Routed to the office, which accepted it, processes it and asks 40.000 VND;
    every report carried back to the ministry's copy."""
    origin = submitted(node)
    with transaction.atomic():
        interconnection.route(actor=node.mai, dossier=origin, agency=node.office)
    carry(node)  # the hand-off
    carry(node)  # "new" reported
    step1 = Dossier.objects.get(origin_code=origin.code)
    step1 = services.accept(
        actor=node.staff.ca_one_stop_officer, dossier=step1, expected_version=step1.version
    )
    step1 = services.process(
        actor=node.staff.ca_specialist, dossier=step1, expected_version=step1.version
    )
    step1 = services.request_payment(
        actor=node.staff.ca_specialist,
        dossier=step1,
        expected_version=step1.version,
        amount=40_000,
        reason="Lệ phí đăng ký",
    )
    carry(node)
    origin.refresh_from_db()
    return origin, step1


def received(type_: str, payload: dict, *, sender: str) -> InboundMessage:
    """An envelope as the exchange stores a received one (its checks passed): a copy of
    one this node received, under a new envelope id."""
    message = InboundMessage.objects.order_by("pk").last()
    message.pk = None
    message.envelope_id = uuid7()
    message.type, message.payload = type_, payload
    message.sender = f"VN:GOV:{sender}:dossiers"
    message.recipient = f"VN:GOV:{OFFICE}:dossiers"
    message.save()
    return message


def token(checkout) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(checkout.url).query).items()}


def test_the_fee_is_paid_on_the_portal_node_and_the_holder_goes_on(client, node, asked):  # noqa: F811
    origin, step1 = asked
    client.force_login(node.mai)
    page = client.get(f"/dossiers/{origin.code}/").content.decode()
    assert "40.000" in page and f'action="/dossiers/{origin.code}/payment/"' in page
    # The fee travelled with the status: payable here, by her only.
    assert origin.remote_status == Status.PAYMENT_REQUESTED and origin.status == Status.NEW
    fee = origin.payment_due
    assert (fee.amount, fee.reason) == (40_000, "Lệ phí đăng ký")
    assert fee.remote_request == f"{OFFICE}/{step1.code}/{step1.payment_due.pk}"
    assert payments.payable(node.mai, origin) == fee
    assert payments.payable(node.staff.tp_one_stop_officer, origin) is None

    checkout = payments.start(
        actor=node.mai, dossier=origin, return_url=RETURN, callback_url=CALLBACK
    )
    settled = payments.settle(token(checkout), dossier=origin)

    assert (settled.outcome, settled.relayed) == (payments.RECORDED, True)
    assert settled.dossier.status == Status.NEW  # decided by the holder
    assert settled.dossier.events.filter(action="payment_received").exists()
    [sent] = OutboundMessage.objects.filter(type="dossier.payment")
    assert (sent.sender, sent.recipient, sent.correlation_id) == (
        f"VN:GOV:{MINISTRY}:dossiers",
        f"VN:GOV:{OFFICE}:dossiers",
        origin.code,
    )
    payload = unverified_payload(sent.token)["payload"]
    assert (payload["code"], payload["amount"], payload["reference"]) == (
        step1.code,
        40_000,
        checkout.reference,
    )
    # The return and the callback both came: one envelope only.
    assert payments.settle(token(checkout)).outcome == payments.ALREADY
    assert OutboundMessage.objects.filter(type="dossier.payment").count() == 1

    [applied] = carry(node)  # delivered, signed, and applied by the office
    assert (applied.type, applied.outcome) == ("dossier.payment", "recorded")
    step1.refresh_from_db()
    assert step1.status == Status.PROCESSING
    paid_there = step1.payments.get()
    assert (paid_there.backend, paid_there.reference, paid_there.paid_at is not None) == (
        "console",
        f"{MINISTRY}:{checkout.reference}",
        True,
    )
    assert step1.events.last().actor_label == "payment:console"
    [reported] = carry(node)  # "processing" comes back
    assert reported.outcome == "recorded"
    origin.refresh_from_db()
    assert origin.remote_status == Status.PROCESSING

    # Replayed under another envelope id: recorded once.
    replay = received("dossier.payment", payload, sender=MINISTRY)
    assert interconnection.apply(replay).outcome == "duplicate"
    assert AuditRecord.objects.filter(action="payment_received").count() == 2  # here, there
    assert Payment.objects.filter(paid_at__isnull=False).count() == 2  # one per node's row


def test_a_payment_the_holder_refuses_comes_back_as_money_to_refund(node, asked):  # noqa: F811
    origin, step1 = asked
    checkout = payments.start(
        actor=node.mai, dossier=origin, return_url=RETURN, callback_url=CALLBACK
    )
    # Meanwhile she paid at the office's counter.
    services.confirm_payment(
        actor=node.staff.ca_one_stop_officer, dossier=step1, expected_version=step1.version
    )
    payments.settle(token(checkout), dossier=origin)

    outcomes = [a.outcome for a in carry(node)]
    assert "refused" in outcomes  # the office's state machine: nothing awaited
    carry(node)  # the refusal comes back
    assert PaymentAttempt.objects.get(payment__dossier=origin).state == AttemptState.SURPLUS
    assert origin.events.filter(action="refused", note__contains="dossier.payment").exists()
    step1.refresh_from_db()
    assert step1.payments.get().backend == "counter"  # paid once there


def test_a_payment_from_anyone_but_the_originating_agency_is_unknown(node, asked):  # noqa: F811
    origin, step1 = asked
    forged = received(
        "dossier.payment",
        {
            "origin_code": origin.code,
            "code": step1.code,
            "request": step1.payment_due.pk,
            "request_id": "console:x",
            "amount": 40_000,
            "backend": "console",
            "reference": "x",
            "receipt": "",
            "paid_at": "2026-12-05T00:00:00+00:00",
        },
        sender=OFFICE,
    )
    assert interconnection.apply(forged).outcome == "unknown_dossier"
    step1.refresh_from_db()
    assert step1.status == Status.PAYMENT_REQUESTED
