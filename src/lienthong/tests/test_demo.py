"""The demo network and its scripted dossiers (``lienthong demo``, lienthong.demo).

The birth scenario runs across four real nodes — central (the portal),
justice, police and social security — each with its own processes, database
and keys, the hand-offs and statuses carried by signed exchange envelopes.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lienthong.demo import network as demonet
from lienthong.demo import scenario as scenarios


def lienthong(*args: str, data_dir) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lienthong", *args],
        env={**os.environ, "LIENTHONG_DATA_DIR": str(data_dir), "DATABASE_URL": ""},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--scenario", "nope"], "unknown scenario 'nope' (one of: birth, birth-ward, death)"),
        (["--single", "--scenario", "birth"], "--scenario needs the network"),
        (["--code", "operator", "--node", "moon"], "moon is not a node of the demo network"),
    ],
)
def test_a_wrong_demo_argument_exits_non_zero_with_a_one_line_reason(tmp_path, args, reason):
    done = lienthong("demo", *args, data_dir=tmp_path)

    assert done.returncode != 0
    assert reason in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "network").exists()  # refused before anything was set up


def test_every_demo_node_has_an_operator_and_officers_for_its_agencies_and_the_portal_a_citizen():
    for node in demonet.NODES:
        wishes = demonet.account_wishes(node)
        assert wishes[0].username == "operator"
        for agency, prefix, _people in node.staffed:
            assert agency in node.agencies
            officers = {w.username: w.agency_role for w in wishes if w.agency == agency}
            assert officers == {
                f"{prefix}.motcua": "one_stop_officer",
                f"{prefix}.chuyenvien": "specialist",
                f"{prefix}.lanhdao": "leader",
            }
        citizens = [w for w in wishes if w.kind == "citizen"]
        assert [c.username for c in citizens] == ([demonet.CITIZEN_ID] if node.citizen else [])
    # Each step of both groups has a node hosting its agency, with officers to act.
    for scenario in scenarios.SCENARIOS.values():
        for agency in scenario.agencies:
            node = demonet.BY_NAME[demonet.HOST_OF[agency]]
            assert scenarios.STAFF[agency] in [prefix for _a, prefix, _p in node.staffed]


@pytest.mark.parametrize("name", sorted(scenarios.SCENARIOS))
def test_what_the_citizen_declares_in_a_scenario_passes_the_first_steps_form(db, name):
    import datetime as dt

    from lienthong.catalog.models import InterconnectedProcedure
    from lienthong.dossiers.intake import clean_form_data

    group = InterconnectedProcedure.objects.get(code=scenarios.SCENARIOS[name].group)
    first = group.steps.order_by("position").first().procedure

    cleaned = clean_form_data(first, scenarios.form_data(name, dt.date(2026, 12, 4)))

    assert cleaned["applicant_id"] == demonet.CITIZEN_ID
    assert cleaned["applicant_address"]["commune_code"] == "00070"


def test_a_result_pdf_carries_vietnamese_names_in_the_built_in_font():
    assert (
        scenarios._ascii("Nguyễn Thị Mai, Đăng ký khai sinh") == "Nguyen Thi Mai, Dang ky khai sinh"
    )
    assert scenarios._pdf("Kết quả", ["Đỗ Minh Châu"]).startswith(b"%PDF-")


BIRTH_NODES = ["central", "justice", "police", "social"]


@pytest.fixture(scope="module")
def birth_network(test_pki, tmp_path_factory):
    net = demonet.network(
        test_pki,
        tmp_path_factory.mktemp("demo-network"),
        first_port=0,
        names=BIRTH_NODES,
        worker_idle=0.2,
    )
    with net:
        yield net


@pytest.mark.nodes
@pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="five node processes per run: once, on the SQLite run (the exchange's node tests "
    "and the in-process interconnection tests cover PostgreSQL)",
)
def test_a_birth_dossier_goes_from_the_portal_through_three_sectors_and_every_status_comes_back(
    birth_network, test_pki
):
    said: list[str] = []
    outcome = scenarios.run(
        birth_network, "birth", pki_dir=str(test_pki.directory), say=said.append, timeout=60
    )

    hops = outcome["hops"]
    assert [(h["node"], h["status"]) for h in hops] == [
        ("central", 1),  # submitted on the portal
        ("central", 1),  # routed to the justice node
        *[(node, status) for node in ("justice", "police", "social") for status in (2, 4, 9)],
    ]
    origin = outcome["code"]
    assert origin.startswith(f"{demonet.PORTAL}-")
    sent = [(h["node"], e["type"], e["to"].split(":")[2]) for h in hops for e in h["envelopes"]]
    assert ("central", "dossier.handoff", demonet.JUSTICE) in sent
    assert ("justice", "dossier.handoff", demonet.POLICE) in sent
    assert ("police", "dossier.handoff", demonet.SOCIAL) in sent
    assert [s for s in sent if s[1] == "dossier.handoff" and s[0] == "social"] == []
    assert sum(1 for s in sent if s[1] == "dossier.status" and s[2] == demonet.PORTAL) == 9

    # Each step's node holds its own dossier, done, with the signed result attached.
    for node in ("justice", "police", "social"):
        [(code, status, result)] = birth_network[node].query(
            "SELECT code, status, result_id FROM dossiers_dossier WHERE origin_code = ?", (origin,)
        )
        assert code.startswith(demonet.BY_NAME[node].agencies[0])
        assert (status, result is not None) == (9, True)

    # The portal recorded every status of every step, in order, on the citizen's dossier.
    reported = birth_network["central"].query(
        "SELECT e.step, e.status_to FROM dossiers_dossierevent e"
        " JOIN dossiers_dossier d ON d.id = e.dossier_id"
        " WHERE d.code = ? AND e.action = 'step_status' ORDER BY e.at, e.id",
        (origin,),
    )
    for step in (1, 2, 3):
        assert [status for s, status in reported if s == step] == [1, 2, 4, 9]
    assert [s["status"] for s in outcome["view"]["steps"]] == [9, 9, 9]
    assert [s["agency"] for s in outcome["view"]["steps"]] == [
        demonet.JUSTICE,
        demonet.POLICE,
        demonet.SOCIAL,
    ]
    assert said[-1].startswith("Done in ")
