"""Approval requests: every state change and every refusal of the service API."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from lienthong.approvals import ceremonies, services
from lienthong.approvals.models import ApprovalRequest, State
from lienthong.approvals.services import ApprovalRefused
from lienthong.approvals.tests.conftest import HASHES, ORIGIN, SIGNATURE, assertion
from lienthong.audit.models import AuditRecord
from lienthong.identity.tests.authenticator import UP

pytestmark = pytest.mark.django_db


def ask(user, **kwargs) -> ApprovalRequest:
    options = {"kind": "signature", "summary": dict(SIGNATURE), "hashes": list(HASHES)}
    options.update(kwargs)
    return services.request_approval(user=user, source="test", **options)


def approve(approval, device, phone, **kwargs):
    nonce = os.urandom(32)
    return services.approve(
        request_id=approval.pk,
        device=device,
        credential=assertion(phone, approval, device, nonce, **kwargs),
        nonce=nonce,
        origins=[ORIGIN],
        source="test",
    )


def refusal(call) -> str:
    with pytest.raises(ApprovalRefused) as caught:
        call()
    return caught.value.code


def actions(approval) -> list[str]:
    return list(
        AuditRecord.objects.filter(object_id=str(approval.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )


def test_a_request_waits_for_the_phone_and_is_audited(mai, mai_phone, clock):
    approval = ask(mai, request_meta={"ip": "203.0.113.7", "user_agent": "Firefox/133.0"})
    assert approval.state == State.PENDING
    assert approval.expires_at - approval.created_at == dt.timedelta(seconds=120)
    assert (approval.requesting_ip, approval.requesting_user_agent) == (
        "203.0.113.7",
        "Firefox/133.0",
    )
    assert actions(approval) == ["approval_requested"]
    assert services.has_paired_device(mai)


def test_it_refuses_to_ask_a_user_without_a_paired_phone(mai):
    assert not services.has_paired_device(mai)
    assert refusal(lambda: ask(mai)) == "approval_no_device"


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "payment"},
        {"summary": {**SIGNATURE, "extra": "x"}},
        {"summary": {k: v for k, v in SIGNATURE.items() if k != "sha256"}},
        {"summary": {**SIGNATURE, "agency": ""}},
        {"hashes": [""]},
        {"ttl_seconds": 5},
        {"ttl_seconds": 3600},
    ],
)
def test_it_refuses_a_malformed_request(mai, mai_phone, change):
    assert refusal(lambda: ask(mai, **change)) == "approval_invalid"
    assert not ApprovalRequest.objects.exists()


def test_it_limits_the_requests_that_wait_at_once(mai, mai_phone, settings):
    settings.APPROVALS_MAX_PENDING = 2
    ask(mai)
    ask(mai)
    assert refusal(lambda: ask(mai)) == "approval_rate_limited"


def test_it_limits_how_often_a_user_is_asked(mai, mai_phone, settings):
    settings.APPROVALS_MAX_PER_WINDOW = 3
    device, _secret, _phone = mai_phone
    for _ in range(3):
        services.deny(request_id=ask(mai).pk, device=device, source="test")
    assert refusal(lambda: ask(mai)) == "approval_rate_limited"


def test_an_approved_request_is_consumed_once(mai, mai_phone, clock):
    device, _secret, phone = mai_phone
    approval = ask(mai)
    approved = approve(approval, device, phone)
    assert (approved.state, approved.device) == (State.APPROVED, device)
    consumed = services.consume(request_id=approval.pk, user=mai, kind="signature", hashes=HASHES)
    assert consumed.consumed_at is not None
    assert (
        refusal(
            lambda: services.consume(
                request_id=approval.pk, user=mai, kind="signature", hashes=HASHES
            )
        )
        == "approval_consumed"
    )
    assert actions(approval) == [
        "approval_requested",
        "approval_approved",
        "approval_consumed",
        "approval_refused",
    ]


def test_a_pending_request_cannot_be_consumed(mai, mai_phone):
    approval = ask(mai)
    code = refusal(
        lambda: services.consume(request_id=approval.pk, user=mai, kind="signature", hashes=HASHES)
    )
    assert code == "approval_pending"


def test_a_denial_is_final(mai, mai_phone):
    device, _secret, phone = mai_phone
    approval = ask(mai)
    denied = services.deny(request_id=approval.pk, device=device, source="test")
    assert denied.state == State.DENIED
    assert refusal(lambda: approve(approval, device, phone)) == "approval_answered"
    assert refusal(lambda: services.deny(request_id=approval.pk, device=device)) == (
        "approval_answered"
    )
    consume = lambda: services.consume(  # noqa: E731
        request_id=approval.pk, user=mai, kind="signature", hashes=HASHES
    )
    assert refusal(consume) == "approval_denied"
    approval.refresh_from_db()
    assert approval.state == State.DENIED
    assert actions(approval) == ["approval_requested", "approval_denied"]


def test_a_request_approved_after_its_expiry_is_refused_and_expires(mai, mai_phone, clock):
    device, _secret, phone = mai_phone
    approval = ask(mai, ttl_seconds=60)
    clock.shift(dt.timedelta(seconds=61))
    assert refusal(lambda: approve(approval, device, phone)) == "approval_expired"
    approval.refresh_from_db()
    assert approval.state == State.EXPIRED
    assert actions(approval) == ["approval_requested", "approval_expired"]
    consume = lambda: services.consume(  # noqa: E731
        request_id=approval.pk, user=mai, kind="signature", hashes=HASHES
    )
    assert refusal(consume) == "approval_expired"


def test_an_expired_request_cannot_be_denied_either(mai, mai_phone, clock):
    device, _secret, _phone = mai_phone
    approval = ask(mai, ttl_seconds=60)
    clock.shift(dt.timedelta(seconds=60))
    assert refusal(lambda: services.deny(request_id=approval.pk, device=device)) == (
        "approval_expired"
    )
    approval.refresh_from_db()
    assert approval.state == State.EXPIRED


def test_an_approval_not_used_in_time_expires(mai, mai_phone, clock, settings):
    settings.APPROVALS_CONSUME_SECONDS = 30
    device, _secret, phone = mai_phone
    approval = ask(mai)
    approve(approval, device, phone)
    clock.shift(dt.timedelta(seconds=31))
    consume = lambda: services.consume(  # noqa: E731
        request_id=approval.pk, user=mai, kind="signature", hashes=HASHES
    )
    assert refusal(consume) == "approval_expired"


def test_the_sweep_expires_overdue_requests(mai, mai_phone, clock):
    waiting = ask(mai, ttl_seconds=60)
    later = ask(mai, ttl_seconds=600)
    clock.shift(dt.timedelta(seconds=61))
    assert services.expire_overdue(source="test") == 1
    waiting.refresh_from_db()
    later.refresh_from_db()
    assert (waiting.state, later.state) == (State.EXPIRED, State.PENDING)


def test_an_approval_for_other_hashes_is_refused(mai, mai_phone):
    device, _secret, phone = mai_phone
    approval = ask(mai)
    approve(approval, device, phone)
    other = lambda: services.consume(  # noqa: E731
        request_id=approval.pk, user=mai, kind="signature", hashes=["b3RoZXI="]
    )
    assert refusal(other) == "approval_other_hashes"
    # Refused, not burnt: the right documents still go through.
    services.consume(request_id=approval.pk, user=mai, kind="signature", hashes=HASHES)


def test_another_kind_or_user_or_id_finds_nothing(mai, binh, mai_phone):
    device, _secret, phone = mai_phone
    approval = ask(mai)
    approve(approval, device, phone)
    for call in (
        lambda: services.consume(
            request_id=approval.pk, user=binh, kind="signature", hashes=HASHES
        ),
        lambda: services.consume(request_id=approval.pk, user=mai, kind="sign_in", hashes=HASHES),
        lambda: services.consume(request_id="not-an-id", user=mai, kind="signature"),
        lambda: services.consume(request_id=approval.pk, user=None, kind="signature"),
    ):
        assert refusal(call) == "approval_not_found"


def test_another_users_phone_cannot_see_or_answer_a_request(mai, binh, mai_phone, binh_phone):
    binh_device, _secret, binh_authenticator = binh_phone
    approval = ask(mai)
    assert refusal(lambda: approve(approval, binh_device, binh_authenticator)) == (
        "approval_not_found"
    )
    assert refusal(lambda: services.deny(request_id=approval.pk, device=binh_device)) == (
        "approval_not_found"
    )
    approval.refresh_from_db()
    assert approval.state == State.PENDING


def test_an_assertion_by_another_credential_is_refused(mai, binh, mai_phone, binh_phone):
    device, _secret, _phone = mai_phone
    _binh_device, _secret2, binh_authenticator = binh_phone
    approval = ask(mai)
    # Bình's authenticator signs the options for Mai's device.
    assert refusal(lambda: approve(approval, device, binh_authenticator)) == (
        "approval_not_verified"
    )


def test_an_assertion_for_one_request_cannot_approve_another(mai, mai_phone):
    device, _secret, phone = mai_phone
    first, second = ask(mai), ask(mai)
    nonce = os.urandom(32)
    answer = assertion(phone, first, device, nonce)
    code = refusal(
        lambda: services.approve(
            request_id=second.pk,
            device=device,
            credential=answer,
            nonce=nonce,
            origins=[ORIGIN],
        )
    )
    assert code == "approval_not_verified"
    second.refresh_from_db()
    assert second.state == State.PENDING
    assert actions(second) == ["approval_requested", "approval_failed"]


def test_a_wrong_challenge_is_refused(mai, mai_phone):
    device, _secret, phone = mai_phone
    approval = ask(mai)
    answer = assertion(phone, approval, device, os.urandom(32))
    code = refusal(
        lambda: services.approve(
            request_id=approval.pk,
            device=device,
            credential=answer,
            nonce=os.urandom(32),
            origins=[ORIGIN],
        )
    )
    assert code == "approval_not_verified"


def test_a_cloned_authenticator_is_caught_by_its_counter(mai, mai_phone):
    device, _secret, phone = mai_phone
    approve(ask(mai), device, phone)
    # A copy of the key, with the counter where it was before the first use.
    phone.sign_count = 0
    approval = ask(mai)
    assert refusal(lambda: approve(approval, device, phone)) == "approval_not_verified"
    approval.refresh_from_db()
    assert approval.state == State.PENDING


def test_an_assertion_without_user_verification_is_refused(mai, mai_phone):
    device, _secret, phone = mai_phone
    approval = ask(mai)
    assert refusal(lambda: approve(approval, device, phone, flags=UP)) == "approval_not_verified"


def test_an_assertion_from_another_origin_is_refused(mai, mai_phone):
    device, _secret, phone = mai_phone
    approval = ask(mai)
    code = refusal(lambda: approve(approval, device, phone, origin="https://phish.example"))
    assert code == "approval_not_verified"


def test_repeated_failures_lock_the_device(mai, mai_phone, settings):
    settings.IDENTITY_MAX_FAILURES = 3
    device, _secret, phone = mai_phone
    approval = ask(mai)
    for _ in range(3):
        refusal(lambda: approve(approval, device, phone, flags=UP))
    assert refusal(lambda: approve(approval, device, phone)) == "approval_locked"


def test_a_revoked_phone_approves_nothing(mai, mai_phone):
    device, secret, phone = mai_phone
    approval = ask(mai)
    services.revoke_device(user=mai, device=device, source="test")
    assert services.device_for_secret(secret) is None
    assert not services.has_paired_device(mai)
    assert refusal(lambda: approve(approval, device, phone)) == "approval_not_found"
    assert refusal(lambda: services.deny(request_id=approval.pk, device=device)) == (
        "approval_not_found"
    )
    assert AuditRecord.objects.filter(action="factor_removed", changes__factor="phone").exists()


def test_the_challenge_depends_on_the_nonce_and_on_the_content(mai, mai_phone):
    approval = ask(mai)
    nonce = os.urandom(32)
    challenge = ceremonies.approval_challenge(approval, nonce)
    assert challenge == ceremonies.approval_challenge(approval, nonce)
    assert challenge != ceremonies.approval_challenge(approval, os.urandom(32))
    approval.summary = {**approval.summary, "document_name": "Khác.pdf"}
    assert challenge != ceremonies.approval_challenge(approval, nonce)


def test_a_sign_in_request_shows_the_computer(mai, mai_phone, clock, rf):
    request = rf.get(
        "/",
        REMOTE_ADDR="198.51.100.4",
        HTTP_USER_AGENT="Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
    )
    approval = services.request_sign_in(user=mai, request=request, source="test")
    assert approval.kind == "sign_in"
    assert approval.summary == {
        "ip": "198.51.100.4",
        "browser": "Chrome / Windows",
        "time": "01/12/2026 09:00:00",
    }


def test_the_command_expires_overdue_requests(mai, mai_phone, clock):
    from io import StringIO

    from django.core.management import call_command

    approval = ask(mai, ttl_seconds=60)
    clock.shift(dt.timedelta(minutes=2))
    out = StringIO()
    call_command("approvals", "expire", stdout=out)
    assert out.getvalue().strip() == "expired 1 request(s), deleted 0 pending signature(s)"
    approval.refresh_from_db()
    assert approval.state == State.EXPIRED
    assert AuditRecord.objects.filter(action="approval_expired", source="command").count() == 1
