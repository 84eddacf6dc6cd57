"""The state machine: every allowed move by whoever may make it, and refusals with a stable code."""

from __future__ import annotations

import pytest
from django.utils import timezone

from lienthong.audit.models import AuditRecord
from lienthong.dossiers import services, workflow
from lienthong.dossiers.errors import DossierConflict, IllegalTransition
from lienthong.dossiers.models import Payment, Status, SupplementRequest
from lienthong.dossiers.tests.conftest import pdf, put_in, submit
from lienthong.identity.models import Role

S = Status
PERSONA = {
    workflow.APPLICANT: "mai",
    Role.ONE_STOP_OFFICER: "lan",
    Role.SPECIALIST: "minh",
    Role.LEADER: "hoa",
    workflow.PAYMENT: "payment:console",  # a payment backend's verified confirmation
}
FEE = 150_000
ALLOWED = [
    (source, target, role)
    for (source, target), roles in workflow.TRANSITIONS.items()
    for role in sorted(roles)
]


def dossier_in(people, status: Status, *, resume: Status = S.PROCESSING):
    dossier = submit(people.procedure, people.xanh, people.mai)
    if status == S.NEW:
        return dossier
    dossier = put_in(dossier, status, accepted_at=timezone.now())
    if status == S.SUPPLEMENT_REQUESTED:
        SupplementRequest.objects.create(
            dossier=dossier, requested_at=timezone.now(), reason="Thiếu giấy", resume_status=resume
        )
    if status == S.PAYMENT_REQUESTED:
        Payment.objects.create(
            dossier=dossier,
            amount=FEE,
            reason="Lệ phí",
            requested_at=timezone.now(),
            backend="console",
            reference="console-1",
        )
    return dossier


def persona(people, role):
    name = PERSONA[role]
    return name if ":" in name else getattr(people, name)


def move(actor, dossier, to: Status):
    version = dossier.version
    if to == S.SUPPLEMENT_REQUESTED:
        return services.request_supplement(
            actor=actor, dossier=dossier, reason="Thiếu giấy chứng sinh", expected_version=version
        )
    if to == S.PAYMENT_REQUESTED:
        return services.request_payment(
            actor=actor, dossier=dossier, amount=FEE, reason="Lệ phí", expected_version=version
        )
    if dossier.status == S.PAYMENT_REQUESTED and isinstance(actor, str):
        return services.record_payment(
            actor=actor, dossier=dossier, backend="console", reference="console-1", amount=FEE
        )
    if dossier.status == S.PAYMENT_REQUESTED:
        return services.confirm_payment(actor=actor, dossier=dossier, expected_version=version)
    if dossier.status == S.SUPPLEMENT_REQUESTED and to != S.STOPPED:
        return services.answer_supplement(
            actor=actor, dossier=dossier, files=[pdf("bo-sung.pdf")], expected_version=version
        )
    return services.transition(
        actor=actor, dossier=dossier, to=to, reason="Lý do ghi rõ", expected_version=version
    )


@pytest.mark.parametrize(
    ("source", "target", "role"), ALLOWED, ids=[f"{s}-{t}-{r}" for s, t, r in ALLOWED]
)
def test_every_allowed_move_is_made_by_whoever_may_make_it(people, source, target, role):
    dossier = dossier_in(people, source, resume=target)
    actor = persona(people, role)

    moved = move(actor, dossier, target)

    assert moved.status == target
    assert moved.version == dossier.version + 1
    event = moved.events.last()
    assert (event.action, event.status_from, event.status_to, event.actor) == (
        workflow.ACTIONS[target],
        source,
        target,
        None if isinstance(actor, str) else actor,
    )
    audit = AuditRecord.objects.filter(object_id=str(moved.pk), action=workflow.ACTIONS[target])
    assert audit.get().changes["status"] == [source, target]


def test_every_status_but_the_final_ones_has_a_way_out():
    final = {s for s in Status if workflow.is_final(s)}
    assert final == {S.REJECTED, S.WITHDRAWN, S.STOPPED, S.RESULT_RETURNED}


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (S.NEW, S.PROCESSING),
        (S.NEW, S.DONE),
        (S.ACCEPTED, S.DONE),
        (S.PROCESSING, S.ACCEPTED),
        (S.PROCESSING, S.WITHDRAWN),
        (S.DONE, S.PROCESSING),
        (S.REJECTED, S.ACCEPTED),
        (S.WITHDRAWN, S.NEW),
        (S.STOPPED, S.PROCESSING),
        (S.RESULT_RETURNED, S.DONE),
    ],
)
def test_a_move_the_state_machine_does_not_have_is_refused_as_illegal(people, source, target):
    dossier = dossier_in(people, source)
    for actor in (people.mai, people.lan, people.minh, people.hoa):
        with pytest.raises(IllegalTransition) as refused:
            services.transition(
                actor=actor,
                dossier=dossier,
                to=target,
                reason="x",
                expected_version=dossier.version,
            )
        assert refused.value.code == "illegal_transition"
    dossier.refresh_from_db()
    assert dossier.status == source


