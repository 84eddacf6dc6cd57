"""Two real nodes exchanging over mutual TLS (``lienthong serve --exchange``).

Each node runs its public listener (plain HTTP on loopback), its mutual-TLS
exchange listener with the TEST PKI's node certificate, and its worker; the
directory lists each node's exchange URL and pins its certificate. What is
shown here is the transport: which database the nodes use changes nothing, so
this module runs on the SQLite run only (the PostgreSQL run covers the same
delivery code in test_nodes.py).
"""

from __future__ import annotations

import os
import ssl

import httpx
import pytest

from lienthong.exchange.tests.test_nodes import (
    MINISTRY,
    OFFICE,
    all_delivered,
    received,
    send,
    states,
    wait_for,
)
from lienthong.testing.nodes import NodeNetwork, NodeSpec

pytestmark = [
    pytest.mark.nodes,
    pytest.mark.skipif(
        os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="transport only: runs once, on the SQLite run",
    ),
]


@pytest.fixture(scope="module")
def network(test_pki, tmp_path_factory):
    specs = [NodeSpec("a", [MINISTRY]), NodeSpec("b", [OFFICE])]
    rights = [(OFFICE, "dossier.*", MINISTRY)]
    root = tmp_path_factory.mktemp("tls-nodes")
    # The pin test changes the directory behind the nodes' backs: their processes keep
    # no directory facts (a node keeps them LIENTHONG_EXCHANGE_FACTS_SECONDS, 5 s).
    env = {"LIENTHONG_EXCHANGE_FACTS_SECONDS": "0"}
    with NodeNetwork(test_pki, specs, root, rights, tls=True, env=env) as net:
        yield net


def trusted_context(node, with_certificate: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(node.root / "tls" / "trust-list.pem"))
    if with_certificate:
        context.load_cert_chain(*node.tls_files)
    return context


def test_envelopes_travel_over_mutual_tls_to_the_listed_exchange_url(network):
    a, b = network["a"], network["b"]

    ids = send(a, 3, "DOSSIER-TLS")
    wait_for(all_delivered(a, ids), what="delivery over mutual TLS")

    assert received(b, ids) == ids
    endpoints = {e for (e,) in a.query("SELECT DISTINCT endpoint FROM exchange_outboundmessage")}
    assert endpoints == {f"{b.exchange_url}/api/v1/exchange/envelopes"}


def test_a_client_without_a_certificate_gets_no_answer(network):
    b = network["b"]
    url = f"{b.exchange_url}/api/v1/exchange/envelopes"

    with pytest.raises(httpx.TransportError):
        httpx.post(url, json={"envelopes": ["x"]}, verify=trusted_context(b, False), timeout=5)

    answer = httpx.post(url, json={}, verify=trusted_context(b, True), timeout=5)
    assert answer.status_code == 422  # with a certificate: through to the API


def test_the_public_listener_refuses_node_to_node_calls(network):
    answer = httpx.post(f"{network['b'].url}/api/v1/exchange/envelopes", json={"envelopes": []})

    assert answer.status_code == 403
    assert answer.json()["code"] == "mutual_tls_required"


def test_the_exchange_listener_serves_nothing_else(network):
    b = network["b"]

    answer = httpx.get(f"{b.exchange_url}/directory/", verify=trusted_context(b, True))

    assert answer.status_code == 404
    assert answer.json()["code"] == "not_on_this_listener"


def test_a_peer_presenting_another_certificate_than_the_directory_pins_gets_nothing(network):
    a, b = network["a"], network["b"]
    a.query(
        "UPDATE directory_node SET tls_certificate_sha256 = ? WHERE identifier = ?",
        ("ab" * 32, b.identifier),
    )
    try:
        ids = send(a, 1, "DOSSIER-PIN")
        wait_for(
            lambda: (
                "not the one the directory lists"
                in (
                    a.query(
                        "SELECT last_error FROM exchange_outboundmessage WHERE envelope_id = ?",
                        (ids[0],),
                    )[0][0]
                )
            ),
            what="the pin refusal",
        )
        assert states(a, ids) == {"queued": 1}
    finally:
        pin = network.pki.certificate("node-tls").sha256.hex()
        a.query(
            "UPDATE directory_node SET tls_certificate_sha256 = ? WHERE identifier = ?",
            (pin, b.identifier),
        )
    wait_for(all_delivered(a, ids), what="delivery once the pin is right again")
