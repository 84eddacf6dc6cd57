"""Scripted interconnected dossiers across the demo nodes (``lienthong demo --scenario``).

``birth`` (LT.900001): birth registration → permanent residence → health-insurance
card for a child under 6. ``death`` (LT.900002): death registration → removal of
permanent residence → funeral allowance. Decree 63/2024/NĐ-CP. ``birth-ward``: the
birth group with its first step at a ward People's Committee on Hà Nội's node.

The driver (``run``) works from outside the nodes. It asks each node to act —
in that node's own Django, as its own officers (``Node.python``) — and watches
the nodes' databases for what arrives. Everything between nodes travels as
signed exchange envelopes through the nodes' own server and worker processes:

1. on the central node the citizen submits online, with her documents, for the
   justice ministry; the portal routes the dossier there in the same transaction
   (``dossier.handoff``, step 1, her files as the envelope's attachments);
2. on each step's node the one-stop officer accepts, the specialist processes,
   the leader approves with a signed PDF result; every status goes back to the
   portal (``dossier.status``; the last one, done, as ``dossier.result`` with the
   signed PDF), and the approval hands the dossier, its files and the signed
   results so far, to the next step's node (``dossier.handoff``);
3. the citizen's view on the central node shows every step done, each with its
   signed result.

The functions ``submit_on_portal``, ``act_on_step`` and ``citizen_view`` run
inside a node.
"""

from __future__ import annotations

import datetime as dt
import io
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lienthong.demo import network as plan

SOURCE = "demo"
STATUS_LABELS = {
    1: "new",
    2: "accepted",
    3: "rejected",
    4: "processing",
    5: "supplement requested",
    6: "payment requested",
    7: "withdrawn",
    8: "stopped",
    9: "done",
    10: "result returned",
}


@dataclass(frozen=True)
class Scenario:
    name: str
    group: str  # the interconnected procedure's code
    title: str
    # The agency of each step, in order (the first is where the portal routes it).
    agencies: tuple[str, ...]


SCENARIOS = {
    "birth": Scenario(
        "birth",
        "LT.900001",
        "birth registration → permanent residence → health-insurance card (child under 6)",
        (plan.JUSTICE, plan.POLICE, plan.SOCIAL),
    ),
    # Birth registration is the commune (ward) People's Committee's by law; here the
    # portal routes it to Phường Hoàn Kiếm on Hà Nội's node instead of the justice node.
    "birth-ward": Scenario(
        "birth-ward",
        "LT.900001",
        "birth registration at Phường Hoàn Kiếm (Hà Nội's node) → permanent residence → "
        "health-insurance card (child under 6)",
        (plan.HANOI_WARDS[0], plan.POLICE, plan.SOCIAL),
    ),
    "death": Scenario(
        "death",
        "LT.900002",
        "death registration → removal of permanent residence → funeral allowance",
        (plan.JUSTICE, plan.POLICE, plan.SOCIAL),
    ),
}
STAFF = {
    plan.JUSTICE: "tuphap",
    plan.POLICE: "congan",
    plan.SOCIAL: "bhxh",
    plan.HANOI_WARDS[0]: "hoankiem",
}


class ScenarioFailed(Exception):
    """The scenario did not reach its end; the message says where, in one line."""


# --- Inside a node ----------------------------------------------------------------------