def test_the_applicant_may_not_withdraw_once_processing_has_started(people):
    dossier = dossier_in(people, S.PROCESSING)
    with pytest.raises(IllegalTransition):
        services.withdraw(actor=people.mai, dossier=dossier, expected_version=dossier.version)


@pytest.mark.parametrize("who", ["mai", "minh", "hoa", "khoa", "binh"])
def test_only_a_one_stop_officer_of_the_holding_agency_accepts(people, who):
    dossier = dossier_in(people, S.NEW)
    with pytest.raises(DossierConflict) as refused:
        services.accept(
            actor=getattr(people, who), dossier=dossier, expected_version=dossier.version
        )
    assert refused.value.code == "not_allowed"
    assert refused.value.message_en == "You may not make this change to the dossier."


def test_someone_else_cannot_withdraw_the_applicants_dossier(people):
    dossier = dossier_in(people, S.NEW)
    with pytest.raises(DossierConflict) as refused:
        services.withdraw(actor=people.binh, dossier=dossier, expected_version=dossier.version)
    assert refused.value.code == "not_allowed"


def test_a_refusal_must_say_why(people):
    dossier = dossier_in(people, S.NEW)
    with pytest.raises(DossierConflict) as refused:
        services.reject(actor=people.lan, dossier=dossier, reason="  ", expected_version=1)
    assert refused.value.code == "reason_required"


def test_a_supplement_request_is_answered_only_with_the_missing_documents(people):
    dossier = dossier_in(people, S.SUPPLEMENT_REQUESTED)
    with pytest.raises(DossierConflict) as refused:
        services.transition(
            actor=people.mai, dossier=dossier, to=S.PROCESSING, expected_version=dossier.version
        )
    assert refused.value.code == "use_answer_supplement"
    with pytest.raises(DossierConflict) as refused:
        services.answer_supplement(
            actor=people.mai, dossier=dossier, files=[], expected_version=dossier.version
        )
    assert refused.value.code == "documents_missing"


def test_a_supplement_requested_at_intake_sends_the_dossier_back_to_new(people):
    dossier = dossier_in(people, S.NEW)
    asked = services.request_supplement(
        actor=people.lan, dossier=dossier, reason="Thiếu bản sao", expected_version=1
    )
    answered = services.answer_supplement(
        actor=people.mai, dossier=asked, files=[pdf("ban-sao.pdf")], expected_version=asked.version
    )
    assert answered.status == S.NEW
    assert answered.attachments.filter(kind="supplement").count() == 1


def test_stopping_a_dossier_that_waits_for_a_supplement_ends_the_pause(people):
    dossier = dossier_in(people, S.SUPPLEMENT_REQUESTED)
    services.stop(
        actor=people.hoa,
        dossier=dossier,
        reason="Quá hạn bổ sung",
        expected_version=dossier.version,
    )
    assert not SupplementRequest.objects.filter(dossier=dossier, answered_at__isnull=True).exists()


def test_refusals_read_in_vietnamese_first_and_in_english():
    from django.utils import translation

    conflict = DossierConflict("stale_dossier")
    assert conflict.message_en.startswith("Someone else changed the dossier")
    assert conflict.message_vi != conflict.message_en  # filled by the translation catalogue
    with translation.override("vi"):
        assert conflict.message == conflict.message_vi


def test_a_specialist_proposes_a_decision_without_changing_the_status(people):
    dossier = dossier_in(people, S.PROCESSING)
    proposed = services.propose(
        actor=people.minh, dossier=dossier, note="Đề nghị cấp", expected_version=dossier.version
    )
    assert (proposed.status, proposed.version) == (S.PROCESSING, dossier.version + 1)
    assert proposed.events.last().action == "proposed"
    with pytest.raises(DossierConflict) as refused:
        services.propose(
            actor=people.lan, dossier=proposed, note="x", expected_version=proposed.version
        )
    assert refused.value.code == "not_allowed"
    with pytest.raises(DossierConflict) as refused:
        services.propose(
            actor=people.minh, dossier=proposed, note="x", expected_version=dossier.version
        )
    assert refused.value.code == "stale_dossier"


def test_the_history_cannot_be_rewritten(people):
    from lienthong.dossiers.models import AppendOnlyError

    event = submit(people.procedure, people.xanh, people.mai).events.get()
    event.note = "sửa lại"
    with pytest.raises(AppendOnlyError):
        event.save()


def test_the_leader_approves_with_the_result_file_and_the_officer_returns_it(
    people, xanh_key, settings
):
    from lienthong.dossiers.tests.conftest import result_pdf, upload

    settings.TSA_URL = ""
    dossier = dossier_in(people, S.PROCESSING)
    done = services.approve(
        actor=people.hoa,
        dossier=dossier,
        expected_version=dossier.version,
        result=upload(result_pdf(), "ket-qua.pdf"),
    )
    # The signed copy is the result; the uploaded original is kept beside it.
    assert (done.status, done.result.kind, done.result.original_name) == (
        S.DONE,
        "result",
        "ket-qua-da-ky.pdf",
    )
    assert done.finished_at is not None
    returned = services.return_result(actor=people.lan, dossier=done, expected_version=done.version)
    assert returned.status == S.RESULT_RETURNED and returned.returned_at is not None
