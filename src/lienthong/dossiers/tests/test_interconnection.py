"""Interconnected procedures: hand-off to the next step's agency, with the citizen's files,
and statuses and signed results back, each applied once.

The node hosts two agencies of the TEST PKI (the exchange tests' set-up):
the Ministry (000.00.00.G12) stands for the civil-status authority of step 1,
the Government Office (000.00.00.G22) for the residence authority of step 2.
Envelopes travel through the node's real exchange API, in process.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from types import SimpleNamespace

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction

from lienthong.catalog.models import AuthorityKind, InterconnectedProcedure, InterconnectedStep
from lienthong.catalog.tests.factories import ProcedureFactory
from lienthong.directory.models import Agency
from lienthong.dossiers import attachments as dossier_files
from lienthong.dossiers import interconnection, selectors, services
from lienthong.dossiers.models import AppliedEnvelope, Attachment, AttachmentKind, Dossier, Status
from lienthong.dossiers.tests.conftest import grant, officer
from lienthong.exchange import attachments as exchange_files
from lienthong.exchange import delivery
from lienthong.exchange.envelope import unverified_payload
from lienthong.exchange.models import AccessRight, InboundMessage, OutboundMessage, Receipt
from lienthong.identity.models import Role
from lienthong.trust import keystore

MINISTRY = "000.00.00.G12"
OFFICE = "000.00.00.G22"
NODE_URL = "http://node.test"


def in_process_app():
    """The node's WSGI application for an in-process client that keeps the test's connection."""
    handler = get_wsgi_application()

    def app(environ, start_response):
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            result = handler(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                result.close()
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)

    return app


def issued_key(pki, agency: Agency):
    from lienthong.trust.tests import certs
    from lienthong.trust.tests.signatures import Signer

    ca = Signer.from_pki(pki, "government-ca")
    leaf = certs.issue(
        f"TEST {agency.identifier}",
        issuer=ca.as_issuer(),
        ca=False,
        user_id=agency.identifier,
        valid_from=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
    )
    chain = b"".join(
        c.public_bytes(serialization.Encoding.PEM) for c in [leaf.certificate, *ca.everything]
    )
    key_pem = leaf.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return keystore.import_pem(
        actor="test",
        key_pem=key_pem,
        cert_pem_chain=chain,
        passphrase=None,
        name="key",
        agency=agency,
    )


@pytest.fixture
def node(settings, trusted_test_pki, mai):
    settings.NODE_AGENCIES = [MINISTRY, OFFICE]
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "node.test"]
    ministry = Agency.objects.get(identifier=MINISTRY)
    office = Agency.objects.get(identifier=OFFICE)
    for agency in (ministry, office):
        agency.node.base_url = NODE_URL
        agency.node.save(update_fields=["base_url"])
    keystore.import_pkcs12(
        actor="test",
        data=trusted_test_pki.p12_path("agency").read_bytes(),
        passphrase=trusted_test_pki.p12_passphrase("agency"),
        name="TEST ministry key",
        agency=ministry,
    )
    issued_key(trusted_test_pki, office)
    AccessRight.objects.create(provider=office, message_type="dossier.*", consumer=ministry)
    AccessRight.objects.create(provider=ministry, message_type="dossier.*", consumer=office)

    birth = ProcedureFactory(name="Đăng ký khai sinh (thử)", authority_kind=AuthorityKind.JUSTICE)
    birth.agencies.add(ministry)
    residence = ProcedureFactory(
        name="Đăng ký thường trú (thử)", authority_kind=AuthorityKind.PUBLIC_SECURITY
    )
    residence.agencies.add(office)
    chain = InterconnectedProcedure.objects.create(
        code="LT.990001", name="Liên thông khai sinh, thường trú (thử)", online_level="full"
    )
    InterconnectedStep.objects.create(interconnected=chain, position=1, procedure=birth)
    InterconnectedStep.objects.create(interconnected=chain, position=2, procedure=residence)

    staff = SimpleNamespace()
    for agency, prefix in ((ministry, "tp"), (office, "ca")):
        for role in (Role.ONE_STOP_OFFICER, Role.SPECIALIST, Role.LEADER):
            user = grant(officer(f"{prefix}.{role}", f"{prefix} {role}"), agency, role)
            setattr(staff, f"{prefix}_{role}", user)
    http = httpx.Client(transport=httpx.WSGITransport(app=in_process_app()), base_url=NODE_URL)
    yield SimpleNamespace(
        ministry=ministry, office=office, birth=birth, chain=chain, staff=staff, http=http, mai=mai
    )
    http.close()


def carry(node) -> list[AppliedEnvelope]:
    """Deliver what the outbox holds and apply what arrived."""
    delivery.deliver_due(node.http)
    return interconnection.apply_pending()


def decide(staff, prefix: str, dossier: Dossier) -> Dossier:
    dossier = services.accept(
        actor=getattr(staff, f"{prefix}_one_stop_officer"),
        dossier=dossier,
        expected_version=dossier.version,
    )
    dossier = services.process(
        actor=getattr(staff, f"{prefix}_specialist"),
        dossier=dossier,
        expected_version=dossier.version,
    )
    return services.approve(
        actor=getattr(staff, f"{prefix}_leader"), dossier=dossier, expected_version=dossier.version
    )


def test_a_done_step_is_handed_to_the_next_agency_and_its_statuses_come_back(node):
    origin = services.submit(
        actor=node.mai,
        procedure=node.birth,
        agency=node.ministry,
        form_data={},
        documents={},
        interconnected=node.chain,
    )
    assert origin.step.position == 1

    origin = decide(node.staff, "tp", origin)
    handoff = OutboundMessage.objects.get(type="dossier.handoff")
    assert handoff.correlation_id == origin.code
    assert handoff.recipient == f"VN:GOV:{OFFICE}:dossiers"
    assert origin.events.filter(action="handed_off", agency=node.office).exists()

    [applied] = carry(node)
    assert (applied.type, applied.outcome) == ("dossier.handoff", "created")
    step2 = applied.dossier
    assert (step2.current_agency, step2.status, step2.step.position) == (node.office, Status.NEW, 2)
    assert (step2.origin_code, step2.applicant_name, step2.applicant) == (
        origin.code,
        "Nguyễn Thị Mai",
        None,
    )
    assert step2.code.startswith(f"{OFFICE}-")

    [applied] = carry(node)  # the office reports "new" to the ministry
    assert (applied.type, applied.outcome) == ("dossier.status", "recorded")
    origin.refresh_from_db()
    assert (origin.status, origin.remote_agency, origin.remote_status, origin.step.position) == (
        Status.DONE,
        node.office,
        Status.NEW,
        2,
    )

    decide(node.staff, "ca", step2)
    assert not OutboundMessage.objects.filter(
        type="dossier.handoff", sender__contains=OFFICE
    ).exists()
    assert [a.outcome for a in carry(node)] == ["recorded", "recorded", "recorded"]
    origin.refresh_from_db()
    assert origin.remote_status == Status.DONE
    reported = [e.status_to for e in origin.events.filter(action="step_status")]
    assert reported == [Status.NEW, Status.ACCEPTED, Status.PROCESSING, Status.DONE]


def test_a_dossier_received_for_another_node_is_routed_to_the_first_steps_agency(node):
    """The portal's node takes the dossier and routes step 1 to the agency that acts on it."""
    origin = services.submit(
        actor=node.mai,
        procedure=node.birth,
        agency=node.ministry,
        form_data={},
        documents={},
        interconnected=node.chain,
    )
    with transaction.atomic():
        interconnection.route(actor=node.mai, dossier=origin, agency=node.office)
    handoff = OutboundMessage.objects.get(type="dossier.handoff")
    assert (handoff.correlation_id, handoff.recipient) == (origin.code, f"VN:GOV:{OFFICE}:dossiers")
    assert unverified_payload(handoff.token)["payload"]["step"] == 1
    assert origin.events.filter(action="handed_off", agency=node.office, step=1).exists()

    [applied] = carry(node)
    assert (applied.type, applied.outcome) == ("dossier.handoff", "created")
    step1 = applied.dossier
    assert (step1.current_agency, step1.status, step1.step.position) == (node.office, Status.NEW, 1)
    assert step1.origin_code == origin.code


