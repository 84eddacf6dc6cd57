"""Benchmark: envelope throughput between two real nodes on this machine (issue "Exchange").

Run:
    LIENTHONG_DATA_DIR=$(mktemp -d) .venv/bin/python bench/exchange.py [--envelopes N] [--single N]
    ... --postgres postgres://postgres@127.0.0.1:5432/postgres   # nodes on PostgreSQL

Two nodes (lienthong.testing.nodes: each its own granian server, mutual-TLS
exchange listener (``--plain``: plain HTTP to the public server instead),
delivery worker and database) and a TEST PKI served from this process. For each
mode:

- enqueue: node a signs N envelopes of about 1 KB (type ``--type``, spread over
  ``--dossiers`` correlation ids) and queues them (outbox), 500 per transaction,
  held back so that its running worker does not take them yet; the rate is
  sign + insert;
- deliver: the envelopes released at once and a's worker woken; time until the
  last one is delivered (accepted and receipted: the receiver verified, stored,
  logged and signed a receipt; the sender verified the receipt, stored and logged
  it). The figure is envelopes per second end to end; p50/p99 latency is from
  claim to receipt per envelope (the round trip of its request); then the CPU time
  of each process (server, listener, worker of both nodes, this one) per envelope,
  against the wall time per envelope;

batched (100 per request) and one per request, each once per ``--in-flight`` value
(requests the worker keeps out at once). The CPU of both idle workers over 10 s
(they wait to be woken: exchange/wake.py). Synchronous queries: a
connected system of node a calls a service of node b's agency (a small
HTTP backend in this process), one at a time, interleaved with direct calls
to the same backend; the overhead is the difference of the percentiles.
In the same run, references:
the bare cost of signing and verifying one envelope in this process, and
requests per second of a trivial POST (a 422 from the same endpoint) on the
same server stack (mutual TLS to the listener), one at a time.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

# The sending agency; its key is ECDSA P-256 (its certificate issued by the harness
# under the TEST government CA, as for every agency), or RSA 2048 with --rsa-sender.
MINISTRY, OFFICE = "000.00.00.X04", "000.00.00.G22"


def serve_pki(directory, listener) -> None:
    from werkzeug.serving import make_server

    from lienthong.trust import testpki

    server = make_server(
        "127.0.0.1", 0, testpki.wsgi_app(directory), threaded=True, fd=listener.fileno()
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()


def wait_delivered(node, correlation: str, count: int, timeout: float) -> float:
    """Seconds until none of these envelopes is queued any more; then all must be
    delivered. The look reads the queue's partial index (the state as a literal), not
    the sent messages with their tokens: a count over those, five times a second,
    cost about a tenth of a core during the one-per-request runs."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        waiting = node.query(
            "SELECT 1 FROM exchange_outboundmessage"
            " WHERE state = 'queued' AND correlation_id LIKE ? LIMIT 1",
            (correlation + "%",),
        )
        if not waiting:
            elapsed = time.perf_counter() - start
            (done,) = node.query(
                "SELECT count(*) FROM exchange_outboundmessage"
                " WHERE correlation_id LIKE ? AND state = 'delivered'",
                (correlation + "%",),
            )[0]
            if done != count:
                raise SystemExit(f"{count - done} of {count} not delivered (refused or dead)")
            return elapsed
        time.sleep(0.2)
    raise SystemExit(f"timed out after {timeout:.0f} s")


def latencies(node, correlation: str) -> list[float]:
    rows = node.python(
        f"""
        from lienthong.exchange.models import OutboundMessage
        result = [
            (m.delivered_at - m.last_attempt_at).total_seconds()
            for m in OutboundMessage.objects.filter(correlation_id__startswith={correlation!r})
        ]
        """,
        timeout=600,
    )
    return sorted(rows)


