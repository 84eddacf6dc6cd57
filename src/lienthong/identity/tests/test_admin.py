"""The node operator manages accounts and roles in the admin; every change is audited."""

import pytest

from lienthong.audit.models import AuditRecord
from lienthong.identity.models import OfficerRole, Role, TotpDevice
from lienthong.identity.tests.conftest import give_totp

pytestmark = pytest.mark.django_db


def test_the_identity_pages_of_the_admin_open(client, operator):
    client.force_login(operator)
    for path in ("account", "officerrole", "passkey", "totpdevice"):
        assert client.get(f"/admin/identity/{path}/").status_code == 200, path


def test_granting_a_role_in_the_admin_is_audited(client, operator, hung, justice):
    client.force_login(operator)
    response = client.post(
        "/admin/identity/officerrole/add/",
        {"user": hung.pk, "agency": justice.pk, "role": Role.LEADER},
    )
    assert response.status_code == 302
    grant = OfficerRole.objects.get()
    assert AuditRecord.objects.filter(
        object_type="identity.officerrole", object_id=str(grant.pk), action="create"
    ).exists()


def test_an_operator_removes_the_authenticator_app_of_a_user_who_lost_everything(
    client, operator, mai
):
    give_totp(mai)
    device = TotpDevice.objects.get(user=mai)
    client.force_login(operator)
    client.post(f"/admin/identity/totpdevice/{device.pk}/delete/", {"post": "yes"})
    assert not TotpDevice.objects.exists()
    assert AuditRecord.objects.filter(object_type="identity.totpdevice", action="delete").exists()
