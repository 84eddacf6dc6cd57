"""The citizen of a routed dossier is told, once and under the code she knows, what the
agency holding it decides and that it refused her withdrawal; the step's own dossier
on the holder's side tells her nothing itself, and "new" or "processing" reports only
show on her page.

The set-up is the routed tests' one (``test_routed.py``).
"""

from __future__ import annotations

import pytest

from lienthong.dossiers import interconnection, notifications, services
from lienthong.dossiers.models import Status
from lienthong.dossiers.tests.test_interconnection import carry, node  # noqa: F401
from lienthong.dossiers.tests.test_routed import routed, withdrawal  # noqa: F401

pytestmark = pytest.mark.django_db


def told() -> list[tuple[str, int]]:
    return [(n.code, n.status) for n in notifications.MemoryBackend.outbox]


def test_what_the_holder_decides_is_told_once_and_its_refusal_with_why(
    node,  # noqa: F811
    routed,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    origin, step1 = routed
    officer, specialist = node.staff.ca_one_stop_officer, node.staff.ca_specialist
    notifications.MemoryBackend.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        step1 = services.accept(actor=officer, dossier=step1, expected_version=step1.version)
        step1 = services.process(actor=specialist, dossier=step1, expected_version=step1.version)
        carry(node)  # accepted and processing reported back
    assert told() == [(origin.code, Status.ACCEPTED)]  # not the step's own, not "processing"
    [accepted] = notifications.MemoryBackend.outbox
    # Under her code, worded for the step reported on (its procedure's text).
    assert origin.code in accepted.text and node.birth.name in accepted.text
    assert accepted.text.endswith(": Hồ sơ đã được tiếp nhận.")
    assert (accepted.phone, accepted.email) == (origin.applicant_phone, origin.applicant_email)

    with django_capture_on_commit_callbacks(execute=True):
        assert interconnection.apply(withdrawal(origin)).outcome == "refused"
        [recorded] = carry(node)
    assert recorded.outcome == "recorded"
    assert told() == [(origin.code, Status.ACCEPTED), (origin.code, Status.PROCESSING)]
    refusal = notifications.MemoryBackend.outbox[-1]
    reason = origin.events.get(action="refused").reason
    assert origin.code in refusal.text and reason and refusal.text.endswith(f"Lý do: {reason}")

    with django_capture_on_commit_callbacks(execute=True):  # the same request again
        assert interconnection.apply(withdrawal(origin)).outcome == "duplicate"
        assert carry(node) == []
    assert len(notifications.MemoryBackend.outbox) == 2


def test_a_granted_withdrawal_is_told_as_the_holder_reports_it(
    node,  # noqa: F811
    routed,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    origin, _step1 = routed
    notifications.MemoryBackend.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert interconnection.apply(withdrawal(origin)).outcome == "withdrawn"
        [reported] = carry(node)
    assert reported.type == "dossier.status"
    assert told() == [(origin.code, Status.WITHDRAWN)]