def _stat(pid: int | str) -> list[str]:
    """A process's /proc stat fields after its name: [0] is field 3 of stat(5)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _cpu(fields: list[str]) -> float:
    """User + system CPU time of the process whose stat fields these are."""
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    return _cpu(_stat(pid))


def group_cpu_seconds(pid: int) -> float:
    """CPU time of every live process in ``pid``'s process group (a server and its workers)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat(entry.name)
        except OSError:
            continue
        if int(fields[2]) == pid:  # field 5 of stat: the process group
            total += _cpu(fields)
    return total


def node_processes(net) -> dict[str, int]:
    """The process groups whose CPU a delivery phase reports."""
    groups = {}
    for name in ("a", "b"):
        node = net[name]
        for role, process in (
            ("server", node.server),
            ("exchange listener", node.exchange_server),
            ("worker", node.worker),
        ):
            if process is not None and process.poll() is None:
                groups[f"{name} {role}"] = process.pid
    return groups


def postgres_backends(net) -> list[int]:
    """The PostgreSQL server processes serving the nodes' databases now (their CPU is
    the database's share; connections the nodes open later are not among them)."""
    a = net["a"]
    if not a.database_url.startswith("postgres"):
        return []
    import psycopg

    names = [net[name].database_url.rsplit("/", 1)[1] for name in ("a", "b")]
    with psycopg.connect(a.database_url) as db:
        rows = db.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
            (names,),
        ).fetchall()
    return [pid for (pid,) in rows]


def backends_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except OSError:  # the connection was closed since
            continue
    return total


def idle_workers(net, seconds: float = 10.0) -> None:
    """CPU the two idle workers use (the figure wake-ups are for)."""
    workers = [net[name].worker.pid for name in ("a", "b")]
    before = [cpu_seconds(pid) for pid in workers]
    time.sleep(seconds)
    used = [cpu_seconds(pid) - b for pid, b in zip(workers, before, strict=True)]
    shares = ", ".join(f"{u / seconds * 100:.1f} %" for u in used)
    print(f"idle workers over {seconds:.0f} s: {shares} of a core")


def release(node, correlation: str) -> None:
    """Make the held envelopes due now (the worker is woken after: ``wake``)."""
    update = (
        "UPDATE exchange_outboundmessage SET next_attempt_at = {at}"
        " WHERE correlation_id LIKE {like} AND state = 'queued'"
    )
    if node.database_url.startswith("postgres"):
        import psycopg

        with psycopg.connect(node.database_url, autocommit=True) as db:
            db.execute(
                update.format(at="'2000-01-01 00:00:00+00'", like="%s"), (correlation + "%",)
            )
        return
    import sqlite3

    with sqlite3.connect(node.database_url.removeprefix("sqlite:///"), timeout=30) as db:
        db.execute(update.format(at="'2000-01-01 00:00:00'", like="?"), (correlation + "%",))


def wake(node) -> None:
    """Wake the node's worker as queuing would have (exchange/wake.py: NOTIFY on
    PostgreSQL, a datagram to its port on SQLite)."""
    if node.database_url.startswith("postgres"):
        import psycopg

        with psycopg.connect(node.database_url, autocommit=True) as db:
            db.execute("SELECT pg_notify('lienthong_exchange', 'o')")
        return
    port = int((node.root / "exchange-worker.port").read_text().strip())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"o", ("127.0.0.1", port))


