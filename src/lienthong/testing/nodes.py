"""Several real nodes on loopback, for tests and benchmarks of the exchange.

Each ``Node`` is a set of processes started from the ``lienthong`` command —
the web server (granian, ``lienthong serve``) and the delivery worker
(``lienthong worker``) — with its own data folder, its own database (a SQLite
file; or, when the test run itself is on PostgreSQL, a database of its own on
that server) and its own keys from the TEST PKI. Every node gets the same
directory (the national one, with the test nodes' agencies and addresses
written in, as a snapshot from the central node would give it) and the same
access rights. Nodes are killed with SIGKILL and started again at will.

    with NodeNetwork(pki, [NodeSpec("a", [MINISTRY]), NodeSpec("b", [OFFICE])]) as net:
        net["a"].python("...")       # run code in the node's Django, print JSON back
        net["b"].kill_server(); net["b"].start_server()

The demo (``lienthong demo``) runs its nodes with the same harness: fixed
ports and identifiers from the national directory (``NodeSpec.identifier``,
``port``), the shared set-up done once and the database copied to the other
nodes (``template=True``) and data kept between runs (``reuse=True``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PG_PREFIX = ("postgres://", "postgresql://")


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@dataclass
class NodeSpec:
    """A node: its name and the agencies it hosts (each gets a signing key).

    ``identifier`` (default ``VN:GOV:TEST.{NAME}:node``), ``role``, ``title`` and
    ``port`` (default: a free one) are for networks that stand for real nodes;
    ``key`` is the kind of its agencies' keys (``p256``, or ``rsa2048`` as older
    agency certificates are)."""

    name: str
    agencies: list[str]
    identifier: str = ""
    role: str = "provincial"
    title: str = ""
    port: int = 0
    key: str = "p256"


def agency_p12(pki, agency: str, folder: Path, key: str = "p256") -> tuple[Path, str]:
    """A PKCS#12 file for ``agency``: a certificate (P-256 unless ``key`` says otherwise)
    issued now under the TEST government CA, with the agency identifier in its
    subject (UID) as agency certificates carry it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    from lienthong.trust.tests import certs
    from lienthong.trust.tests.signatures import Signer

    ca = Signer.from_pki(pki, "government-ca")
    leaf = certs.issue(
        f"TEST agency {agency}", issuer=ca.as_issuer(), ca=False, user_id=agency, key=key
    )
    passphrase = secrets.token_urlsafe(12)
    data = pkcs12.serialize_key_and_certificates(
        b"agency",
        leaf.key,
        leaf.certificate,
        list(ca.everything),
        serialization.BestAvailableEncryption(passphrase.encode()),
    )
    path = folder / f"{agency}.p12"
    path.write_bytes(data)
    return path, passphrase


