"""Profile: where an envelope's time goes, in one process, without servers (issue "Exchange").

Run:
    LIENTHONG_DATA_DIR=$(mktemp -d) .venv/bin/python bench/exchange_profile.py [--rounds 10]
    ... --batch 1                      # one envelope per request
    ... --cprofile receive             # the top functions of a phase (enqueue, claim,
                                       # receive, http, settle, round_trip)
    ... --postgres postgres://postgres@127.0.0.1:5432/lienthong_profile   # a fresh database

One database holds both sides (the node hosts the sending agency, P-256 key, and
the receiving one), the TEST PKI is served from this process (revocation is
checked as configured). Each round queues ``--batch`` envelopes of about 1 KB
(50 dossiers) and takes them through every step the two nodes take, timed one
by one as CPU time of this process and counted in SQL statements:

- enqueue: ``services.send`` (sign, outbox insert, log record);
- claim: the sender's worker claims them (``delivery.claim``);
- receive: the receiver judges and stores the batch (``services.receive_batch``:
  parsing, signature and chain, directory facts, duplicates, bulk insert, log,
  the receipt's signature);
- settle: the sender verifies the receipt and settles (``delivery._settle``);

then, separately on fresh envelopes, the same batch through the HTTP view
behind the exchange listener's middleware (``--listener public``: the public
one's; Django, ninja's validation of the body, the JSON both ways: ``http`` is that
minus ``receive``) and a whole ``delivery.deliver_due`` round through an
in-process transport (``round_trip``: claim, post, receive, settle). And the
receiver's steps on their own, without the database, per envelope: decoding
the claims, ``envelope.parse``, ``verify_jws`` (warm: chain outcome cached),
the canonical-JSON check, the log hashes, the receipt's signature.

Figures are medians over the rounds after a warm-up round, per envelope.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

SENDER_AGENCY, RECEIVER_AGENCY = "000.00.00.X04", "000.00.00.G22"
SENDER, RECIPIENT = f"VN:GOV:{SENDER_AGENCY}:dossiers", f"VN:GOV:{RECEIVER_AGENCY}:dossiers"
HOST = "node.test"


def configure(options) -> None:
    os.environ.setdefault("LIENTHONG_DATA_DIR", tempfile.mkdtemp(prefix="exchange-profile-"))
    if options.postgres:
        os.environ["DATABASE_URL"] = options.postgres
    else:
        os.environ.pop("DATABASE_URL", None)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="lienthong.settings",
        LIENTHONG_NODE_IDENTIFIER="VN:GOV:TEST.PROFILE:node",
        LIENTHONG_NODE_AGENCIES=f"{SENDER_AGENCY},{RECEIVER_AGENCY}",
        LIENTHONG_ALLOWED_HOSTS=f"127.0.0.1,localhost,{HOST}",
        LIENTHONG_LOG_LEVEL="WARNING",
        # As in production: with Django's debug mode every statement is formatted and
        # kept (on SQLite its parameters are quoted by an extra query).
        LIENTHONG_DEBUG="1" if options.debug else "0",
        # The receiving side's HTTP handling as a node's exchange listener runs it
        # (`lienthong serve --exchange`: its lean middleware, settings.py).
        LIENTHONG_LISTENER=options.listener,
    )
    import django

    django.setup()


def prepare(data_dir: Path) -> None:
    """Migrate, the directory, both agencies on this node, the TEST PKI trusted and
    served, a P-256 key for each agency, the access right."""
    from django.core.management import call_command
    from werkzeug.serving import make_server

    from lienthong.directory import services as directory
    from lienthong.directory.models import Agency, Node
    from lienthong.exchange.models import AccessRight
    from lienthong.testing.nodes import agency_p12
    from lienthong.trust import keystore, testpki

    call_command("migrate", verbosity=0)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    pki = testpki.build_test_pki(
        directory=data_dir / "pki",
        base_url=f"http://127.0.0.1:{listener.getsockname()[1]}",
        force=True,
    )
    server = make_server(
        "127.0.0.1", 0, testpki.wsgi_app(pki.directory), threaded=True, fd=listener.fileno()
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rows, source = directory.package_units_source()
    directory.import_units(actor="profile", rows=directory.parse_units(rows), source=source)
    directory.import_agencies(actor="profile")
    node, _ = Node.objects.update_or_create(
        identifier="VN:GOV:TEST.PROFILE:node",
        defaults={"name": "profile", "role": "provincial", "base_url": f"http://{HOST}"},
    )
    Agency.objects.filter(identifier__in=[SENDER_AGENCY, RECEIVER_AGENCY]).update(node=node)
    testpki.add_to_trust_list(pki, actor="profile")
    for identifier in (SENDER_AGENCY, RECEIVER_AGENCY):
        path, passphrase = agency_p12(pki, identifier, data_dir)
        keystore.import_pkcs12(
            actor="profile",
            data=path.read_bytes(),
            passphrase=passphrase.encode(),
            name=f"profile {identifier}",
            agency=Agency.objects.get(identifier=identifier),
        )
    AccessRight.objects.get_or_create(
        provider=Agency.objects.get(identifier=RECEIVER_AGENCY),
        message_type="dossier.*",
        consumer=Agency.objects.get(identifier=SENDER_AGENCY),
    )


class Meter:
    """CPU seconds and SQL statements per phase, per round."""

    def __init__(self, profile_phase: str | None):
        self.cpu: dict[str, list[float]] = defaultdict(list)
        self.sql: dict[str, list[int]] = defaultdict(list)
        self.profile_phase = profile_phase
        self.profiler = cProfile.Profile()
        self.recording = True

    def run(self, phase: str, function, *args, **kwargs):
        from django.db import connection

        profiled = phase == self.profile_phase and self.recording
        statements = [0]

        def count(execute, sql, params, many, context):
            statements[0] += 1
            return execute(sql, params, many, context)

        # Counted by a wrapper, not CaptureQueriesContext: its formatting of every
        # statement's parameters would cost more than some of the phases.
        with connection.execute_wrapper(count):
            start = time.process_time()
            if profiled:
                self.profiler.enable()
            try:
                return function(*args, **kwargs)
            finally:
                if profiled:
                    self.profiler.disable()
                elapsed = time.process_time() - start
                if self.recording:
                    self.cpu[phase].append(elapsed)
                    self.sql[phase].append(statements[0])


def queue(count: int, tag: str) -> list:
    from django.db import transaction

    from lienthong.exchange import services

    note = "x" * 700
    with transaction.atomic():
        return [
            services.send(
                actor="profile",
                type="dossier.status",
                sender=SENDER,
                recipient=RECIPIENT,
                correlation_id=f"PROFILE-{tag}-{n % 50}",
                payload={"n": n, "note": note},
            )
            for n in range(count)
        ]


def signed(count: int, tag: str) -> list[str]:
    """Envelopes signed directly (not queued), for the receiver alone."""
    from lienthong.exchange import envelope, services
    from lienthong.trust import signing

    key = services.agency_key(SENDER_AGENCY)
    return [
        signing.sign_jws(
            actor="profile",
            key=key,
            payload=envelope.new(
                type="dossier.status",
                sender=SENDER,
                recipient=RECIPIENT,
                correlation_id=f"PROFILE-{tag}-{n % 50}",
                payload={"n": n, "note": "x" * 700},
            ).as_dict(),
            audit=False,
        )
        for n in range(count)
    ]


def steps(meter: Meter, tokens: list[str]) -> None:
    """The receiver's steps on their own (no database), one loop each."""
    from lienthong.exchange import envelope, services
    from lienthong.exchange.verify_evidence import leaf_hash, link
    from lienthong.trust.validation import jws

    claims = meter.run("· decode claims", lambda: [services._claims(t) for t in tokens])
    meter.run("· sha256 of tokens", lambda: [services._sha256(t) for t in tokens])
    meter.run("· envelope.parse", lambda: [envelope.parse(c[0]) for c in claims])
    meter.run("· verify_jws (warm)", lambda: [jws.verify_jws(t) for t in tokens])
    payloads = [envelope.unverified_payload(t) for t in tokens]
    import rfc8785

    canonical = [rfc8785.dumps(p) for p in payloads]
    meter.run("· canonical check", lambda: [jws.canonical_problem(c) for c in canonical])

    def hashes():
        previous = "0" * 64
        for n, token in enumerate(tokens):
            leaf = leaf_hash(
                {
                    "sequence": n,
                    "kind": "envelope-received",
                    "envelope_id": "0" * 36,
                    "correlation_id": "PROFILE",
                    "recorded_at": "2026-12-04T00:00:00.000Z",
                    "content_sha256": services._sha256(token),
                }
            )
            previous = link(previous, leaf)

    meter.run("· log hashes", hashes)
    entries = [
        services.Entry(c[1], services._sha256(t), True) for c, t in zip(claims, tokens, strict=True)
    ]
    meter.run(
        "· receipt signature",
        lambda: services._sign_receipt(
            entries,
            now=envelope.parse(claims[0][0]).created_at,
            signers=[RECEIVER_AGENCY],
            directory=services._Directory(),
        ),
    )