def test_a_received_envelope_is_applied_once_however_often_it_is_applied(node):
    origin = services.submit(
        actor=node.mai,
        procedure=node.birth,
        agency=node.ministry,
        form_data={},
        documents={},
        interconnected=node.chain,
    )
    decide(node.staff, "tp", origin)
    delivery.deliver_due(node.http)
    message = InboundMessage.objects.get(type="dossier.handoff")

    first = interconnection.apply(message)
    again = interconnection.apply(message)

    assert again.pk == first.pk
    assert Dossier.objects.filter(origin_code=origin.code).count() == 1
    assert interconnection.apply_pending() == []
    assert OutboundMessage.objects.filter(type="dossier.status").count() == 1


def test_each_agency_sees_its_own_step_and_the_citizen_her_dossier(node):
    origin = services.submit(
        actor=node.mai,
        procedure=node.birth,
        agency=node.ministry,
        form_data={},
        documents={},
        interconnected=node.chain,
    )
    decide(node.staff, "tp", origin)
    step2 = carry(node)[0].dossier

    office_clerk = node.staff.ca_one_stop_officer
    assert selectors.dossier_for(office_clerk, step2.code) == step2
    assert selectors.dossier_for(office_clerk, origin.code) is None
    assert selectors.dossier_for(node.staff.tp_one_stop_officer, step2.code) is None
    assert list(selectors.my_dossiers(node.mai)) == [origin]


