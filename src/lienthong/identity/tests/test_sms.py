"""SMS one-time codes through the pluggable gateway: hashed, single-use, expiring."""

import json
import re

import pytest
from django.contrib.auth import SESSION_KEY

from lienthong.audit.models import AuditRecord
from lienthong.identity import factors, sms
from lienthong.identity.models import Account, SmsCode
from lienthong.identity.tests.conftest import MAI_ID, sign_in

pytestmark = pytest.mark.django_db


def last_code() -> str:
    return re.search(r"\b\d{6}\b", sms.MemoryGateway.outbox[-1].text).group()


@pytest.fixture
def mai_with_sms(mai):
    Account.objects.filter(user=mai).update(sms_enabled=True)
    mai.account.refresh_from_db()
    return mai


def test_the_code_is_sent_after_the_transaction_commits(mai, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        factors.send_sms_code(user=mai, phone="0912345678")
    assert sms.MemoryGateway.outbox == []
    callbacks[0]()
    assert sms.MemoryGateway.outbox[0].phone == "0912345678"


def test_the_code_is_stored_hashed(mai, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        factors.send_sms_code(user=mai, phone="0912345678")
    assert last_code() not in SmsCode.objects.get().code_hash


def test_a_citizen_signs_in_with_a_code_sent_by_sms(
    client, mai_with_sms, django_capture_on_commit_callbacks
):
    sign_in(client, MAI_ID)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/account/sign-in/verify/", {"send_sms": "1"})
    client.post("/account/sign-in/verify/", {"method": "sms", "code": last_code()})
    assert client.session[SESSION_KEY] == str(mai_with_sms.pk)
    assert AuditRecord.objects.get(action="sign_in").changes == {"methods": ["password", "sms"]}


def test_an_sms_code_is_accepted_once(mai, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        factors.send_sms_code(user=mai, phone="0912345678")
    code = last_code()
    assert factors.verify_sms_code(user=mai, code=code)
    assert not factors.verify_sms_code(user=mai, code=code)


def test_an_expired_sms_code_is_refused(mai, clock, settings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        factors.send_sms_code(user=mai, phone="0912345678")
    clock.shift(settings.IDENTITY_SMS_CODE_SECONDS + 1)
    assert not factors.verify_sms_code(user=mai, code=last_code())


def test_a_new_code_cannot_be_asked_for_within_a_minute(mai, clock):
    factors.send_sms_code(user=mai, phone="0912345678")
    with pytest.raises(factors.SmsTooSoon):
        factors.send_sms_code(user=mai, phone="0912345678")
    clock.shift(61)
    factors.send_sms_code(user=mai, phone="0912345678")


def test_a_new_code_cancels_the_previous_one(mai, clock, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        factors.send_sms_code(user=mai, phone="0912345678")
    first = last_code()
    clock.shift(61)
    with django_capture_on_commit_callbacks(execute=True):
        factors.send_sms_code(user=mai, phone="0912345678")
    assert not factors.verify_sms_code(user=mai, code=first)


def test_sms_codes_are_turned_on_only_once_a_code_came_back(
    client, mai, django_capture_on_commit_callbacks
):
    sign_in(client, MAI_ID)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/account/sms/", {"send_sms": "1"})
    client.post("/account/sms/", {"code": "000000"})
    assert not Account.objects.get(user=mai).sms_enabled
    client.post("/account/sms/", {"code": last_code()})
    assert Account.objects.get(user=mai).sms_enabled
    assert AuditRecord.objects.filter(action="factor_added", changes__factor="sms").exists()


def test_the_file_gateway_writes_one_json_line_per_message(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.IDENTITY_SMS_BACKEND = "file"
    sms.send(phone="0912345678", text="Mã của bạn là 123456")
    line = json.loads((tmp_path / "sms" / "outbox.jsonl").read_text(encoding="utf-8"))
    assert (line["phone"], line["text"]) == ("0912345678", "Mã của bạn là 123456")


def test_a_gateway_can_be_named_by_its_dotted_path(settings):
    settings.IDENTITY_SMS_BACKEND = "lienthong.identity.sms.MemoryGateway"
    sms.send(phone="0900000000", text="x")
    assert sms.MemoryGateway.outbox[-1].phone == "0900000000"
