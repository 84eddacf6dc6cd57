"""lienthong demo: the multi-node demo on loopback, a scripted dossier across it, or one node.

lienthong demo                      start the demo network (first run: set it up) and serve
lienthong demo --scenario birth     drive one interconnected dossier across the nodes, print
                                    each hop (uses the running demo if there is one)
lienthong demo --single             the embedded demo: one node on SQLite in the data folder
lienthong demo --code USERNAME [--node NAME]   the current one-time code of a demo account
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import time
from pathlib import Path

import pyotp
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from lienthong.demo import demo_totp_key, ensure_demo_accounts, read_accounts
from lienthong.demo import network as demonet


class Command(BaseCommand):
    help = (
        "Start the demo network (central, Hà Nội, justice, police and social-security nodes on "
        "loopback), drive a scenario across it, or set up and serve one embedded node (--single)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--host",
            default="127.0.0.1",
            help="Address to listen on (the network: loopback, 127.0.0.1 or ::1).",
        )
        parser.add_argument(
            "--port",
            type=int,
            default=8000,
            help="--single: the node's port; the network: the central node's, the others follow",
        )
        parser.add_argument(
            "--no-serve", action="store_true", help="Prepare only; do not start the server(s)."
        )
        parser.add_argument(
            "--single", action="store_true", help="One embedded node instead of the network."
        )
        parser.add_argument(
            "--scenario",
            metavar="NAME",
            help="Drive one interconnected dossier end to end across the nodes: "
            + ", ".join(demonet_scenarios()),
        )
        parser.add_argument(
            "--code",
            metavar="USERNAME",
            help="Print the current one-time code of a demo account (from the data folder) "
            "and exit: the demo's stand-in for an authenticator app.",
        )
        parser.add_argument(
            "--node",
            metavar="NAME",
            help="With --code: the network node whose account it is ("
            + ", ".join(n.name for n in demonet.NODES)
            + ")",
        )

    def handle(self, *args, **options):
        if options["code"]:
            return self.print_code(options["code"], options["node"])
        if options["single"]:
            if options["scenario"]:
                raise CommandError("--scenario needs the network: leave out --single")
            return self.single(options)
        scenario = options["scenario"]
        if scenario is not None and scenario not in demonet_scenarios():
            raise CommandError(
                f"unknown scenario {scenario!r} (one of: {', '.join(demonet_scenarios())})"
            )
        try:
            self.network(options)
        except demonet.DemoError as exc:
            raise CommandError(str(exc)) from exc
        except RuntimeError as exc:  # a node's process failed: its last line says why
            raise CommandError(_last_line(exc)) from exc

    # --- One node ------------------------------------------------------------------------

    def print_code(self, username: str, node: str | None) -> None:
        if node:
            if node not in demonet.BY_NAME:
                raise CommandError(f"{node} is not a node of the demo network")
            path = demonet.root_folder(settings.DATA_DIR) / node / "demo-accounts.json"
        else:
            single = Path(settings.DATA_DIR) / "demo-accounts.json"
            central = demonet.root_folder(settings.DATA_DIR) / "central" / "demo-accounts.json"
            path = single if single.exists() else central
        key = demo_totp_key(username, path)
        if not key:
            raise CommandError(f"{username} is not a demo account of this data folder")
        self.stdout.write(pyotp.TOTP(key).now())

    def single(self, options) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database ready.")
        call_command("import_units", stdout=self.stdout)
        call_command("import_agencies", stdout=self.stdout)
        call_command("catalog", "seed", stdout=self.stdout)
        # Deadlines count working days: this year's and next year's public holidays.
        today = timezone.localdate()
        for year in (today.year, today.year + 1):
            call_command("catalog", "holidays", "--year", str(year), "--load", stdout=io.StringIO())
        accounts = ensure_demo_accounts()
        host = options["host"]
        shown_host = f"[{host}]" if ":" in host else host
        url = f"http://{shown_host}:{options['port']}/"
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Liên Thông demo node: {url}"))
        self.stdout.write(f"  Admin: {url}admin/   API: {url}api/v1/docs")
        self.stdout.write(
            "  Demo accounts (passwords kept in the data folder, demo-accounts.json):"
        )
        for account in accounts:
            self.stdout.write(f"    {account.username} / {account.password}  — {account.role}")
            self.stdout.write(
                f"      second step: authenticator app key {account.totp_key} "
                f"(or the code: lienthong demo --code {account.username})"
            )
        self.stdout.write("")
        if not options["no_serve"]:
            call_command("serve", host=host, port=options["port"])

    # --- The network ---------------------------------------------------------------------

    def network(self, options) -> None:
        # The demo's nodes keep SQLite databases in their data folders, whatever the
        # environment names for this process.
        os.environ.pop("DATABASE_URL", None)
        root = demonet.root_folder(settings.DATA_DIR)
        host, first_port = options["host"], options["port"]
        scenario = options["scenario"]
        running = demonet.running_pid(root)
        if running is not None:
            if not scenario:
                raise demonet.DemoError(
                    f"the demo network is already running (process {running}); "
                    "stop it with Ctrl-C first"
                )
            # Another terminal serves the network: drive the scenario on it.
            host, first_port = demonet.kept_address(root) or (host, first_port)
            net = demonet.network(self.pki(root), root, first_port=first_port, host=host)
            self.drive(net, scenario, root)
            return
        demonet.check_address(root, host, first_port)
        pki = self.pki(root)
        net = demonet.network(pki, root, first_port=first_port, host=host)
        # Ctrl-C in the terminal, or SIGTERM: stop every node cleanly, then exit.
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGINT, _interrupt)  # also when started in the background
        pki_server = None
        try:
            fresh = [n for n in net.nodes.values() if not (n.root / "prepared").exists()]
            if fresh:
                self.stdout.write(
                    f"Setting up {len(fresh)} node(s) in {root} (once; a few minutes)…"
                )
            net.prepare_all()
            if options["no_serve"] and not scenario:
                self.print_table(net)
                return
            pki_server = demonet.serve_pki(pki, root)
            self.stdout.write("Starting the nodes…")
            net.start()
            demonet.mark_running(root, {n.spec.name: n.port for n in net.nodes.values()})
            self.print_table(net)
            if scenario:
                self.drive(net, scenario, root)
                return
            self.stdout.write("Press Ctrl-C to stop every node.")
            while True:
                time.sleep(1)
                dead = demonet.dead_processes(net)
                if dead:
                    raise CommandError("a node process stopped: " + "; ".join(dead))
        except KeyboardInterrupt:
            self.stdout.write("\nStopping the nodes…")
        finally:
            for node in net.nodes.values():
                node.terminate()
            if pki_server is not None and pki_server.poll() is None:
                pki_server.terminate()
                pki_server.wait(timeout=10)
            demonet.clear_running(root)

    def pki(self, root: Path):
        try:
            return demonet.ensure_pki(root)
        except Exception as exc:  # one line for the person running the demo, not a trace
            raise demonet.DemoError(f"cannot make the demo's TEST PKI: {exc}") from exc

    def drive(self, net, scenario: str, root: Path) -> None:
        from lienthong.demo import scenario as scenarios

        try:
            scenarios.run(
                net, scenario, pki_dir=str(root / "pki"), say=self.stdout.write, timeout=90
            )
        except scenarios.ScenarioFailed as exc:
            raise CommandError(f"scenario {scenario} failed: {exc}") from exc
        except RuntimeError as exc:  # a node refused an action: its last line says why
            raise CommandError(f"scenario {scenario} failed: {_last_line(exc)}") from exc
        except subprocess.TimeoutExpired as exc:
            raise CommandError(
                f"scenario {scenario} failed: a node took more than {exc.timeout:.0f} s to act"
            ) from exc

    def print_table(self, net) -> None:
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("Liên Thông demo network (TEST PKI, loopback only)"))
        for node in net.nodes.values():
            self.stdout.write("")
            self.stdout.write(f"{node.spec.title}  [{node.spec.name}]")
            self.stdout.write(f"  {node.url}/   admin: {node.url}/admin/   {node.identifier}")
            for account in read_accounts(node.root / "demo-accounts.json"):
                second = f"  TOTP key {account.totp_key}" if account.totp_key else ""
                self.stdout.write(f"  {account.username} / {account.password}{second}")
                self.stdout.write(f"      {account.role}")
        self.stdout.write("")
        self.stdout.write(
            "Passwords are kept in each node's folder (demo-accounts.json). Current one-time "
            "code: lienthong demo --code USERNAME --node NAME."
        )


def demonet_scenarios() -> list[str]:
    from lienthong.demo.scenario import SCENARIOS

    return list(SCENARIOS)


def _last_line(exc: Exception) -> str:
    """'node justice: …the exception's last line' from a node's traceback."""
    text = str(exc).strip()
    lines = text.splitlines()
    if len(lines) <= 1:
        return text or repr(exc)
    return f"{lines[0].split(':', 1)[0]}: {lines[-1]}"


def _interrupt(signum, frame):
    raise KeyboardInterrupt