def _ascii(text: str) -> str:
    """Latin letters without diacritics, for the PDF's built-in font."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    return (
        "".join(c for c in decomposed if not unicodedata.combining(c))
        .encode("ascii", "replace")
        .decode()
    )


def _pdf(title: str, lines: list[str]) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=A4)
    page.setTitle(_ascii(title))
    page.setFont("Helvetica-Bold", 14)
    page.drawString(72, 770, _ascii(title))
    page.setFont("Helvetica", 11)
    for number, line in enumerate(lines):
        page.drawString(72, 740 - 18 * number, _ascii(line))
    page.setFont("Helvetica-Oblique", 9)
    page.drawString(72, 60, "TEST document of the Lien Thong demo - no legal value")
    page.save()
    return buffer.getvalue()


def _upload(content: bytes, name: str):
    upload = io.BytesIO(content)
    upload.name = name
    upload.size = len(content)
    return upload


def form_data(name: str, today: dt.date) -> dict[str, Any]:
    """What the citizen declares for the first step of scenario ``name``."""
    address = {"street": "Số 12 phố Hàng Bạc", "commune_code": "00070", "province_code": "01"}
    applicant = {
        "applicant_name": plan.CITIZEN_NAME,
        "applicant_id": plan.CITIZEN_ID,
        "applicant_phone": plan.CITIZEN_PHONE,
        "applicant_address": address,
    }
    if name.startswith("birth"):
        return {
            "child_name": "Nguyễn Minh An",
            "child_birth_date": (today - dt.timedelta(days=3)).strftime("%d/%m/%Y"),
            "child_sex": "nam",
            "child_birth_place": "Bệnh viện Phụ sản Hà Nội",
            "mother_name": plan.CITIZEN_NAME,
            "mother_id": plan.CITIZEN_ID,
            "father_name": "Trần Văn Hùng",
            "father_id": "001089054321",
            **applicant,
        }
    return {
        "deceased_name": "Nguyễn Văn Thành",
        "deceased_id": "001045012345",
        "death_date": (today - dt.timedelta(days=2)).strftime("%d/%m/%Y"),
        "death_place": "Bệnh viện Bạch Mai, Hà Nội",
        "relationship": "Con",
        **applicant,
    }


def _envelopes_since(mark: int) -> list[dict[str, Any]]:
    from lienthong.exchange.models import OutboundMessage

    return [
        {
            "type": m.type,
            "id": m.envelope_id,
            "to": m.recipient,
            "files": len(m.attachment_digests.split()),
        }
        for m in OutboundMessage.objects.filter(pk__gt=mark).order_by("pk")
    ]


def _mark() -> int:
    from lienthong.exchange.models import OutboundMessage

    last = OutboundMessage.objects.order_by("-pk").values_list("pk", flat=True).first()
    return last or 0


def _hop(node: str, dossier, action: str, envelopes: list[dict[str, str]]) -> dict[str, Any]:
    from django.utils import timezone

    return {
        "at": timezone.localtime().isoformat(timespec="seconds"),
        "node": node,
        # The agency whose dossier this is on that node: the one that received it (on
        # the portal's node, a routed dossier is held by the first step's agency).
        "agency": dossier.receiving_agency.identifier,
        "action": action,
        "status": int(dossier.status),
        "code": dossier.code,
        "step": dossier.step.position if dossier.step_id else None,
        "envelopes": envelopes,
    }


def submit_on_portal(name: str) -> dict[str, Any]:
    """The citizen submits scenario ``name``'s dossier on the portal, which routes it."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from lienthong.catalog.models import InterconnectedProcedure
    from lienthong.directory.models import Agency
    from lienthong.dossiers.intake import always_required
    from lienthong.portal import services as portal

    scenario = SCENARIOS[name]
    citizen = get_user_model().objects.get(username=plan.CITIZEN_ID)
    group = InterconnectedProcedure.objects.get(code=scenario.group)
    procedure = group.steps.order_by("position").first().procedure
    documents = {
        document.pk: [
            _upload(
                _pdf(document.name_en or document.name, [procedure.name, plan.CITIZEN_NAME]),
                f"document-{document.pk}.pdf",
            )
        ]
        for document in always_required(procedure)
    }
    optional = procedure.documents.first()
    if not documents and optional is not None:  # none required: she attaches one anyway
        documents = {optional.pk: [_upload(_pdf(optional.name, [plan.CITIZEN_NAME]), "giay.pdf")]}
    first = Agency.objects.get(identifier=scenario.agencies[0])
    mark = _mark()
    # The portal (this node) receives the dossier and, the first step's agency
    # being on another node, routes it there in the same transaction.
    dossier = portal.submit(
        actor=citizen,
        procedure=procedure,
        agency=first,
        form_data=form_data(name, timezone.localdate()),
        documents=documents,
        interconnected=group,
    )
    files = dossier.attachments.count()
    hop = _hop(
        "central",
        dossier,
        f"submitted online by the citizen with {files} file(s); "
        f"routed by the portal to {first.identifier} (step 1)",
        _envelopes_since(mark),
    )
    return {"code": dossier.code, "hops": [hop]}


