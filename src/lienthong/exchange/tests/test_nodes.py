"""Two real nodes on loopback: separate processes, databases and keys (testing/nodes.py).

Node "a" hosts the ministry, node "b" the government office. Each runs its own
web server (granian) and delivery worker; envelopes travel over HTTP between
them. Processes are killed with SIGKILL mid-batch to show that nothing is lost
and nothing is applied twice.
"""

from __future__ import annotations

import http.server
import json
import threading
import time

import httpx
import pytest

from lienthong.testing.nodes import NodeNetwork, NodeSpec

pytestmark = pytest.mark.nodes

MINISTRY, OFFICE = "000.00.00.G12", "000.00.00.G22"
A_TO_B = {"sender": f"VN:GOV:{MINISTRY}:dossiers", "recipient": f"VN:GOV:{OFFICE}:dossiers"}


@pytest.fixture(scope="module")
def network(test_pki, tmp_path_factory):
    specs = [NodeSpec("a", [MINISTRY]), NodeSpec("b", [OFFICE])]
    rights = [(OFFICE, "dossier.*", MINISTRY), (MINISTRY, "dossier.*", OFFICE)]
    # Small batches: several rounds per test, so a kill lands between or inside them.
    env = {"LIENTHONG_EXCHANGE_BATCH_SIZE": "10"}
    with NodeNetwork(test_pki, specs, tmp_path_factory.mktemp("nodes"), rights, env) as net:
        yield net


def send(node, count: int, correlation: str, type: str = "dossier.status") -> list[str]:
    return node.python(
        f"""
        from lienthong.exchange import services
        result = [
            services.send(actor="test", type={type!r}, correlation_id={correlation!r},
                          payload={{"n": n}}, **{A_TO_B!r}).envelope_id
            for n in range({count})
        ]
        """
    )


def states(node, ids: list[str]) -> dict[str, int]:
    wanted, counts = set(ids), {}
    for envelope_id, state in node.query("SELECT envelope_id, state FROM exchange_outboundmessage"):
        if envelope_id in wanted:
            counts[state] = counts.get(state, 0) + 1
    return counts


def received(node, ids: list[str]) -> list[str]:
    """The ids among ``ids`` that ``node`` stored, in the order it stored them."""
    wanted = set(ids)
    rows = node.query("SELECT envelope_id FROM exchange_inboundmessage ORDER BY id")
    return [envelope_id for (envelope_id,) in rows if envelope_id in wanted]


