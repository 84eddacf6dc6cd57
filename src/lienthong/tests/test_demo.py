"""The demo network and its scripted dossiers (``lienthong demo``, lienthong.demo).

The birth scenario runs across four real nodes — central (the portal),
justice, police and social security — each with its own processes, database
and keys, the hand-offs (with the citizen's files), statuses and signed results
carried by signed exchange envelopes.
"""

from __future__ import annotations

import json
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
        ("central", 1),  # submitted on the portal and routed to the justice node at once
        *[(node, status) for node in ("justice", "police", "social") for status in (2, 4, 9)],
    ]
    origin = outcome["code"]
    assert origin.startswith(f"{demonet.PORTAL}-")
    # The submission itself queued the hand-off to the justice node (the portal routes it).
    assert [(e["type"], e["to"].split(":")[2]) for e in hops[0]["envelopes"]] == [
        ("dossier.handoff", demonet.JUSTICE)
    ]
    sent = [
        (h["node"], e["type"], e["to"].split(":")[2], e["files"])
        for h in hops
        for e in h["envelopes"]
    ]
    handoffs = {(s[0], s[2]): s[3] for s in sent if s[1] == "dossier.handoff"}
    # The citizen's files travel on; each step adds its signed result to what goes next.
    documents = handoffs[("central", demonet.JUSTICE)]
    assert documents >= 1
    assert handoffs == {
        ("central", demonet.JUSTICE): documents,
        ("justice", demonet.POLICE): documents + 1,
        ("police", demonet.SOCIAL): documents + 2,
    }
    to_portal = [(s[1], s[3]) for s in sent if s[2] == demonet.PORTAL]
    assert to_portal.count(("dossier.status", 0)) == 6  # new, accepted, processing, at each step
    assert to_portal.count(("dossier.result", 1)) == 3  # done, with the signed PDF, at each step

    # Each step's node holds its own dossier, done, with the signed result attached,
    # and the citizen's file, stored under the digest it had on the portal.
    citizens_files = birth_network["central"].query(
        "SELECT a.sha256 FROM dossiers_attachment a JOIN dossiers_dossier d"
        " ON d.id = a.dossier_id WHERE d.code = ? AND a.kind = 'document'",
        (origin,),
    )
    signed = {}
    for node in ("justice", "police", "social"):
        [(code, status, result, digest)] = birth_network[node].query(
            "SELECT d.code, d.status, d.result_id, r.sha256 FROM dossiers_dossier d"
            " JOIN dossiers_attachment r ON r.id = d.result_id WHERE d.origin_code = ?",
            (origin,),
        )
        assert code.startswith(demonet.BY_NAME[node].agencies[0])
        assert (status, result is not None) == (9, True)
        signed[node] = digest
        received = birth_network[node].query(
            "SELECT a.sha256 FROM dossiers_attachment a JOIN dossiers_dossier d"
            " ON d.id = a.dossier_id WHERE d.code = ? AND a.kind = 'document'",
            (code,),
        )
        assert sorted(received) == sorted(citizens_files)

    # Every step's signed result came back to the portal, stored against its step.
    returned = birth_network["central"].query(
        "SELECT e.step, e.note FROM dossiers_dossierevent e"
        " JOIN dossiers_dossier d ON d.id = e.dossier_id"
        " WHERE d.code = ? AND e.action = 'step_result' ORDER BY e.step",
        (origin,),
    )
    assert returned == [(1, signed["justice"]), (2, signed["police"]), (3, signed["social"])]
    assert [s["result"]["sha256"] for s in outcome["view"]["steps"]] == [
        signed["justice"],
        signed["police"],
        signed["social"],
    ]

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

    # Her pages show what the last step's agency reported, not the copy's own "new".
    view = outcome["view"]
    assert (view["status"], view["shown_status"], view["holder"]) == (1, 9, demonet.SOCIAL)

    # She was told on the portal, under her code, of the submission and of each step's
    # acceptance and result; the step's nodes told her nothing themselves.
    def notices(node: str) -> list[dict]:
        path = birth_network[node].root / "dossiers" / "notifications.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []

    assert [(n["code"], n["status"]) for n in notices("central")] == [
        (origin, status) for status in (1, 2, 9, 2, 9, 2, 9)
    ]
    assert [n for node in ("justice", "police", "social") for n in notices(node)] == []
    assert any(f"({documents} file(s) carried)" in line for line in said)
    assert any("(the signed result returned)" in line for line in said)
