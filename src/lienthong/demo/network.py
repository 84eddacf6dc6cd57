"""The demo network: the central node, a province's node and three sector nodes on loopback.

Each node is a set of real processes (``lienthong serve``, and ``lienthong
worker``, which delivers envelopes and applies the dossier envelopes received) with its own data
folder under ``<data>/network/<node>``, its own SQLite database and its own
agency keys, issued by a TEST PKI made once for the demo (``<data>/network/pki``,
its OCSP, CRLs and time-stamping served by ``lienthong pki serve``). Every node
holds the same national directory, with the demo's nodes placed at their
loopback addresses, the same catalogue and holidays and the same access rights.
The harness of the multi-node tests (``lienthong.testing.nodes``) starts them.

Which agency is where (the two Decree 63/2024 groups need the three sectors):

- **central** — Văn phòng Chính phủ, which runs the national public-service
  portal: the citizen submits there and follows her dossier there;
- **hanoi** — Thành phố Hà Nội's node: the People's Committee, its twelve
  departments and three ward committees;
- **justice** — Bộ Tư pháp's civil-status system (birth and death registration);
- **police** — Bộ Công an's residence system (permanent residence);
- **social** — Bộ Tài chính, of which Vietnam Social Security is part since
  2025 (health-insurance cards, funeral allowance).

The catalogue names no agency for the police and social-security steps (the
directory does not list commune police or social-security offices), so the
demo links those procedures to the ministries above, and the first steps to
the portal's agency, which receives them online, and to the civil-status
authorities the portal routes them to.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from lienthong.demo import AccountWish
from lienthong.identity.models import Role

PORTAL = "000.00.00.G22"  # Văn phòng Chính phủ (national public-service portal)
JUSTICE = "000.00.00.X05"  # Bộ Tư pháp
POLICE = "000.00.00.X02"  # Bộ Công an
SOCIAL = "000.00.00.G12"  # Bộ Tài chính (Vietnam Social Security)
HANOI = "000.00.00.T01"  # Ủy ban nhân dân thành phố Hà Nội
HANOI_DEPARTMENTS = [f"000.00.{n:02d}.T01" for n in range(1, 13)]
# Phường Hoàn Kiếm (00070), Phường Cửa Nam (00073), Phường Ba Đình (00004).
HANOI_WARDS = ["000.70.00.T01", "000.73.00.T01", "000.04.00.T01"]

CITIZEN_ID = "001190012345"  # chị Nguyễn Thị Mai's personal ID number (a demo value)
CITIZEN_NAME = "Nguyễn Thị Mai"
CITIZEN_PHONE = "0912345678"

# Procedures of the two groups and the agencies the demo links them to.
LINKS = {
    # Birth and death registration: received online by the portal, which routes them
    # to the civil-status authority the citizen chose (Phường Hoàn Kiếm registers
    # births itself in the birth-ward scenario).
    "1.001193": [PORTAL, JUSTICE, HANOI_WARDS[0]],
    "1.000656": [PORTAL, JUSTICE],
    "LT.000004": [POLICE],  # permanent-residence registration
    "LT.000006": [POLICE],  # removal of permanent residence
    "LT.000007": [SOCIAL],  # health-insurance card for a child under 6
    "LT.000008": [SOCIAL],  # funeral allowance
}
# Every agency of the groups may send dossier envelopes to every other (Phường Hoàn
# Kiếm registers births itself in the birth-ward scenario).
EXCHANGING = [PORTAL, JUSTICE, POLICE, SOCIAL, HANOI_WARDS[0]]
RIGHTS = [(p, "dossier.*", c) for p in EXCHANGING for c in EXCHANGING if p != c]

PKI_PORT = 9780
FIRST_PORT = 8000

STAFF_ROLES = [
    ("motcua", Role.ONE_STOP_OFFICER, "one-stop officer (cán bộ một cửa)"),
    ("chuyenvien", Role.SPECIALIST, "specialist (chuyên viên)"),
    ("lanhdao", Role.LEADER, "leader (lãnh đạo)"),
]


@dataclass(frozen=True)
class DemoNode:
    name: str
    title: str
    role: str
    agencies: list[str]
    # (agency, username prefix, people's names): one-stop officer, specialist, leader.
    staffed: list[tuple[str, str, tuple[str, str, str]]] = field(default_factory=list)
    citizen: bool = False

    @property
    def identifier(self) -> str:
        return f"VN:GOV:{self.agencies[0]}:node"


NODES = [
    DemoNode(
        "central",
        "Nút trung ương (Cổng Dịch vụ công quốc gia)",
        "central",
        [PORTAL],
        [(PORTAL, "vpcp", ("Lê Thu Hà", "Phạm Quốc Bảo", "Đỗ Minh Châu"))],
        citizen=True,
    ),
    DemoNode(
        "hanoi",
        "Nút Liên Thông thành phố Hà Nội",
        "provincial",
        [HANOI, *HANOI_DEPARTMENTS, *HANOI_WARDS],
        [
            (HANOI_WARDS[0], "hoankiem", ("Trần Thị Lan", "Nguyễn Văn Minh", "Vũ Thị Hoa")),
            (HANOI_DEPARTMENTS[2], "sotuphap", ("Hoàng Anh Tú", "Bùi Thị Ngọc", "Đặng Văn Long")),
        ],
    ),
    DemoNode(
        "justice",
        "Nút Bộ Tư pháp (hộ tịch điện tử)",
        "sector",
        [JUSTICE],
        [(JUSTICE, "tuphap", ("Ngô Thị Hạnh", "Lý Văn Nam", "Trịnh Thị Thảo"))],
    ),
    DemoNode(
        "police",
        "Nút Bộ Công an (cư trú)",
        "sector",
        [POLICE],
        [(POLICE, "congan", ("Đinh Văn Hùng", "Mai Thị Yến", "Cao Văn Sơn"))],
    ),
    DemoNode(
        "social",
        "Nút Bảo hiểm xã hội Việt Nam (Bộ Tài chính)",
        "sector",
        [SOCIAL],
        [(SOCIAL, "bhxh", ("Phan Thị Dung", "Lâm Văn Phúc", "Tô Thị Quyên"))],
    ),
]
BY_NAME = {node.name: node for node in NODES}
# Which demo node hosts an agency's dossier system.
HOST_OF = {agency: node.name for node in NODES for agency in node.agencies}

# The catalogue, this year's and next year's holidays, the demo's procedure links:
# alike on every node (run once, in the first node's set-up, then copied).
SHARED_SETUP = f"""
import io
from django.core.management import call_command
from django.utils import timezone
from lienthong.audit import services as audit
from lienthong.audit.models import AuditRecord
from lienthong.catalog.models import Procedure
from lienthong.directory.models import Agency
call_command("catalog", "seed", stdout=io.StringIO())
for year in (timezone.localdate().year, timezone.localdate().year + 1):
    call_command("catalog", "holidays", "--year", str(year), "--load", stdout=io.StringIO())
