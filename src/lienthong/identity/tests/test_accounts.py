"""Accounts of citizens, businesses and officers, and officers' roles in agencies."""

import pytest
from django.core.exceptions import ValidationError

from lienthong.audit.models import AuditRecord
from lienthong.identity import services
from lienthong.identity.models import AccountKind, OfficerRole, Role
from lienthong.identity.tests.conftest import MAI_ID, PASSWORD

pytestmark = pytest.mark.django_db


def test_a_citizen_signs_in_with_the_personal_id_number(mai):
    assert mai.username == MAI_ID
    assert mai.account.kind == AccountKind.CITIZEN
    assert mai.check_password(PASSWORD)


def test_creating_an_account_is_audited(mai):
    record = AuditRecord.objects.get(object_type="identity.account", action="create")
    assert record.object_id == str(mai.account.pk)


def test_it_refuses_a_second_account_with_the_same_personal_id_number(mai):
    with pytest.raises(ValidationError) as caught:
        services.create_account(
            actor="test",
            kind="citizen",
            display_name="Ai đó",
            personal_id=MAI_ID,
            password=PASSWORD,
            source="test",
        )
    assert "personal_id" in caught.value.message_dict


def test_it_refuses_a_citizen_with_an_invalid_personal_id_number(db):
    with pytest.raises(ValidationError) as caught:
        services.create_account(
            actor="test",
            kind="citizen",
            display_name="Ai đó",
            personal_id="003190012345",
            password=PASSWORD,
            source="test",
        )
    assert "personal_id" in caught.value.message_dict
    assert not AuditRecord.objects.filter(object_type="identity.account").exists()


def test_it_refuses_a_business_with_a_wrong_tax_code_check_digit(db):
    with pytest.raises(ValidationError) as caught:
        services.create_account(
            actor="test",
            kind="business",
            display_name="Công ty",
            tax_code="0100109107",
            password=PASSWORD,
            source="test",
        )
    assert "tax_code" in caught.value.message_dict


def test_it_refuses_an_officer_username_that_looks_like_a_personal_id_number(db):
    with pytest.raises(ValidationError) as caught:
        services.create_account(
            actor="test",
            kind="officer",
            display_name="Cán bộ",
            username="001190012345",
            password=PASSWORD,
            source="test",
        )
    assert "username" in caught.value.message_dict


def test_it_refuses_a_weak_password(db):
    with pytest.raises(ValidationError):
        services.create_account(
            actor="test",
            kind="citizen",
            display_name="Ai đó",
            personal_id="001190099999",
            password="12345678",
            source="test",
        )


def test_an_officer_holds_roles_in_several_agencies(hung, justice, commune):
    services.grant_role(
        actor="test", user=hung, agency=justice, role=Role.SPECIALIST, source="test"
    )
    services.grant_role(actor="test", user=hung, agency=justice, role=Role.LEADER, source="test")
    services.grant_role(
        actor="test", user=hung, agency=commune, role=Role.ONE_STOP_OFFICER, source="test"
    )
    assert OfficerRole.objects.filter(user=hung).count() == 3
    assert AuditRecord.objects.filter(action="grant_role").count() == 3


def test_granting_a_role_twice_changes_nothing(hung, justice):
    first = services.grant_role(
        actor="test", user=hung, agency=justice, role=Role.LEADER, source="test"
    )
    again = services.grant_role(
        actor="test", user=hung, agency=justice, role=Role.LEADER, source="test"
    )
    assert first.pk == again.pk
    assert AuditRecord.objects.filter(action="grant_role").count() == 1


def test_revoking_a_role_is_audited(hung, justice):
    grant = services.grant_role(
        actor="test", user=hung, agency=justice, role=Role.LEADER, source="test"
    )
    services.revoke_role(actor="test", grant=grant, source="test")
    assert not OfficerRole.objects.exists()
    record = AuditRecord.objects.get(action="revoke_role")
    assert record.changes == {"role": "leader", "agency": justice.identifier}


def test_only_an_officer_can_hold_a_role(mai, justice):
    with pytest.raises(ValidationError):
        services.grant_role(actor="test", user=mai, agency=justice, role=Role.LEADER, source="test")