def wait_for(predicate, timeout: float = 90, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def all_delivered(node, ids):
    return lambda: states(node, ids) == {"delivered": len(ids)}


def test_envelopes_arrive_once_and_in_order_per_dossier(network):
    a, b = network["a"], network["b"]
    first = send(a, 5, "DOSSIER-1")
    second = send(a, 5, "DOSSIER-2")
    ids = first + second

    wait_for(all_delivered(a, ids), what="delivery")

    stored = received(b, ids)
    assert sorted(stored) == sorted(ids)  # every one, once
    assert [i for i in stored if i in first] == first  # in order per correlation id
    assert [i for i in stored if i in second] == second


def test_a_receiver_down_then_back_gets_everything_once(network):
    a, b = network["a"], network["b"]
    b.kill_server()
    try:
        ids = send(a, 10, "DOSSIER-DOWN")
        wait_for(
            lambda: (
                a.query(
                    "SELECT count(*) FROM exchange_outboundmessage"
                    " WHERE correlation_id = ? AND attempts >= 1 AND state = 'queued'",
                    ("DOSSIER-DOWN",),
                )[0][0]
                >= 1
            ),
            what="a failed attempt",
        )
    finally:
        b.start_server()
    wait_for(all_delivered(a, ids), what="delivery after the receiver came back")
    assert sorted(received(b, ids)) == sorted(ids)


def queued_while_stopped(node, count: int, correlation: str) -> list[str]:
    """Queue ``count`` envelopes with the node's worker stopped, then start it again:
    the deliveries then take several rounds, for a kill to land among them."""
    node.kill_worker()
    try:
        return send(node, count, correlation)
    finally:
        node.start_worker()


def test_a_sender_worker_killed_mid_batch_loses_nothing_and_doubles_nothing(network):
    a, b = network["a"], network["b"]
    ids = queued_while_stopped(a, 150, "DOSSIER-KILL-A")
    wait_for(lambda: len(received(b, ids)) > 0, timeout=60, what="the first deliveries")
    a.kill_worker()  # SIGKILL, mid-round or between rounds
    try:
        assert len(received(b, ids)) < len(ids)  # killed while work remained
    finally:
        a.start_worker()
    wait_for(all_delivered(a, ids), timeout=120, what="delivery after the worker restarted")
    stored = received(b, ids)
    assert len(stored) == len(set(stored)) == len(ids)


def test_a_receiver_killed_mid_batch_loses_nothing_and_doubles_nothing(network):
    a, b = network["a"], network["b"]
    ids = queued_while_stopped(a, 150, "DOSSIER-KILL-B")
    wait_for(lambda: len(received(b, ids)) > 0, timeout=60, what="the first deliveries")
    b.kill_server()  # SIGKILL: answers in flight are lost
    try:
        assert len(received(b, ids)) < len(ids)  # killed while work remained
    finally:
        b.start_server()
    wait_for(all_delivered(a, ids), timeout=120, what="delivery after the receiver restarted")
    stored = received(b, ids)
    assert len(stored) == len(set(stored)) == len(ids)
    assert stored == ids  # one dossier: its order holds across the crash


def test_a_forbidden_type_is_refused_with_its_code_at_the_sender(network):
    a, b = network["a"], network["b"]
    ids = send(a, 1, "DOSSIER-TAX", type="tax.declaration")
    wait_for(lambda: states(a, ids) == {"refused": 1}, what="the refusal")
    code = a.query(
        "SELECT refusal_code FROM exchange_outboundmessage WHERE envelope_id = ?", (ids[0],)
    )
    assert code == [("forbidden",)]
    assert received(b, ids) == []


def test_both_message_logs_verify(network):
    for node in network.nodes.values():
        assert node.python(
            """
            from lienthong.exchange import log
            result = log.verify().intact
            """
        )


def test_a_node_follows_the_directory_published_by_another(network):
    """Node b hosts the directory authority (000.00.00.G22) and publishes; node a joins
    with an anchor file and pulls over HTTP, then sees b's next change."""
    a, b = network["a"], network["b"]
    root = network.pki.certificate("government-root").sha256.hex()
    anchor = {"url": f"{b.url}/api/v1/directory/snapshot", "authority": OFFICE, "roots": [root]}
    rename = """
        from lienthong.directory import snapshots
        from lienthong.directory.models import Agency
        Agency.objects.filter(identifier="000.00.00.G12").update(name={name!r})
        result = snapshots.publish(actor="test").serial
        """
    assert b.python(rename.format(name="TEST Bộ Tài chính (tên mới)")) == 1
    # Pulled here, or by a's worker, which pulls as soon as an anchor exists.
    follow = """
        from lienthong.directory import snapshots
        from lienthong.directory.models import Agency, Snapshot
        snapshots.pull(actor="test")
        assert snapshots.pull(actor="test") is None  # nothing newer
        current = Snapshot.objects.filter(published=False).order_by("-serial").first()
        result = [current.serial, Agency.objects.get(identifier="000.00.00.G12").name]
        """
    a.python(f"""
        from lienthong.directory import snapshots
        snapshots.join(actor="test", anchor={anchor!r})
        """)  # fmt: skip
    assert a.python(follow) == [1, "TEST Bộ Tài chính (tên mới)"]
    assert b.python(rename.format(name="TEST Bộ Tài chính")) == 2
    assert a.python(follow) == [2, "TEST Bộ Tài chính"]
    # Still exchanging, on the directory it follows.
    ids = send(a, 2, "DOSSIER-AFTER-SNAPSHOT")
    wait_for(all_delivered(a, ids), what="delivery on the followed directory")


def test_an_attachment_travels_before_its_envelope_and_arrives_whole(network):
    a, b = network["a"], network["b"]
    ids = a.python(
        f"""
        import hashlib
        from lienthong.exchange import attachments, services
        data = b"%PDF-1.7\\n" + bytes(range(256)) * 4000   # about 1 MB
        digest = attachments.store_bytes(data)
        attachment = {{"sha256": digest, "size": len(data), "media_type": "application/pdf",
                       "name": "giay-khai-sinh.pdf"}}
        result = [services.send(actor="test", type="dossier.handoff", correlation_id="D-FILE",
                                payload={{}}, attachments=[attachment], **{A_TO_B!r}).envelope_id,
                  digest]
        """
    )
    envelope_id, digest = ids

    wait_for(all_delivered(a, [envelope_id]), what="the envelope with its file")

    held = b.python(
        f"""
        import hashlib
        from lienthong.exchange import attachments
        result = hashlib.sha256(b"".join(attachments.read({digest!r}))).hexdigest()
        """
    )
    assert held == digest
    assert received(b, [envelope_id]) == [envelope_id]


class _Registry(http.server.BaseHTTPRequestHandler):
    """The office's records system: answers GET /records/{n} with what it was asked."""

    def do_GET(self):
        body = json.dumps(
            {"path": self.path, "client": self.headers.get("X-Lienthong-Client")}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_synchronous_query_between_nodes_is_signed_checked_and_logged_on_both(network):
    a, b = network["a"], network["b"]
    registry = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    threading.Thread(target=registry.serve_forever, daemon=True).start()
    try:
        b.python(f"""
            from lienthong.directory.models import Agency
            from lienthong.exchange import queries
            from lienthong.exchange.models import AccessRight
            office = Agency.objects.get(identifier={OFFICE!r})
            queries.register_service(actor="test", agency=office, subsystem="registry",
                                     code="birth_records",
                                     backend_url="http://127.0.0.1:{registry.server_port}")
            AccessRight.objects.get_or_create(
                provider=office, message_type="query.birth_records",
                consumer=Agency.objects.get(identifier={MINISTRY!r}))
        """)
        token = a.python(f"""
            from lienthong.directory.models import Agency
            from lienthong.exchange import adapter
            _, result = adapter.add_system(actor="test", subsystem="queries", name="TEST",
                                           agency=Agency.objects.get(identifier={MINISTRY!r}))
        """)
        url = f"{a.url}/api/v1/exchange/query/VN:GOV:{OFFICE}:registry/birth_records/records/7"

        reply = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        again = httpx.get(url + "?copy=2", headers={"Authorization": f"Bearer {token}"})
    finally:
        registry.shutdown()

    assert reply.status_code == 200, reply.text
    assert reply.json() == {"path": "/records/7", "client": f"VN:GOV:{MINISTRY}:queries"}
    assert again.json()["path"] == "/records/7?copy=2"
    query_id = reply.headers["X-Lienthong-Query-Id"]
    kinds = "SELECT kind FROM exchange_logrecord WHERE envelope_id = ? ORDER BY sequence"
    assert [k for (k,) in a.query(kinds, (query_id,))] == [
        "query-sent",
        "response-received",
    ]
    assert [k for (k,) in b.query(kinds, (query_id,))] == [
        "query-received",
        "response-sent",
    ]
    for node in (a, b):
        assert node.python("""
            from lienthong.exchange import log
            result = log.verify().intact
        """)


def ipv6_loopback() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_two_nodes_over_ipv6(test_pki, tmp_path_factory):
    """The same exchange between nodes that listen on, and reach each other at, [::1]."""
    specs = [NodeSpec("a6", [MINISTRY]), NodeSpec("b6", [OFFICE])]
    rights = [(OFFICE, "dossier.*", MINISTRY)]
    root = tmp_path_factory.mktemp("nodes6")
    with NodeNetwork(test_pki, specs, root, rights, host="::1") as net:
        a, b = net["a6"], net["b6"]
        assert a.url.startswith("http://[::1]:")
        ids = send(a, 5, "DOSSIER-V6")
        wait_for(all_delivered(a, ids), what="delivery over IPv6")
        assert received(b, ids) == ids
