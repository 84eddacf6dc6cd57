"""`lienthong identity`: authenticator apps and roles from the command line."""

import re
from io import StringIO

import pyotp
import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from lienthong.audit.models import AuditRecord
from lienthong.identity import factors
from lienthong.identity.models import OfficerRole

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("identity", *args, stdout=out)
    return out.getvalue()


def test_issue_totp_gives_a_first_operator_a_working_second_factor(operator):
    output = run("issue-totp", "lan.operator")
    secret = re.search(r"Key: (\w+)", output).group(1)
    assert factors.verify_totp(user=operator, code=pyotp.TOTP(secret).now())
    assert output.count("\n  ") == 10
    assert AuditRecord.objects.filter(action="factor_added", actor_label="cli:identity").exists()


def test_grant_and_revoke_a_role(hung, justice):
    run("grant-role", "hung.officer", justice.identifier, "leader")
    assert justice.identifier in run("roles", "hung.officer")
    run("revoke-role", "hung.officer", justice.identifier, "leader")
    assert not OfficerRole.objects.exists()


def test_unknown_users_and_agencies_are_named_in_the_error(hung):
    with pytest.raises(CommandError, match="nobody"):
        run("roles", "nobody")
    with pytest.raises(CommandError, match=re.escape("000.00.00.Z99")):
        run("grant-role", "hung.officer", "000.00.00.Z99", "leader")


def test_a_citizen_cannot_be_given_a_role(mai, justice):
    with translation.override("en"), pytest.raises(CommandError, match="officer"):
        run("grant-role", mai.username, justice.identifier, "leader")
