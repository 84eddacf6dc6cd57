"""Operator-assisted recovery: an operator who proved their own second factor removes
the factors of a holder who lost them all; audited, told, never for themselves."""

from io import StringIO

import pytest
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.core.management import CommandError, call_command

from lienthong.audit.models import AuditRecord
from lienthong.identity import factors, notify, recovery, sms
from lienthong.identity.models import Account, BackupCode, TotpDevice
from lienthong.identity.tests.conftest import MAI_ID, PASSWORD, give_totp, sign_in

pytestmark = pytest.mark.django_db

REASON = "CCCD checked at the one-stop counter, request 2026-118"


@pytest.fixture
def mai_who_lost_everything(mai):
    give_totp(mai)
    mai.account.sms_enabled = True
    mai.account.email = "mai@example.vn"
    mai.account.save()
    return mai


@pytest.fixture
def operator_totp(operator):
    return give_totp(operator)


def run(*args) -> str:
    out = StringIO()
    call_command("identity", *args, stdout=out)
    return out.getvalue()


# --- The service --------------------------------------------------------------------


def test_a_reset_removes_every_factor_keeps_the_password_and_tells_the_holder(
    mai_who_lost_everything, operator, django_capture_on_commit_callbacks
):
    mai = mai_who_lost_everything
    with django_capture_on_commit_callbacks(execute=True):
        removed = recovery.reset_factors(actor=operator, user=mai, reason=REASON, source="test")
    notify.wait()
    assert removed == ["totp", "backup_codes", "sms"]
    assert not TotpDevice.objects.filter(user=mai).exists()
    assert not BackupCode.objects.filter(user=mai).exists()
    assert not Account.objects.get(user=mai).sms_enabled
    mai.refresh_from_db()
    assert mai.check_password(PASSWORD)
    record = AuditRecord.objects.get(action="factors_reset")
    assert record.actor_label == "lan.operator"
    assert record.changes["reason"] == REASON
    assert [m.to for m in mail.outbox] == [["mai@example.vn"]]
    assert [m.phone for m in sms.MemoryGateway.outbox] == ["0912345678"]


def test_a_reset_also_unpairs_the_holders_phones(mai_who_lost_everything, operator):
    from lienthong.approvals.models import PairedDevice

    mai = mai_who_lost_everything
    phone = PairedDevice.objects.create(
        user=mai,
        name="Điện thoại của Mai",
        credential_id=b"credential",
        public_key=b"key",
        user_handle=b"handle",
        token_hash="0" * 64,
    )
    removed = recovery.reset_factors(actor=operator, user=mai, reason=REASON, source="test")
    assert "phone" in removed
    phone.refresh_from_db()
    assert phone.revoked_at is not None


def test_the_holder_then_signs_in_with_the_password_and_enrols_again(
    client, mai_who_lost_everything, operator
):
    recovery.reset_factors(actor=operator, user=mai_who_lost_everything, reason=REASON, source="t")
    sign_in(client, MAI_ID)
    assert client.session[SESSION_KEY] == str(mai_who_lost_everything.pk)


def test_an_operator_cannot_reset_their_own_factors(operator, operator_totp):
    with pytest.raises(recovery.RecoveryRefused) as refused:
        recovery.reset_factors(actor=operator, user=operator, reason=REASON, source="test")
    assert refused.value.code == "own_account"
    assert factors.has_totp(operator)


def test_a_reset_needs_a_reason(mai_who_lost_everything, operator):
    with pytest.raises(recovery.RecoveryRefused):
        recovery.reset_factors(actor=operator, user=mai_who_lost_everything, reason=" ", source="t")
    assert factors.has_totp(mai_who_lost_everything)


def test_the_reset_is_in_the_holders_recent_activity(
    client, english, mai_who_lost_everything, operator
):
    recovery.reset_factors(actor=operator, user=mai_who_lost_everything, reason=REASON, source="t")
    sign_in(client, MAI_ID)
    page = client.get("/account/activity/").content.decode()
    assert "Second factors removed by an operator" in page


# --- The command line ---------------------------------------------------------------------