from django.db import transaction
for code, identifiers in {LINKS!r}.items():
    with transaction.atomic():
        procedure = Procedure.objects.get(code=code)
        procedure.agencies.add(*Agency.objects.filter(identifier__in=identifiers))
        audit.record(actor="demo", action=AuditRecord.Action.UPDATE, obj=procedure,
                     changes={{"agencies_added": identifiers}}, source="demo")
"""


def account_wishes(node: DemoNode) -> list[AccountWish]:
    """The demo accounts of ``node``: its operator, three officers per staffed agency
    and, on the central node, the citizen."""
    wishes = [
        AccountWish(
            username="operator",
            role="node operator (quản trị hệ thống): admin, directory, keys, audit",
        )
    ]
    for agency, prefix, people in node.staffed:
        for (suffix, role, label), person in zip(STAFF_ROLES, people, strict=True):
            wishes.append(
                AccountWish(
                    username=f"{prefix}.{suffix}",
                    role=f"{label}, {agency}",
                    kind="officer",
                    display_name=person,
                    agency=agency,
                    agency_role=role.value,
                )
            )
    if node.citizen:
        wishes.append(
            AccountWish(
                username=CITIZEN_ID,
                role=f"citizen (người dân) {CITIZEN_NAME}: portal, her dossiers",
                kind="citizen",
                display_name=CITIZEN_NAME,
                phone=CITIZEN_PHONE,
            )
        )
    return wishes


def accounts_setup(node) -> str:
    """Set-up code for one harness node: its demo accounts, kept in its data folder."""
    wishes = [dataclasses.asdict(w) for w in account_wishes(BY_NAME[node.spec.name])]
    return f"""
from pathlib import Path
from lienthong.demo import AccountWish, ensure_accounts
ensure_accounts([AccountWish(**w) for w in {wishes!r}], Path({str(node.root)!r}) / "demo-accounts.json")
"""


def specs(first_port: int = FIRST_PORT, names: list[str] | None = None):
    """The harness's node specs for the demo nodes ``names`` (default: all)."""
    from lienthong.testing.nodes import NodeSpec

    chosen = [n for n in NODES if names is None or n.name in names]
    return [
        NodeSpec(
            n.name,
            list(n.agencies),
            identifier=n.identifier,
            role=n.role,
            title=n.title,
            port=first_port + NODES.index(n) if first_port else 0,
        )
        for n in chosen
    ]