def run_mode(
    net,
    label: str,
    count: int,
    batch: int,
    in_flight: int,
    kind: str = "bench.note",
    dossiers: int = 50,
) -> dict:
    a = net["a"]
    a.kill_worker()
    a.extra_env = {
        **(a.extra_env or {}),
        "LIENTHONG_EXCHANGE_BATCH_SIZE": str(batch),
        "LIENTHONG_EXCHANGE_IN_FLIGHT": str(in_flight),
    }
    # The worker runs before the envelopes are queued, so that neither its start-up
    # (Django and imports: about a second of CPU) nor its first wait counts: the
    # envelopes are queued held back a day, then released at once (``release``).
    a.start_worker()
    correlation = f"BENCH-{label}-"
    # ~1 KB envelopes over `dossiers` correlation ids (order is kept per dossier: with
    # fewer dossiers than a batch holds, every batch holds all of them and the next
    # waits for it to be settled).
    started = time.perf_counter()
    a.python(
        f"""
        import datetime as dt
        from django.db import transaction
        from django.utils import timezone
        from lienthong.exchange import services
        from lienthong.exchange.models import OutboundMessage
        text = "x" * 700
        for start in range(0, {count}, 500):
            with transaction.atomic():  # a bulk operation: 500 envelopes per commit
                queued = [
                    services.send(actor="bench", type="{kind}",
                                  sender="VN:GOV:{MINISTRY}:dossiers",
                                  recipient="VN:GOV:{OFFICE}:dossiers",
                                  correlation_id="{correlation}" + str(n % {dossiers}),
                                  payload={{"n": n, "note": text}}).pk
                    for n in range(start, min(start + 500, {count}))
                ]
                OutboundMessage.objects.filter(pk__in=queued).update(
                    next_attempt_at=timezone.now() + dt.timedelta(days=1)
                )
        """,
        timeout=3600,
    )
    enqueue = time.perf_counter() - started
    time.sleep(1)  # the worker has heard the queuing and gone back to its wait
    # Released before the clock starts: rewriting 100,000 rows is the benchmark's
    # own set-up (the worker, not woken, waits up to its fallback meanwhile).
    release(a, correlation)
    groups = node_processes(net)
    backends = postgres_backends(net)
    before = {label: group_cpu_seconds(pid) for label, pid in groups.items()}
    database_before = backends_cpu(backends)
    own = time.process_time()
    wake(a)
    elapsed = wait_delivered(a, correlation, count, timeout=7200)
    cpu = {label: group_cpu_seconds(pid) - before[label] for label, pid in groups.items()}
    if backends:
        cpu["PostgreSQL"] = backends_cpu(backends) - database_before
    cpu["benchmark (polling)"] = time.process_time() - own
    lat = latencies(a, correlation)
    return {
        "label": label,
        "count": count,
        "enqueue_rate": count / enqueue,
        "rate": count / elapsed,
        "p50": statistics.median(lat),
        "p99": lat[max(0, int(len(lat) * 0.99) - 1)],
        "cpu": cpu,
        "elapsed": elapsed,
    }


def references(net, key_p12, passphrase) -> None:
    import httpx

    a = net["a"]
    figures = a.python(
        f"""
        import time
        from lienthong.directory.models import Agency
        from lienthong.exchange import envelope
        from lienthong.trust import signing
        from lienthong.trust.models import SigningKey
        from lienthong.trust.validation.jws import verify_jws
        key = SigningKey.objects.filter(agency__identifier="{MINISTRY}").first()
        data = envelope.new(type="dossier.status", sender="VN:GOV:{MINISTRY}:dossiers",
                            recipient="VN:GOV:{OFFICE}:dossiers", correlation_id="REF",
                            payload={{"note": "x" * 700}}).as_dict()
        token = signing.sign_jws(actor="bench", key=key, payload=data, audit=False)
        assert verify_jws(token).indication == "TOTAL-PASSED"
        rounds = 300
        t = time.perf_counter()
        for _ in range(rounds):
            signing.sign_jws(actor="bench", key=key, payload=data, audit=False)
        sign = (time.perf_counter() - t) / rounds
        t = time.perf_counter()
        for _ in range(rounds):
            verify_jws(token)
        verify = (time.perf_counter() - t) / rounds
        result = {{"sign_ms": sign * 1000, "verify_ms": verify * 1000, "key": key.key_description}}
        """
    )
    print(
        f"reference: sign one envelope {figures['sign_ms']:.2f} ms, verify {figures['verify_ms']:.2f} ms"
        f" ({figures['key']}): {1000 / (figures['sign_ms'] + figures['verify_ms']):.0f} sign+verify/s"
    )
    b = net["b"]
    if b.exchange_server is not None:  # mutual TLS, to the listener the nodes use
        import ssl

        context = ssl.create_default_context(cafile=str(b.root / "tls" / "trust-list.pem"))
        context.load_cert_chain(*a.tls_files)  # httpx ignores ``cert`` beside ``verify``
        url = f"{b.exchange_url}/api/v1/exchange/envelopes"
        options = {"verify": context}
        stack = "the nodes' mutual-TLS listener"
    else:
        url, options, stack = f"{b.url}/api/v1/exchange/envelopes", {}, "the same server"
    with httpx.Client(**options) as client:
        for _ in range(50):
            client.post(url, json={})
        rounds = 1000
        t = time.perf_counter()
        for _ in range(rounds):
            client.post(url, json={})
        elapsed = time.perf_counter() - t
    print(f"reference: trivial POST (422) on {stack}, one at a time: {rounds / elapsed:.0f}/s")