def one_round(meter: Meter, batch: int, number: int, http) -> None:
    from lienthong.exchange import delivery, services

    meter.run("enqueue", queue, batch, f"Q{number}")
    claimed = meter.run("claim", delivery.claim, batch, look_first=False)
    assert len(claimed) == batch, len(claimed)
    outcome = meter.run("receive", services.receive_batch, [m.token for m in claimed])
    assert all(e.accepted for e in outcome.entries), outcome.entries[:1]
    meter.sizes = (statistics.mean(len(m.token) for m in claimed), len(outcome.receipt))
    result = delivery.RoundResult()
    meter.run("settle", delivery._settle, claimed, outcome.receipt, result)
    assert result.delivered == batch, result

    # The HTTP view on fresh envelopes (its own dossiers).
    tokens = signed(batch, f"H{number}")
    answer = meter.run("http", http.post, services.API_PATH, json={"envelopes": tokens}, timeout=60)
    assert answer.status_code == 200, answer.text[:300]

    # A whole worker round, in-process.
    queue(batch, f"R{number}")
    done = meter.run("round_trip", delivery.deliver_due, http, batch)
    assert done.delivered == batch, done

    steps(meter, signed(batch, f"S{number}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=100, help="envelopes per request")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--postgres", help="a PostgreSQL database URL (a fresh, empty database)")
    parser.add_argument("--cprofile", metavar="PHASE", help="print the top functions of a phase")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--debug", action="store_true", help="Django's debug mode on")
    parser.add_argument(
        "--listener",
        choices=("exchange", "public"),
        default="exchange",
        help="whose middleware the HTTP view runs behind (default: the exchange listener's)",
    )
    options = parser.parse_args()
    configure(options)

    import httpx
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application

    from lienthong.trust.validation import jws

    prepare(Path(settings.DATA_DIR))
    http = httpx.Client(
        transport=httpx.WSGITransport(app=get_wsgi_application()), base_url=f"http://{HOST}"
    )
    meter = Meter(options.cprofile)
    meter.recording = False
    one_round(meter, options.batch, 0, http)  # warm: caches, chain outcome, connections
    meter.recording = True
    for number in range(1, options.rounds + 1):
        one_round(meter, options.batch, number, http)

    per = options.batch
    database = "PostgreSQL" if options.postgres else "SQLite"
    print(
        f"{database}{', debug mode' if options.debug else ''}; {options.listener} listener; Python {sys.version.split()[0]}; batches of {per}, {options.rounds} rounds; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"chain validations {jws.statistics()['chain_validations']}"
    )
    print(f"an envelope {meter.sizes[0]:.0f} characters, the batch receipt {meter.sizes[1]}")
    print(f"{'phase':<24}{'CPU ms / envelope':>18}{'statements / envelope':>24}")
    derived = {}
    medians = {phase: statistics.median(values) for phase, values in meter.cpu.items()}
    sql = {phase: statistics.median(values) for phase, values in meter.sql.items()}
    derived["http minus receive"] = (
        medians["http"] - medians["receive"],
        sql["http"] - sql["receive"],
    )
    for phase in meter.cpu:
        print(f"{phase:<24}{medians[phase] / per * 1000:>18.3f}{sql[phase] / per:>24.2f}")
    for phase, (cpu, statements) in derived.items():
        print(f"{phase:<24}{cpu / per * 1000:>18.3f}{statements / per:>24.2f}")
    both = sum(medians[p] for p in ("enqueue", "claim", "receive", "settle"))
    print(
        f"{'sum enqueue…settle':<24}{both / per * 1000:>18.3f}"
        f"{sum(sql[p] for p in ('enqueue', 'claim', 'receive', 'settle')) / per:>24.2f}"
    )
    if options.cprofile:
        print(f"\ncProfile of {options.cprofile!r}, {options.rounds} rounds, by own time:")
        stats = pstats.Stats(meter.profiler).strip_dirs().sort_stats("tottime")
        stats.print_stats(options.top)
        stats.sort_stats("cumulative").print_stats(options.top)
    http.close()


if __name__ == "__main__":
    main()