def status_for_unknown_dossier(node, code: str) -> AppliedEnvelope:
    """A step's status reported for a dossier this node does not hold, carried and
    applied; its outcome."""
    from lienthong.exchange import services as exchange

    exchange.send(
        actor="test",
        type="dossier.status",
        sender=f"VN:GOV:{OFFICE}:dossiers",
        recipient=f"VN:GOV:{MINISTRY}:dossiers",
        correlation_id=code,
        payload={"origin_code": code, "code": "x", "step": 2, "status": 4},
    )
    [applied] = carry(node)
    return applied


def test_a_status_for_an_unknown_dossier_is_recorded_not_retried(node):
    applied = status_for_unknown_dossier(node, "000.00.00.G12-261201-9999")
    assert applied.outcome == "unknown_dossier"
    assert interconnection.apply_pending() == []


def test_applied_envelopes_are_marked_and_not_looked_at_again(node):
    """``apply_pending`` looks for the unmarked messages only; one applied before the
    mark existed (as the migration leaves none, by hand) is marked, not applied again."""
    applied = status_for_unknown_dossier(node, "000.00.00.G12-261201-9998")
    message = InboundMessage.objects.get(envelope_id=applied.envelope_id)
    assert message.applied
    InboundMessage.objects.filter(pk=message.pk).update(applied=False)

    assert [a.pk for a in interconnection.apply_pending()] == [applied.pk]
    assert InboundMessage.objects.get(pk=message.pk).applied
    assert interconnection.apply_pending() == []
    assert AppliedEnvelope.objects.filter(envelope_id=message.envelope_id).count() == 1


def test_the_worker_command_applies_what_arrived(node):
    import io

    from django.core.management import call_command

    origin = services.submit(
        actor=node.mai,
        procedure=node.birth,
        agency=node.ministry,
        form_data={},
        documents={},
        interconnected=node.chain,
    )
    decide(node.staff, "tp", origin)
    delivery.deliver_due(node.http)
    out = io.StringIO()
    call_command("dossiers", "apply-inbound", stdout=out)
    assert out.getvalue().strip() == "applied 1 envelope(s)"
    assert Dossier.objects.filter(origin_code=origin.code, current_agency=node.office).exists()


def test_the_exchange_worker_hands_received_dossier_envelopes_to_the_dossiers(node):
    origin = services.submit(
        actor=node.mai,
        procedure=node.birth,
        agency=node.ministry,
        form_data={},
        documents={},
        interconnected=node.chain,
    )
    decide(node.staff, "tp", origin)
    delivery.deliver_due(node.http)
    assert not Dossier.objects.filter(origin_code=origin.code, current_agency=node.office).exists()
    assert delivery.consume_inbound() == 1
    assert Dossier.objects.filter(origin_code=origin.code, current_agency=node.office).exists()
    assert delivery.consume_inbound() == 0


def test_an_approval_whose_next_step_has_no_single_agency_is_refused_whole(node):
    from lienthong.directory.tests.factories import AgencyFactory
    from lienthong.dossiers.errors import DossierConflict

    residence = node.chain.steps.get(position=2).procedure
    residence.agencies.add(AgencyFactory(), AgencyFactory())  # three candidates, none local
    origin = services.submit(
        actor=node.mai,
        procedure=node.birth,
        agency=node.ministry,
        form_data={},
        documents={},
        interconnected=node.chain,
    )
    origin = services.accept(
        actor=node.staff.tp_one_stop_officer, dossier=origin, expected_version=1
    )
    origin = services.process(actor=node.staff.tp_specialist, dossier=origin, expected_version=2)
    with pytest.raises(DossierConflict) as refused:
        services.approve(actor=node.staff.tp_leader, dossier=origin, expected_version=3)
    assert refused.value.code == "no_next_agency"
    origin.refresh_from_db()
    assert (origin.status, origin.version) == (Status.PROCESSING, 3)
    assert not OutboundMessage.objects.exists()


