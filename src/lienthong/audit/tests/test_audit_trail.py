"""The audit trail: every directory change in the admin is recorded, and records never change."""

import pytest
from django.db import DatabaseError, connection, transaction

from lienthong.audit import services
from lienthong.audit.models import AppendOnlyError, AuditRecord
from lienthong.directory.models import Agency, AgencyKind, Node

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, operator):
    client.force_login(operator)
    return client


def test_an_agency_created_in_the_admin_is_recorded_with_who_when_and_what(admin_client, operator):
    node = Node.objects.get(role=Node.Role.CENTRAL)
    response = admin_client.post(
        "/admin/directory/agency/add/",
        {
            "identifier": "000.00.01.X05",
            "name": "Cục Hộ tịch, quốc tịch, chứng thực",
            "kind": AgencyKind.DEPARTMENT,
            "node": node.pk,
            "is_active": "on",
        },
        REMOTE_ADDR="192.0.2.10",
    )
    assert response.status_code == 302, response.content
    agency = Agency.objects.get(identifier="000.00.01.X05")
    record = AuditRecord.objects.get(object_type="directory.agency", object_id=str(agency.pk))
    assert record.actor == operator
    assert record.actor_label == "lan.operator"
    assert record.action == "create"
    assert record.source == "admin"
    assert record.ip_address == "192.0.2.10"
    assert record.changes["name"] == [None, "Cục Hộ tịch, quốc tịch, chứng thực"]
    assert record.request_id


def test_a_change_records_only_the_fields_that_changed(admin_client):
    finance = Agency.objects.get(identifier="000.00.00.G12")
    response = admin_client.post(
        f"/admin/directory/agency/{finance.pk}/change/",
        {
            "identifier": finance.identifier,
            "name": "Bộ Tài chính (đổi tên thử)",
            "kind": finance.kind,
            "node": finance.node_id,
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content
    record = AuditRecord.objects.filter(object_id=str(finance.pk), action="update").get()
    assert record.changes == {"name": ["Bộ Tài chính", "Bộ Tài chính (đổi tên thử)"]}


def test_a_deletion_keeps_what_was_deleted(admin_client):
    node = Node.objects.create(identifier="VN:GOV:TEST:node", name="Nút thử", role="sector")
    response = admin_client.post(f"/admin/directory/node/{node.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    record = AuditRecord.objects.get(object_type="directory.node", action="delete")
    assert record.changes["identifier"] == ["VN:GOV:TEST:node", None]
    assert not Node.objects.filter(pk=node.pk).exists()


def test_a_refused_change_leaves_no_record(admin_client):
    before = AuditRecord.objects.count()
    response = admin_client.post(
        "/admin/directory/agency/add/",
        {"identifier": "bad id", "name": "X", "kind": AgencyKind.DEPARTMENT},
    )
    assert response.status_code == 200  # the form comes back with the error
    errors = response.context["adminform"].form.errors.as_data()
    assert errors["identifier"][0].code == "identifier_format"
    assert AuditRecord.objects.count() == before


def test_the_trail_is_readable_but_not_editable_in_the_admin(admin_client):
    with transaction.atomic():
        record = services.record(actor="test", action="import", object_type="x", source="test")
    assert admin_client.get("/admin/audit/auditrecord/").status_code == 200
    assert admin_client.get(f"/admin/audit/auditrecord/{record.pk}/change/").status_code == 200
    assert admin_client.get("/admin/audit/auditrecord/add/").status_code == 403
    response = admin_client.post(f"/admin/audit/auditrecord/{record.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403


def test_the_model_refuses_updates_and_deletes():
    with transaction.atomic():
        record = services.record(actor="test", action="import", object_type="x", source="test")
    record.object_repr = "rewritten"
    with pytest.raises(AppendOnlyError):
        record.save()
    with pytest.raises(AppendOnlyError):
        record.delete()
    with pytest.raises(AppendOnlyError):
        AuditRecord.objects.filter(pk=record.pk).update(object_repr="rewritten")
    with pytest.raises(AppendOnlyError):
        AuditRecord.objects.filter(pk=record.pk).delete()


def test_the_database_refuses_raw_updates_and_deletes():
    with transaction.atomic():
        record = services.record(actor="test", action="import", object_type="x", source="test")
    for statement in (
        "UPDATE audit_auditrecord SET object_repr = 'rewritten' WHERE id = %s",
        "DELETE FROM audit_auditrecord WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [record.pk])
    assert AuditRecord.objects.filter(pk=record.pk, object_repr="").exists()


def test_a_record_outside_a_transaction_is_a_programming_error(monkeypatch):
    monkeypatch.setattr(
        "lienthong.audit.services.transaction.get_connection",
        lambda: type("C", (), {"in_atomic_block": False})(),
    )
    with pytest.raises(RuntimeError, match="inside the change's transaction"):
        services.record(actor="test", action="import", object_type="x", source="test")


def test_diff_lists_changed_fields_only():
    assert services.diff({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}) == {
        "b": [2, 3],
        "c": [None, 4],
    }


def test_saving_an_unchanged_form_writes_no_record(admin_client):
    finance = Agency.objects.get(identifier="000.00.00.G12")
    before = AuditRecord.objects.count()
    response = admin_client.post(
        f"/admin/directory/agency/{finance.pk}/change/",
        {
            "identifier": finance.identifier,
            "name": finance.name,
            "kind": finance.kind,
            "node": finance.node_id,
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    assert AuditRecord.objects.count() == before
