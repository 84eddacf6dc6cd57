"""A fee asked on another node, paid on the portal's node — between two real nodes
(``lienthong.testing.nodes``: separate processes, databases and keys; each node's
worker delivers the exchange's envelopes over HTTP and applies what it receives).

Node "a" (the portal's) hosts the ministry, node "b" the government office. The
citizen submits an interconnected dossier on "a" for the office; "a" routes it to
"b"; the office accepts it, processes it and asks a fee; the fee reaches "a" with the
status, the citizen pays it there, and the payment travels to "b" as a
``dossier.payment`` envelope, which "b" records once through its state machine; the
dossier goes back to processing there and "a" hears of it. One scenario: the network
is expensive to start.
"""

from __future__ import annotations

import time

import pytest

from lienthong.testing.nodes import NodeNetwork, NodeSpec

pytestmark = pytest.mark.nodes

MINISTRY, OFFICE = "000.00.00.G12", "000.00.00.G22"

# Both nodes' catalogue: the chain and its procedures, with the same codes.
SETUP = f"""
from lienthong.catalog.models import InterconnectedProcedure, InterconnectedStep
from lienthong.catalog.tests.factories import ProcedureFactory
birth = ProcedureFactory(code="LT.990101", name="Đăng ký khai sinh (thử)")
birth.agencies.add(*Agency.objects.filter(identifier__in=[{MINISTRY!r}, {OFFICE!r}]))
residence = ProcedureFactory(code="LT.990102", name="Đăng ký thường trú (thử)")
residence.agencies.add(Agency.objects.get(identifier={OFFICE!r}))
chain = InterconnectedProcedure.objects.create(
    code="LT.990100", name="Liên thông (thử)", online_level="full"
)
InterconnectedStep.objects.create(interconnected=chain, position=1, procedure=birth)
InterconnectedStep.objects.create(interconnected=chain, position=2, procedure=residence)
"""


def wait_for(predicate, timeout: float = 90, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def network(test_pki, tmp_path_factory):
    specs = [NodeSpec("a", [MINISTRY]), NodeSpec("b", [OFFICE])]
    rights = [(OFFICE, "dossier.*", MINISTRY), (MINISTRY, "dossier.*", OFFICE)]
    root = tmp_path_factory.mktemp("payment-nodes")
    with NodeNetwork(test_pki, specs, root, rights, setup=SETUP, template=True) as net:
        yield net


def test_a_fee_asked_on_the_holders_node_is_paid_on_the_portals(network):
    a, b = network["a"], network["b"]
    code = a.python(
        f"""
        from lienthong.catalog.models import InterconnectedProcedure, Procedure
        from lienthong.directory.models import Agency
        from lienthong.identity import services as identity
        from lienthong.portal import services as portal
        mai = identity.create_account(
            actor="test", kind="citizen", display_name="Nguyễn Thị Mai",
            personal_id="001190012345", password=None, source="test",
        ).user
        dossier = portal.submit(
            actor=mai, procedure=Procedure.objects.get(code="LT.990101"),
            agency=Agency.objects.get(identifier={OFFICE!r}), form_data={{}}, documents={{}},
            interconnected=InterconnectedProcedure.objects.get(code="LT.990100"),
        )
        result = dossier.code
        """
    )
    wait_for(
        lambda: b.query("SELECT id FROM dossiers_dossier WHERE origin_code = ?", (code,)),
        what="the hand-off on b",
    )
    b.python(
        f"""
        from lienthong.directory.models import Agency
        from lienthong.dossiers import services
        from lienthong.dossiers.models import Dossier
        from lienthong.identity import services as identity
        office = Agency.objects.get(identifier={OFFICE!r})
        staff = {{}}
        for role in ("one_stop_officer", "specialist"):
            user = identity.create_account(
                actor="test", kind="officer", display_name=role, username="ca." + role,
                password=None, source="test",
            ).user
            identity.grant_role(actor="test", user=user, agency=office, role=role, source="test")
            staff[role] = user
        step = Dossier.objects.get(origin_code={code!r})
        step = services.accept(
            actor=staff["one_stop_officer"], dossier=step, expected_version=step.version
        )
        step = services.process(
            actor=staff["specialist"], dossier=step, expected_version=step.version
        )
        services.request_payment(
            actor=staff["specialist"], dossier=step, expected_version=step.version,
            amount=40000, reason="Lệ phí đăng ký",
        )
        """
    )
    [(amount, request)] = wait_for(
        lambda: a.query(
            "SELECT p.amount, p.remote_request FROM dossiers_payment p"
            " JOIN dossiers_dossier d ON d.id = p.dossier_id WHERE d.code = ?",
            (code,),
        ),
        what="the fee on a",
    )
    assert amount == 40000 and request.startswith(OFFICE + "/")

    outcome = a.python(
        f"""
        from urllib.parse import parse_qs, urlsplit
        from lienthong.dossiers import payments
        from lienthong.dossiers.models import Dossier
        dossier = Dossier.objects.get(code={code!r})
        checkout = payments.start(
            actor=dossier.applicant, dossier=dossier,
            return_url="https://portal.test/return/", callback_url="https://portal.test/cb/",
        )
        token = parse_qs(urlsplit(checkout.url).query)["token"][0]
        first = payments.settle({{"token": token}}, dossier=dossier)
        again = payments.settle({{"token": token}})  # the callback after the return
        result = [first.outcome, first.relayed, again.outcome, checkout.reference]
        """
    )
    assert outcome[:3] == ["recorded", True, "already"]

    wait_for(
        lambda: b.query(
            "SELECT status FROM dossiers_dossier WHERE origin_code = ? AND status = 4", (code,)
        ),
        what="the payment recorded on b",
    )
    assert b.query(
        "SELECT outcome FROM dossiers_appliedenvelope WHERE type = 'dossier.payment'"
    ) == [("recorded",)]
    assert b.query("SELECT backend, reference FROM dossiers_payment WHERE paid_at IS NOT NULL") == [
        ("console", f"{MINISTRY}:{outcome[3]}")
    ]
    wait_for(
        lambda: a.query(
            "SELECT id FROM dossiers_dossier WHERE code = ? AND remote_status = 4", (code,)
        ),
        what="processing reported back to a",
    )
    assert a.query(
        "SELECT count(*) FROM exchange_outboundmessage WHERE type = 'dossier.payment'"
    ) == [(1,)]