@pytest.mark.parametrize(
    ("payload", "outcome"),
    [
        ({"interconnected": "LT.999999", "step": 2, "procedure": "LT.000000"}, "unknown_reference"),
        ({"step": 2}, "malformed"),
    ],
)
def test_a_handoff_this_node_cannot_apply_is_recorded_with_why(node, payload, outcome):
    from lienthong.exchange import services as exchange

    exchange.send(
        actor="test",
        type="dossier.handoff",
        sender=f"VN:GOV:{MINISTRY}:dossiers",
        recipient=f"VN:GOV:{OFFICE}:dossiers",
        correlation_id="000.00.00.G12-261201-0007",
        payload={"origin_code": "000.00.00.G12-261201-0007", **payload},
    )
    [applied] = carry(node)
    assert (applied.outcome, applied.dossier) == (outcome, None)
    assert not Dossier.objects.exists()


# --- Files and results travel with the envelopes -------------------------------------------


def a_pdf(title: str) -> bytes:
    from lienthong.demo.scenario import _pdf

    return _pdf(title, ["Nguyễn Thị Mai"])


def attach(dossier: Dossier, content: bytes, name: str) -> Attachment:
    blob = dossier_files.store_bytes(content, name=name)
    return Attachment.objects.create(
        dossier=dossier,
        kind=AttachmentKind.DOCUMENT,
        sha256=blob.sha256,
        size=blob.size,
        media_type=blob.media_type,
        original_name=blob.original_name,
        path=blob.path,
    )


def submitted(node) -> Dossier:
    return services.submit(
        actor=node.mai,
        procedure=node.birth,
        agency=node.ministry,
        form_data={},
        documents={},
        interconnected=node.chain,
    )