def test_the_command_only_shows_without_apply(mai_who_lost_everything, operator):
    output = run("reset-factors", MAI_ID, "--operator", "lan.operator", "--reason", REASON)
    assert "totp, backup_codes, sms" in output
    assert "--apply" in output
    assert factors.has_totp(mai_who_lost_everything)


def test_the_command_resets_with_the_operators_own_code(
    clock, mai_who_lost_everything, operator, operator_totp
):
    clock.shift(30)
    output = run(
        "reset-factors",
        MAI_ID,
        "--operator=lan.operator",
        f"--reason={REASON}",
        f"--code={operator_totp.now()}",
        "--apply",
    )
    assert "Removed: totp, backup_codes, sms" in output
    assert not factors.has_totp(mai_who_lost_everything)
    record = AuditRecord.objects.get(action="factors_reset")
    assert (record.actor_label, record.source) == ("lan.operator", "cli")


def test_a_wrong_operator_code_changes_nothing_and_counts(
    mai_who_lost_everything, operator, operator_totp
):
    with pytest.raises(CommandError):
        run(
            "reset-factors",
            MAI_ID,
            "--operator=lan.operator",
            f"--reason={REASON}",
            "--code=000000",
            "--apply",
        )
    assert factors.has_totp(mai_who_lost_everything)
    assert AuditRecord.objects.filter(action="factor_failed").count() == 1


def test_only_staff_with_an_authenticator_app_may_reset(mai_who_lost_everything, hung):
    totp = give_totp(hung)
    with pytest.raises(CommandError):
        run(
            "reset-factors",
            MAI_ID,
            "--operator=hung.officer",
            f"--reason={REASON}",
            f"--code={totp.now()}",
            "--apply",
        )
    assert factors.has_totp(mai_who_lost_everything)


# --- The admin's action ---------------------------------------------------------------------


@pytest.fixture
def operator_signed_in(clock, client, operator, operator_totp):
    clock.shift(30)
    sign_in(client, "lan.operator")
    client.post("/account/sign-in/verify/", {"method": "totp", "code": operator_totp.now()})
    assert client.session[SESSION_KEY] == str(operator.pk)
    return client


def choose_action(client, account, **extra):
    return client.post(
        "/admin/identity/account/",
        {"action": "reset_second_factors", "_selected_action": [account.pk], **extra},
    )


def test_the_admin_action_asks_how_identity_was_checked_then_resets(
    operator_signed_in, mai_who_lost_everything
):
    account = mai_who_lost_everything.account
    confirm = choose_action(operator_signed_in, account)
    assert confirm.status_code == 200
    assert 'name="reason"' in confirm.content.decode()
    assert factors.has_totp(mai_who_lost_everything)
    done = choose_action(operator_signed_in, account, apply="1", reason=REASON)
    assert done.status_code == 302
    assert not factors.has_totp(mai_who_lost_everything)
    record = AuditRecord.objects.get(action="factors_reset")
    assert (record.actor_label, record.source) == ("lan.operator", "admin")


def test_the_admin_action_needs_a_fresh_step_up(
    clock, operator_signed_in, mai_who_lost_everything, settings
):
    clock.shift(settings.IDENTITY_STEP_UP_SECONDS + 1)
    response = choose_action(
        operator_signed_in, mai_who_lost_everything.account, apply="1", reason=REASON
    )
    assert response["Location"].startswith("/account/verify/?next=")
    assert factors.has_totp(mai_who_lost_everything)


def test_a_reset_ends_every_session_of_the_holder(clock, client, mai_who_lost_everything, operator):
    """The lost phone may still be signed in: that session ends with the factors."""
    from lienthong.identity.tests.conftest import totp_of

    clock.shift(30)
    sign_in(client, MAI_ID)
    client.post(
        "/account/sign-in/verify/",
        {"method": "totp", "code": totp_of(mai_who_lost_everything).now()},
    )
    assert client.get("/account/").status_code == 200
    recovery.reset_factors(actor=operator, user=mai_who_lost_everything, reason=REASON, source="t")
    response = client.get("/account/")
    assert response["Location"].startswith("/account/sign-in/")
    record = AuditRecord.objects.get(action="factors_reset")
    assert record.changes["sessions_ended"] == 1