class _Backend(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real backend behind a pool
    body = json.dumps({"record": "x" * 900}).encode()

    def setup(self):
        super().setup()
        # Headers and body leave in two writes: without this, Nagle's algorithm and
        # the client's delayed ACK add 40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * share) - 1)]


def run_queries(net, count: int) -> None:
    import httpx

    a, b = net["a"], net["b"]
    backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Backend)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    b.python(
        f"""
        from lienthong.directory.models import Agency
        from lienthong.exchange import queries
        from lienthong.exchange.models import AccessRight
        office = Agency.objects.get(identifier="{OFFICE}")
        queries.register_service(actor="bench", agency=office, subsystem="registry",
                                 code="records", backend_url="http://127.0.0.1:{backend.server_port}")
        AccessRight.objects.get_or_create(provider=office, message_type="query.records",
                                          consumer=Agency.objects.get(identifier="{MINISTRY}"))
        """
    )
    token = a.python(
        f"""
        from lienthong.directory.models import Agency
        from lienthong.exchange import adapter
        _, result = adapter.add_system(actor="bench", subsystem="bench", name="bench",
                                       agency=Agency.objects.get(identifier="{MINISTRY}"))
        """
    )
    through = f"{a.url}/api/v1/exchange/query/VN:GOV:{OFFICE}:registry/records/r/1"
    direct = f"http://127.0.0.1:{backend.server_port}/r/1"
    headers = {"Authorization": f"Bearer {token}"}
    timings: dict[str, list[float]] = {"direct": [], "query": []}
    with httpx.Client(timeout=30) as client:
        for _ in range(50):  # warm: connections, caches, revocation answers
            assert client.get(through, headers=headers).status_code == 200
            client.get(direct)
        for _ in range(count):
            for label, url, extra in (("direct", direct, {}), ("query", through, headers)):
                t = time.perf_counter()
                reply = client.get(url, headers=extra)
                timings[label].append(time.perf_counter() - t)
                assert reply.status_code == 200, reply.text
    backend.shutdown()
    d, q = timings["direct"], timings["query"]
    print(
        f"queries  {count:>7} one at a time: direct p50 {percentile(d, 0.5) * 1000:.2f} ms "
        f"p99 {percentile(d, 0.99) * 1000:.2f} ms; through both nodes p50 "
        f"{percentile(q, 0.5) * 1000:.2f} ms p99 {percentile(q, 0.99) * 1000:.2f} ms; "
        f"overhead p50 {(percentile(q, 0.5) - percentile(d, 0.5)) * 1000:.2f} ms "
        f"p99 {(percentile(q, 0.99) - percentile(d, 0.99)) * 1000:.2f} ms; "
        f"{count / sum(q):.0f} queries/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envelopes", type=int, default=100_000, help="batched mode")
    parser.add_argument("--single", type=int, default=20_000, help="one-per-request mode")
    parser.add_argument("--queries", type=int, default=2_000, help="synchronous queries")
    parser.add_argument("--postgres", help="PostgreSQL server URL for the nodes' databases")
    parser.add_argument(
        "--in-flight",
        default="1,4",
        help="requests the worker keeps in flight; several (comma-separated) are measured "
        "one after another in the same run",
    )
    parser.add_argument(
        "--rsa-sender", action="store_true", help="the sending agency signs with RSA 2048"
    )
    parser.add_argument(
        "--debug", action="store_true", help="the nodes in Django's debug mode (as before 12-05)"
    )
    parser.add_argument(
        "--dossiers", type=int, default=50, help="correlation ids the envelopes spread over"
    )
    parser.add_argument(
        "--type",
        default="bench.note",
        help="the envelopes' type; with a type the receiving node's apps act on "
        "(dossier.status) its worker applies each one as well, and reports it",
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="plain HTTP to the nodes' public servers (as the earlier runs) instead of mutual TLS "
        "to their exchange listeners (`serve --exchange`), as in production",
    )
    options = parser.parse_args()
    if options.postgres:
        os.environ["DATABASE_URL"] = options.postgres
    else:
        os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lienthong.settings")
    import django

    django.setup()
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    from django.conf import settings

    from lienthong.testing.nodes import NodeNetwork, NodeSpec
    from lienthong.trust import testpki

    root = Path(settings.DATA_DIR) / "bench-exchange"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    pki = testpki.build_test_pki(
        directory=root / "pki",
        base_url=f"http://127.0.0.1:{listener.getsockname()[1]}",
        force=True,
    )
    serve_pki(pki.directory, listener)
    sender_key = "rsa2048" if options.rsa_sender else "p256"
    specs = [NodeSpec("a", [MINISTRY], key=sender_key), NodeSpec("b", [OFFICE])]
    rights = [(OFFICE, "dossier.*", MINISTRY), (OFFICE, "bench.*", MINISTRY)]
    database = "PostgreSQL" if options.postgres else "SQLite"
    mode = ", debug mode" if options.debug else ""
    print(
        f"two nodes on {database}{mode}; Python {sys.version.split()[0]}; {os.cpu_count()} cores;"
        f" envelopes of type {options.type} over {options.dossiers} dossiers"
    )
    # The nodes as in production: Django's debug mode formats and keeps every SQL
    # statement (on SQLite quoting its parameters with an extra query), which cost
    # the runs before 2026-12-05 about a sixth of the receiver's CPU.
    env = {"LIENTHONG_DEBUG": "1" if options.debug else "0"}
    tls = not options.plain
    print("transport: " + ("mutual TLS to the exchange listeners" if tls else "plain HTTP"))
    with NodeNetwork(pki, specs, root / "nodes", rights, env=env, tls=tls) as net:
        references(net, None, None)
        idle_workers(net)
        if options.queries > 0:
            run_queries(net, options.queries)
        for label, count, batch in (
            ("batched", options.envelopes, 100),
            ("single", options.single, 1),
        ):
            if count <= 0:
                continue
            for in_flight in [int(n) for n in options.in_flight.split(",")]:
                figures = run_mode(
                    net,
                    f"{label}-{in_flight}",
                    count,
                    batch,
                    in_flight,
                    options.type,
                    options.dossiers,
                )
                print(
                    f"{label:<8} {count:>7} envelopes, {in_flight} in flight: enqueue "
                    f"{figures['enqueue_rate']:7.0f}/s, "
                    f"delivered end to end {figures['rate']:7.0f}/s, "
                    f"claim-to-receipt p50 {figures['p50'] * 1000:7.1f} ms "
                    f"p99 {figures['p99'] * 1000:7.1f} ms"
                )
                # Where the time went: CPU of each process group per envelope, against
                # the wall time per envelope (two cores: at most twice the wall time).
                spent = figures["cpu"]
                wall = figures["elapsed"] / count * 1000
                parts = ", ".join(f"{k} {v / count * 1000:.2f}" for k, v in spent.items())
                print(
                    f"         CPU ms per envelope: {parts}; all {sum(spent.values()) / count * 1000:.2f}"
                    f" over {wall:.2f} ms of wall time"
                )


if __name__ == "__main__":
    main()