def approved_with_result(staff, prefix: str, dossier: Dossier, pdf: bytes) -> Dossier:
    """The step's agency accepts, processes and approves with ``pdf`` as the result."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    dossier = services.accept(
        actor=getattr(staff, f"{prefix}_one_stop_officer"),
        dossier=dossier,
        expected_version=dossier.version,
    )
    dossier = services.process(
        actor=getattr(staff, f"{prefix}_specialist"),
        dossier=dossier,
        expected_version=dossier.version,
    )
    return services.approve(
        actor=getattr(staff, f"{prefix}_leader"),
        dossier=dossier,
        expected_version=dossier.version,
        result=SimpleUploadedFile("giay-xac-nhan.pdf", pdf, "application/pdf"),
    )


def test_the_citizens_files_go_with_the_handoff_and_the_next_agency_opens_them(node):
    origin = submitted(node)
    scan = a_pdf("Giay chung sinh")
    document = attach(origin, scan, "giay-chung-sinh.pdf")

    decide(node.staff, "tp", origin)
    handoff = OutboundMessage.objects.get(type="dossier.handoff")
    envelope = unverified_payload(handoff.token)
    assert [a["sha256"] for a in envelope["attachments"]] == [document.sha256]
    assert [a["sha256"] for a in envelope["payload"]["attachments"]] == [document.sha256]

    [applied] = carry(node)
    assert applied.outcome == "created"
    [received] = applied.dossier.attachments.all()
    assert (received.sha256, received.kind, received.original_name) == (
        document.sha256,
        AttachmentKind.DOCUMENT,
        "giay-chung-sinh.pdf",
    )
    with dossier_files.open_blob(received.path) as handle:
        assert handle.read() == scan


def inbound(type_: str, payload: dict, *, digests: str = "", sender=MINISTRY, recipient=OFFICE):
    """A received envelope as the exchange stores it (its checks already passed)."""
    from django.utils import timezone

    from lienthong.exchange.envelope import uuid7

    now = timezone.now()
    return InboundMessage.objects.create(
        envelope_id=uuid7(),
        type=type_,
        sender=f"VN:GOV:{sender}:dossiers",
        recipient=f"VN:GOV:{recipient}:dossiers",
        correlation_id=payload["origin_code"],
        created_at=now,
        received_at=now,
        token="-",
        token_sha256="0" * 64,
        payload=payload,
        receipt=Receipt.objects.get_or_create(
            sha256="0" * 64, defaults={"token": "-", "stored_at": now}
        )[0],
        attachment_digests=digests,
    )


@pytest.mark.parametrize(
    ("case", "outcome"),
    [
        ("as_sent", "created"),
        ("not_in_the_envelope", "attachment_missing"),
        ("not_in_the_store", "attachment_missing"),
        ("other_size", "attachment_missing"),
        ("not_a_pdf", "attachment_mismatch"),
    ],
)
def test_a_handoff_whose_file_is_not_here_as_named_is_refused_whole(node, case, outcome):
    # Content of this test only: the exchange's store may outlive a test.
    pdf = a_pdf("Giay chung sinh") + b"%" + os.urandom(8).hex().encode()
    content = b"GIF89a not a pdf " + pdf if case == "not_a_pdf" else pdf
    sha256 = hashlib.sha256(content).hexdigest()
    if case != "not_in_the_store":
        exchange_files.store_bytes(content)
    size = len(content) + (1 if case == "other_size" else 0)
    described = {"sha256": sha256, "size": size, "media_type": "application/pdf"}
    message = inbound(
        "dossier.handoff",
        {
            "origin_code": "000.00.00.G12-261201-0007",
            "origin": f"VN:GOV:{MINISTRY}:dossiers",
            "interconnected": node.chain.code,
            "step": 2,
            "procedure": node.chain.steps.get(position=2).procedure.code,
            "channel": 2,
            "applicant": {"name": "Nguyễn Thị Mai"},
            "form_data": {},
            "attachments": [{**described, "name": "giay-chung-sinh.pdf", "kind": "document"}],
        },
        digests="" if case == "not_in_the_envelope" else sha256,
    )

    applied = interconnection.apply(message)

    assert applied.outcome == outcome
    if outcome == "created":
        assert [a.sha256 for a in applied.dossier.attachments.all()] == [sha256]
    else:  # nothing half-applied: no dossier, no file row, no status report
        assert (Dossier.objects.count(), Attachment.objects.count()) == (0, 0)
        assert not OutboundMessage.objects.exists()


def test_a_step_done_with_a_signed_result_sends_it_back_once(node):
    origin = decide(node.staff, "tp", submitted(node))
    step2 = carry(node)[0].dossier
    carry(node)  # "new" reported

    step2 = approved_with_result(node.staff, "ca", step2, a_pdf("Xac nhan thuong tru"))
    assert step2.result_id is not None
    sent = OutboundMessage.objects.filter(sender__contains=OFFICE).order_by("pk")
    assert [m.type for m in sent][-3:] == ["dossier.status", "dossier.status", "dossier.result"]
    assert sent.last().attachment_digests == step2.result.sha256

    assert [a.outcome for a in carry(node)] == ["recorded", "recorded", "recorded"]
    origin.refresh_from_db()
    assert (origin.status, origin.remote_status) == (Status.DONE, Status.DONE)
    reported = [e.status_to for e in origin.events.filter(action="step_status")]
    assert reported == [Status.NEW, Status.ACCEPTED, Status.PROCESSING, Status.DONE]
    [(position, result)] = interconnection.step_results(origin).items()
    assert (position, result.sha256, result.kind) == (2, step2.result.sha256, AttachmentKind.RESULT)
    assert (
        interconnection.step_result_bytes(result)
        == dossier_files.full_path(step2.result.path).read_bytes()
    )

    # Applied again, or the same result in another envelope: nothing more.
    message = InboundMessage.objects.get(type="dossier.result")
    assert interconnection.apply(message).outcome == "recorded"
    again = inbound(
        "dossier.result",
        message.payload,
        digests=message.attachment_digests,
        sender=OFFICE,
        recipient=MINISTRY,
    )
    assert interconnection.apply(again).outcome == "duplicate"
    assert origin.attachments.filter(kind=AttachmentKind.RESULT).count() == 1
    assert origin.events.filter(action="step_status").count() == 4


def test_a_result_whose_file_does_not_match_records_nothing_of_it(node):
    origin = submitted(node)
    content = b"%PDF-1.7 the result"
    sha256 = exchange_files.store_bytes(content)
    message = inbound(
        "dossier.result",
        {
            "origin_code": origin.code,
            "code": "000.00.00.G22-261201-0001",
            "step": 2,
            "status": 9,
            "reason": "",
            "at": "2026-12-01T10:00:00+07:00",
            "result": {"sha256": sha256, "size": len(content) + 5, "media_type": "application/pdf"},
        },
        digests=sha256,
        sender=OFFICE,
        recipient=MINISTRY,
    )

    assert interconnection.apply(message).outcome == "attachment_missing"
    origin.refresh_from_db()
    assert (origin.remote_status, origin.remote_agency, origin.version) == (None, None, 1)
    assert not origin.events.filter(action__in=("step_status", "step_result")).exists()
    assert interconnection.step_results(origin) == {}