def node_tls_files(pki, folder: Path) -> tuple[str, str]:
    """The TEST PKI's node TLS certificate (with its chain) and key, as PEM files."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    passphrase = pki.p12_passphrase("node-tls")
    passphrase = passphrase.encode() if isinstance(passphrase, str) else passphrase
    key, certificate, chain = pkcs12.load_key_and_certificates(
        pki.p12_path("node-tls").read_bytes(), passphrase
    )
    folder = folder / "tls"
    folder.mkdir(parents=True, exist_ok=True)
    certificate_path, key_path = folder / "node.pem", folder / "node.key"
    certificate_path.write_bytes(
        b"".join(c.public_bytes(serialization.Encoding.PEM) for c in [certificate, *chain])
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return str(certificate_path), str(key_path)


def node_tls_fingerprint(pki) -> str:
    return pki.certificate("node-tls").sha256.hex()


@dataclass
class Node:
    spec: NodeSpec
    root: Path
    port: int
    database_url: str
    server: subprocess.Popen | None = None
    worker: subprocess.Popen | None = None
    extra_env: dict[str, str] | None = None
    host: str = "127.0.0.1"
    # Mutual TLS between nodes (NodeNetwork(tls=True)): the exchange listener's port
    # and the node's certificate and key files.
    exchange_port: int = 0
    tls_files: tuple[str, str] | None = None
    exchange_server: subprocess.Popen | None = None
    worker_idle: float = 0.2

    @property
    def identifier(self) -> str:
        return self.spec.identifier or f"VN:GOV:TEST.{self.spec.name.upper()}:node"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def exchange_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.exchange_port}"

    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("LIENTHONG_", "DJANGO_", "PYTEST_"))
        }
        env.update(
            LIENTHONG_DATA_DIR=str(self.root),
            DATABASE_URL=self.database_url,
            LIENTHONG_NODE_IDENTIFIER=self.identifier,
            LIENTHONG_NODE_NAME=self.spec.title or f"TEST node {self.spec.name}",
            LIENTHONG_NODE_ROLE=self.spec.role,
            LIENTHONG_NODE_AGENCIES=",".join(self.spec.agencies),
            LIENTHONG_ALLOWED_HOSTS="127.0.0.1,localhost,[::1]",
            LIENTHONG_LOG_FORMAT="json",
            LIENTHONG_LOG_LEVEL="WARNING",
            LIENTHONG_EXCHANGE_BACKOFF_SECONDS="1",
            LIENTHONG_EXCHANGE_BACKOFF_CAP_SECONDS="2",
            LIENTHONG_EXCHANGE_LEASE_SECONDS="5",
            LIENTHONG_EXCHANGE_HTTP_TIMEOUT="5",
            PYTHONUNBUFFERED="1",
        )
        if self.tls_files:
            certificate, key = self.tls_files
            env.update(
                LIENTHONG_EXCHANGE_LISTEN_PORT=str(self.exchange_port),
                LIENTHONG_TLS_CERTIFICATE=certificate,
                LIENTHONG_TLS_PRIVATE_KEY=key,
                LIENTHONG_EXCHANGE_TLS_CLIENT_CERT=certificate,
                LIENTHONG_EXCHANGE_TLS_CLIENT_KEY=key,
            )
        env.update(self.extra_env or {})
        return env

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Read the node's database directly (milliseconds, where ``python`` takes a second)."""
        if self.database_url.startswith(PG_PREFIX):
            import psycopg

            with psycopg.connect(self.database_url) as connection:
                return connection.execute(sql.replace("?", "%s"), params).fetchall()
        import sqlite3

        with sqlite3.connect(self.database_url.removeprefix("sqlite:///"), timeout=30) as db:
            return db.execute(sql, params).fetchall()

    def _command(self, *args: str, log: str) -> subprocess.Popen:
        with open(self.root / f"{log}.log", "ab") as output:  # the child keeps its own copy
            return subprocess.Popen(
                [sys.executable, "-m", "lienthong.cli", *args],
                env=self.env(),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def python(self, code: str, timeout: float = 120) -> Any:
        """Run ``code`` in this node's Django; it sets ``result``, returned decoded from JSON."""
        program = (
            "import json, django, os\n"
            "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'lienthong.settings')\n"
            "django.setup()\n"
            "result = None\n"
            + textwrap.dedent(code)
            + "\nprint('\\nRESULT ' + json.dumps(result))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", program],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"node {self.spec.name}: {done.stderr[-3000:]}")
        line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")][-1]
        return json.loads(line[len("RESULT ") :])

    def start_server(self, wait: bool = True) -> None:
        self.server = self._command(
            "serve",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--workers",
            "1",
            log="server",
        )
        if wait:
            self.wait_for_server()

    def wait_for_server(self) -> None:
        """Until the server answers its liveness probe (60 s at most)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(f"node {self.spec.name}: the server exited; see server.log")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"node {self.spec.name}: the server did not answer within 60 s")

    def start_exchange_server(self) -> None:
        """The mutual-TLS listener (``serve --exchange``), once it completes a handshake."""
        import ssl

        self.exchange_server = self._command(
            "serve", "--exchange", "--host", self.host, "--workers", "1", log="exchange-server"
        )
        certificate, key = self.tls_files
        context = ssl.create_default_context(cafile=str(self.root / "tls" / "trust-list.pem"))
        context.load_cert_chain(certificate, key)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.exchange_server.poll() is not None:
                raise RuntimeError(f"node {self.spec.name}: see exchange-server.log")
            try:
                url = f"{self.exchange_url}/healthz"
                with urllib.request.urlopen(url, timeout=1, context=context) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"node {self.spec.name}: no TLS listener within 60 s")

    def start_worker(self) -> None:
        self.worker = self._command("worker", "--idle", str(self.worker_idle), log="worker")

    def _kill(self, process: subprocess.Popen | None) -> None:
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def kill_server(self) -> None:
        self._kill(self.server)
        self.server = None

    def kill_worker(self) -> None:
        self._kill(self.worker)
        self.worker = None

    def processes(self) -> list[subprocess.Popen]:
        return [p for p in (self.worker, self.server, self.exchange_server) if p is not None]

    def stop(self) -> None:
        self.kill_worker()
        self.kill_server()
        self._kill(self.exchange_server)
        self.exchange_server = None

    def terminate(self, timeout: float = 10) -> None:
        """Stop every process cleanly (SIGTERM: the worker finishes its round), then
        kill what is still running after ``timeout`` seconds."""
        running = [p for p in self.processes() if p.poll() is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._kill(process)
        self.worker = self.server = self.exchange_server = None


class NodeNetwork:
    """Start the nodes of ``specs``; as a context manager, stop them and drop their databases.

    ``host`` is the loopback address the nodes listen on and reach each other at:
    ``127.0.0.1``, or ``::1`` for IPv6.

    ``setup`` is more Python code for every node's shared set-up (after the
    directory, trust list and access rights), ``node_setup(node)`` code for one
    node's own (after its keys). ``template`` prepares the first node and
    copies its database for the others (their own keys and ``node_setup`` are
    still theirs): much faster than one set-up per node. ``reuse`` keeps the
    databases of an earlier run (SQLite), prepared nodes are not prepared again.
    """

    def __init__(
        self,
        pki,
        specs: list[NodeSpec],
        root: Path,
        rights: list[tuple] | None = None,
        env: dict[str, str] | None = None,
        host: str = "127.0.0.1",
        tls: bool = False,
        *,
        setup: str = "",
        node_setup=None,
        template: bool = False,
        reuse: bool = False,
        worker_idle: float = 0.2,
    ):
        self.pki = pki
        self.tls = tls
        self.root = root
        self.rights = rights or []
        self.setup = setup
        self.node_setup = node_setup
        self.template = template
        self.reuse = reuse
        base = os.environ.get("DATABASE_URL", "")
        self.pg_admin = base.rsplit("/", 1)[0] + "/postgres" if base.startswith(PG_PREFIX) else ""
        if reuse and self.pg_admin:
            raise ValueError("reuse keeps SQLite databases only")
        self.suffix = secrets.token_hex(3)
        self.nodes: dict[str, Node] = {}
        for spec in specs:
            folder = root / spec.name
            folder.mkdir(parents=True, exist_ok=True)
            if self.pg_admin:
                url = f"{self.pg_admin.rsplit('/', 1)[0]}/lt_node_{spec.name}_{self.suffix}"
            else:
                url = f"sqlite:///{folder / 'node.sqlite3'}"
            self.nodes[spec.name] = node = Node(
                spec,
                folder,
                spec.port or free_port(host),
                url,
                extra_env=env,
                host=host,
                worker_idle=worker_idle,
            )
            if tls:
                node.exchange_port = free_port(host)
                node.tls_files = node_tls_files(pki, folder)

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]

    def _pg(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.pg_admin, autocommit=True) as connection:
            connection.execute(statement)

    def __enter__(self) -> NodeNetwork:
        try:
            self.prepare_all()
            self.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def prepare_all(self) -> None:
        """Prepare every node not prepared yet (all of them, unless ``reuse``)."""
        first: Node | None = None
        for node in self.nodes.values():
            marker = node.root / "prepared"
            if self.reuse and marker.exists():
                continue
            if not self.pg_admin:
                # What an interrupted set-up left behind is started again from scratch.
                path = Path(node.database_url.removeprefix("sqlite:///"))
                for name in (path.name, path.name + "-wal", path.name + "-shm"):
                    path.with_name(name).unlink(missing_ok=True)
            if self.pg_admin:
                name = node.database_url.rsplit("/", 1)[1]
                copied = self.template and first is not None
                # A template database must have no connection: the set-up process has exited.
                source = f' TEMPLATE "{first.database_url.rsplit("/", 1)[1]}"' if copied else ""
                self._pg(f'CREATE DATABASE "{name}"{source}')
            if self.template and first is not None:
                if not self.pg_admin:
                    self._copy_sqlite(first, node)
                node.python(self._node_code(node))
            else:
                self.prepare(node)
                first = node
            marker.write_text("prepared\n", "utf-8")

    def start(self) -> None:
        """Every node's processes, started side by side; back when every server answers."""
        for node in self.nodes.values():
            node.start_server(wait=False)
            node.start_worker()
        for node in self.nodes.values():
            node.wait_for_server()
            if self.tls:
                node.start_exchange_server()

    def __exit__(self, *exc) -> None:
        for node in self.nodes.values():
            node.stop()
        if self.pg_admin:
            for node in self.nodes.values():
                name = node.database_url.rsplit("/", 1)[1]
                self._pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    @staticmethod
    def _copy_sqlite(source: Node, target: Node) -> None:
        """The source's database into the target's file (SQLite's online backup).
        Nothing of the source's data folder (its secret key, sealed keys) comes along."""
        import sqlite3

        path = Path(target.database_url.removeprefix("sqlite:///"))
        for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)
        origin = sqlite3.connect(source.database_url.removeprefix("sqlite:///"))
        copy = sqlite3.connect(path)
        try:
            origin.backup(copy)
        finally:
            copy.close()
            origin.close()

    def prepare(self, node: Node) -> None:
        """Migrate, import the directory, place the test nodes, trust the TEST PKI, keys, rights."""
        node.python(self._shared_code() + self._node_code(node))

    def _shared_code(self) -> str:
        """What every node's database holds alike: directory, placement, trust list, rights."""
        placement = {
            other.identifier: {
                "url": other.url,
                "exchange_url": other.exchange_url if self.tls else "",
                "pin": node_tls_fingerprint(self.pki) if self.tls else "",
                "agencies": other.spec.agencies,
                "role": other.spec.role,
                "name": other.spec.title or other.identifier,
            }
            for other in self.nodes.values()
        }
        code = textwrap.dedent(
            f"""
            from django.core.management import call_command
            from lienthong.directory import services as directory
            from lienthong.directory.models import Agency, Node
            from lienthong.exchange.models import AccessRight
            from lienthong.trust import keystore, testpki
            call_command("migrate", verbosity=0)
            data, source = directory.package_units_source()
            directory.import_units(actor="test", rows=directory.parse_units(data), source=source)
            directory.import_agencies(actor="test")
            for identifier, place in {placement!r}.items():
                row, _ = Node.objects.update_or_create(
                    identifier=identifier,
                    defaults=dict(name=place["name"], role=place["role"], base_url=place["url"],
                                  exchange_url=place["exchange_url"],
                                  tls_certificate_sha256=place["pin"]),
                )
                Agency.objects.filter(identifier__in=place["agencies"]).update(node=row)
            testpki.add_to_trust_list(testpki.load_test_pki({str(self.pki.directory)!r}), actor="test")
            for provider, kind, consumer in {self.rights!r}:
                AccessRight.objects.get_or_create(
                    provider=Agency.objects.get(identifier=provider), message_type=kind,
                    consumer=Agency.objects.get(identifier=consumer) if consumer else None,
                )
            """
        )
        return code + textwrap.dedent(self.setup) + "\n"

    def _node_code(self, node: Node) -> str:
        """What is this node's own: its agencies' signing keys, its TLS bundle, ``node_setup``."""
        keys = []
        for agency in node.spec.agencies:
            path, passphrase = agency_p12(self.pki, agency, node.root, node.spec.key)
            keys.append({"p12": str(path), "passphrase": passphrase, "agency": agency})
        code = textwrap.dedent(
            f"""
            from lienthong.directory.models import Agency
            from lienthong.trust import keystore
            for key in {keys!r}:
                keystore.import_pkcs12(
                    actor="test", data=open(key["p12"], "rb").read(),
                    passphrase=key["passphrase"].encode(), name="TEST " + key["agency"],
                    agency=Agency.objects.get(identifier=key["agency"]),
                )
            if {self.tls!r}:
                from lienthong.exchange import tls
                tls.ca_bundle()
            """
        )
        extra = self.node_setup(node) if self.node_setup else ""
        return code + textwrap.dedent(extra) + "\n"