LOOPBACK = ("127.0.0.1", "::1")


def network(
    pki,
    root: Path,
    *,
    first_port: int = FIRST_PORT,
    names=None,
    worker_idle=1.0,
    host: str = "127.0.0.1",
):
    """The demo's ``NodeNetwork`` (not started): real nodes, data kept between runs."""
    from lienthong.testing.nodes import NodeNetwork

    return NodeNetwork(
        pki,
        specs(first_port, names),
        root,
        RIGHTS,
        host=host,
        setup=SHARED_SETUP,
        node_setup=accounts_setup,
        template=True,
        reuse=not os.environ.get("DATABASE_URL", "").startswith(("postgres", "postgresql")),
        worker_idle=worker_idle,
        # The citizen's notices (email and SMS stand-ins) in each node's data folder too:
        # <node>/dossiers/notifications.jsonl.
        env={"LIENTHONG_DOSSIERS_NOTIFY_BACKENDS": "console,file"},
    )


# --- The running demo -------------------------------------------------------------------


class DemoError(Exception):
    """The demo cannot go on; the message is one line for the person running it."""


def root_folder(data_dir: Path) -> Path:
    return Path(data_dir) / "network"


def ensure_pki(root: Path, port: int = PKI_PORT):
    """The demo's TEST PKI, made on the first run and kept."""
    from lienthong.trust import testpki

    directory = root / "pki"
    if (directory / testpki.CONFIG_FILE).exists():
        return testpki.load_test_pki(directory)
    return testpki.build_test_pki(directory=directory, base_url=f"http://127.0.0.1:{port}")


def serve_pki(pki, root: Path) -> subprocess.Popen:
    """``lienthong pki serve`` for the demo's PKI, once it answers."""
    from urllib.parse import urlsplit

    url = urlsplit(pki.base_url)
    command = [sys.executable, "-m", "lienthong.cli", "pki", "serve", "--dir", str(pki.directory)]
    command += ["--host", url.hostname or "127.0.0.1", "--port", str(url.port)]
    with open(root / "pki.log", "ab") as output:
        process = subprocess.Popen(  # noqa: S603 - our own command, no shell
            command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DemoError(
                f"the TEST PKI services did not start (port {url.port}?): see {root}/pki.log"
            )
        try:
            with urllib.request.urlopen(pki.tsa_url, timeout=1):  # noqa: S310
                break
        except urllib.error.HTTPError:
            break  # it answers (a GET on the time-stamping URL is not a request)
        except OSError:
            time.sleep(0.1)
    return process


def running_pid(root: Path) -> int | None:
    """The process id of a ``lienthong demo`` serving this data folder's network, if any."""
    path = root / "running.json"
    if not path.exists():
        return None
    pid = json.loads(path.read_text("utf-8")).get("pid")
    try:
        os.kill(int(pid), 0)
    except (OSError, TypeError, ValueError):
        return None
    return int(pid)


def mark_running(root: Path, ports: dict[str, int]) -> None:
    (root / "running.json").write_text(json.dumps({"pid": os.getpid(), "ports": ports}), "utf-8")


def clear_running(root: Path) -> None:
    path = root / "running.json"
    if path.exists() and running_pid(root) in (None, os.getpid()):
        path.unlink(missing_ok=True)


def kept_address(root: Path) -> tuple[str, int] | None:
    """(host, first port) the network was set up with, if it was."""
    path = root / "ports.json"
    if not path.exists():
        return None
    kept = json.loads(path.read_text("utf-8"))
    return kept.get("host", "127.0.0.1"), kept["first_port"]


def check_address(root: Path, host: str, first_port: int) -> None:
    """The nodes' addresses are written in every node's directory on the first run:
    another address needs a fresh network folder."""
    if host not in LOOPBACK:
        raise DemoError(
            f"the demo network listens on loopback only: --host {' or '.join(LOOPBACK)} "
            "(or --single for one node on any address)"
        )
    kept = kept_address(root)
    if kept is None:
        root.mkdir(parents=True, exist_ok=True)
        (root / "ports.json").write_text(
            json.dumps({"host": host, "first_port": first_port}), "utf-8"
        )
    elif kept != (host, first_port):
        raise DemoError(
            f"this demo network was set up on {kept[0]} ports from {kept[1]}: use "
            f"--host {kept[0]} --port {kept[1]}, or remove {root} to start again"
        )


def dead_processes(net) -> list[str]:
    """'node: process' for every process of the network that has exited."""
    dead = []
    for node in net.nodes.values():
        for label, process in (
            ("server", node.server),
            ("worker", node.worker),
        ):
            if process is not None and process.poll() is not None:
                dead.append(f"{node.spec.name} {label} (see {node.root}/{label}.log)")
    return dead