def _signed_result(*, leader, dossier, pki_dir: str) -> io.BytesIO:
    from lienthong.trust import keystore, signing, testpki

    key = keystore.signing_keys(enabled=True).filter(agency=dossier.current_agency).first()
    pdf = _pdf(
        f"TEST result: {dossier.procedure.name}",
        [
            f"Dossier {dossier.code} (origin {dossier.origin_code})",
            f"Applicant: {dossier.applicant_name}",
            f"Agency: {dossier.current_agency.name}",
            f"Approved by {leader.get_username()}",
        ],
    )
    if key is not None:
        pdf = signing.sign_pdf(
            actor=leader,
            key=key,
            pdf=pdf,
            level="B-T",
            timestamp_url=testpki.load_test_pki(pki_dir).tsa_url,
            reason="Phê duyệt kết quả",
            location="Liên Thông demo",
            source=SOURCE,
        )
    return _upload(pdf, f"{dossier.code}-result.pdf")


def act_on_step(*, node: str, origin_code: str, position: int, pki_dir: str) -> dict[str, Any]:
    """The step's agency decides: accept (one-stop officer), process (specialist),
    approve with a signed result (leader)."""
    from django.contrib.auth import get_user_model

    from lienthong.dossiers import services
    from lienthong.dossiers.models import Dossier

    dossier = Dossier.objects.select_related("current_agency", "step").get(
        origin_code=origin_code, step__position=position
    )
    prefix = STAFF[dossier.current_agency.identifier]
    users = get_user_model().objects
    hops = []
    for suffix, action, verb in (
        ("motcua", services.accept, "accepted by the one-stop officer"),
        ("chuyenvien", services.process, "processed by the specialist"),
        ("lanhdao", services.approve, "approved by the leader, signed result"),
    ):
        actor = users.get(username=f"{prefix}.{suffix}")
        extra = {}
        if action is services.approve:
            extra["result"] = _signed_result(leader=actor, dossier=dossier, pki_dir=pki_dir)
        mark = _mark()
        dossier = action(actor=actor, dossier=dossier, expected_version=dossier.version, **extra)
        dossier = Dossier.objects.select_related("current_agency", "step").get(pk=dossier.pk)
        hops.append(_hop(node, dossier, verb, _envelopes_since(mark)))
    return {"code": dossier.code, "hops": hops, "result": bool(dossier.result_id)}


def citizen_view(code: str) -> dict[str, Any]:
    """The citizen's dossier on the portal as she follows it: each step's agency and
    the last status it reported."""
    from django.contrib.auth import get_user_model

    from lienthong.dossiers import interconnection, selectors
    from lienthong.portal import selectors as portal

    citizen = get_user_model().objects.get(username=plan.CITIZEN_ID)
    dossier = selectors.my_dossiers(citizen).get(code=code)
    steps = {
        s.position: {
            "position": s.position,
            "procedure": s.procedure.name,
            "agency": "",
            "status": 0,
            "result": None,
        }
        for s in dossier.interconnected.steps.select_related("procedure")
    }
    for event in selectors.timeline(dossier).filter(action="step_status"):
        if event.step in steps:
            steps[event.step].update(agency=event.agency.identifier, status=event.status_to)
    for position, result in interconnection.step_results(dossier).items():
        if position in steps:
            steps[position]["result"] = {"name": result.original_name, "sha256": result.sha256}
    return {
        "code": dossier.code,
        "group": dossier.interconnected.name,
        "status": int(dossier.status),
        # What her pages show: the status the agency holding it last reported, and that agency.
        "shown_status": portal.shown_status(dossier),
        "holder": dossier.current_agency.identifier,
        "steps": [steps[p] for p in sorted(steps)],
    }


# --- The driver -------------------------------------------------------------------------


def _wait(what: str, probe: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise ScenarioFailed(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def _applied(net, envelope: dict[str, str], timeout: float) -> tuple[str, str, str]:
    """Wait until the envelope's recipient node applied it: (node, outcome, time)."""
    agency = envelope["to"].split(":")[2]
    node = plan.HOST_OF.get(agency)
    if node is None or node not in net.nodes:
        raise ScenarioFailed(f"envelope {envelope['id']} goes to {agency}, not a node of this demo")
    rows = _wait(
        f"{envelope['type']} {envelope['id']} to be applied on node {node}",
        lambda: net[node].query(
            "SELECT outcome, applied_at FROM dossiers_appliedenvelope WHERE envelope_id = ?",
            (envelope["id"],),
        ),
        timeout,
    )
    outcome, applied_at = rows[0]
    if outcome not in ("created", "recorded"):
        raise ScenarioFailed(f"{envelope['type']} {envelope['id']} on node {node}: {outcome}")
    return node, outcome, str(applied_at)


def _say_hop(say, hop: dict[str, Any]) -> None:
    status = f"{hop['status']} {STATUS_LABELS.get(hop['status'], '')}"
    say(f"{hop['at'][11:19]}  {hop['node']:<8} {hop['agency']:<14} {status:<14} {hop['code']}")
    say(f"          {hop['action']}")
    for envelope in hop["envelopes"]:
        files = envelope.get("files", 0)
        if envelope["type"] == "dossier.result":
            carried = " (the signed result returned)"
        elif files:
            carried = f" ({files} file(s) carried)"
        else:
            carried = ""
        say(f"          ↳ {envelope['type']} {envelope['id']} → {envelope['to']}{carried}")


def run(
    net, name: str, *, pki_dir: str, say: Callable[[str], None] = print, timeout: float = 60
) -> dict[str, Any]:
    """Drive scenario ``name`` across the running nodes of ``net``; the citizen's
    view at the end. Raises ScenarioFailed (one line) when a hop does not happen."""
    scenario = SCENARIOS.get(name)
    if scenario is None:
        raise ScenarioFailed(f"unknown scenario {name!r} (one of: {', '.join(SCENARIOS)})")
    say(f"Scenario {name}: {scenario.title} ({scenario.group})")
    say("time      node     agency         status         dossier")
    started = time.monotonic()
    submitted = net["central"].python(f"""
        from lienthong.demo import scenario
        result = scenario.submit_on_portal({name!r})
    """)
    origin = submitted["code"]
    hops = list(submitted["hops"])
    pending = []

    def show(new_hops):
        for hop in new_hops:
            _say_hop(say, hop)
            pending.extend(hop["envelopes"])

    def settle():
        while pending:
            envelope = pending.pop(0)
            node, outcome, _at = _applied(net, envelope, timeout)
            say(f"          ✓ {envelope['id']} applied on node {node} ({outcome})")

    show(submitted["hops"])
    for position, agency in enumerate(scenario.agencies, start=1):
        node = plan.HOST_OF[agency]
        settle()
        # The hand-off was applied: the step's dossier exists on its node.
        acted = net[node].python(f"""
            from lienthong.demo import scenario
            result = scenario.act_on_step(node={node!r}, origin_code={origin!r},
                                          position={position}, pki_dir={pki_dir!r})
        """)
        if not acted["result"]:
            raise ScenarioFailed(f"step {position} on node {node} was approved without a result")
        hops.extend(acted["hops"])
        show(acted["hops"])
    settle()
    view = net["central"].python(f"""
        from lienthong.demo import scenario
        result = scenario.citizen_view({origin!r})
    """)
    say("")
    say(f"The citizen's view on the portal (central node): dossier {view['code']}")
    say(f"  {view['group']}")
    for step in view["steps"]:
        status = STATUS_LABELS.get(step["status"], "not reported")
        say(f"  step {step['position']}: {step['procedure']} — {step['agency']}: {status}")
        if step["result"]:
            say(
                f"          signed result {step['result']['name']} ({step['result']['sha256'][:16]}…)"
            )
    say(
        f"  on the web: {net['central'].url}/dossiers/{origin}/ "
        f"(while the demo runs; sign in as {plan.CITIZEN_ID})"
    )
    unfinished = [s["position"] for s in view["steps"] if s["status"] != 9]
    if unfinished:
        raise ScenarioFailed(f"the portal does not show step(s) {unfinished} done")
    missing = [s["position"] for s in view["steps"] if not s["result"]]
    if missing:
        raise ScenarioFailed(f"the portal holds no signed result of step(s) {missing}")
    say(
        f"Done in {time.monotonic() - started:.1f} s: {len(hops)} hops, every step done, "
        "every signed result back on the portal."
    )
    return {"code": origin, "hops": hops, "view": view}
