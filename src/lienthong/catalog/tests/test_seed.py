"""The bundled catalogue: what it holds, and that seeding it twice changes nothing."""

from decimal import Decimal

import pytest

from lienthong.audit.models import AuditRecord
from lienthong.catalog import services
from lienthong.catalog.models import InterconnectedProcedure, Procedure
from lienthong.directory.models import Agency, AgencyKind

pytestmark = pytest.mark.django_db

# The only legal texts the bundled data cites: each is known exactly. Adding
# one is a deliberate act (docs/catalog.md, "Seed data").
KNOWN_LEGAL_BASES = {
    "",
    "Luật Hộ tịch số 60/2014/QH13",
    "Luật Cư trú số 68/2020/QH14",
    "Nghị định số 63/2024/NĐ-CP",
}


def test_the_catalog_holds_at_least_ten_single_agency_procedures(catalog):
    assert Procedure.objects.count() >= 10
    names = set(Procedure.objects.values_list("name", flat=True))
    assert {"Đăng ký khai sinh", "Đăng ký kết hôn", "Đăng ký thường trú"} <= names


def test_seeding_again_changes_nothing_and_writes_no_audit_record(catalog):
    records = AuditRecord.objects.count()

    report = services.seed_catalog(actor="test")

    assert report.created == report.updated == 0
    assert report.unchanged == 22  # 7 fields, 13 procedures, 2 interconnected procedures
    assert AuditRecord.objects.count() == records


def test_seeding_puts_back_a_changed_time_limit_and_audits_it(catalog):
    Procedure.objects.filter(code="LT.000004").update(time_limit=9)

    report = services.seed_catalog(actor="test")

    assert report.updated == 1
    assert Procedure.objects.get(code="LT.000004").time_limit == Decimal(7)
    audit = AuditRecord.objects.filter(object_repr__startswith="LT.000004").latest("at")
    assert audit.action == AuditRecord.Action.UPDATE
    assert audit.changes["time_limit"] == ["9", "7"]


def test_seeding_puts_back_a_removed_document(catalog):
    birth = Procedure.objects.get(code="1.001193")
    birth.documents.filter(name__startswith="Giấy chứng sinh").delete()

    assert services.seed_catalog(actor="test").updated == 1
    assert birth.documents.count() == 2


def test_every_procedure_says_what_it_needs(catalog):
    for procedure in Procedure.objects.all():
        assert procedure.documents.exists(), procedure
        assert procedure.fees.exists(), procedure
        keys = set(procedure.form_fields.values_list("key", flat=True))
        assert {"applicant_id", "applicant_phone"} <= keys, procedure


def test_birth_registration_is_free_same_day_and_fully_online(catalog):
    birth = Procedure.objects.get(code="1.001193")
    assert birth.is_same_day
    assert birth.online_level == "full"
    assert birth.fees.get(description__contains="đúng hạn").amount == 0
    assert birth.form_fields.get(key="child_sex").choices[0]["value"] == "nam"


def test_commune_procedures_are_handled_by_every_commune_committee(catalog):
    committees = Agency.objects.filter(kind=AgencyKind.COMMUNE_COMMITTEE).count()
    assert committees == 3321
    assert Procedure.objects.get(code="1.001193").agencies.count() == committees
    # Commune police are not in the directory: no link rather than a wrong one.
    assert not Procedure.objects.get(code="LT.000004").agencies.exists()


def test_the_two_decree_63_groups_chain_agencies_of_different_kinds(catalog):
    steps = {
        group.code: [step.procedure.code for step in group.steps.order_by("position")]
        for group in InterconnectedProcedure.objects.all()
    }
    assert steps == {
        "LT.900001": ["1.001193", "LT.000004", "LT.000007"],
        "LT.900002": ["1.000656", "LT.000006", "LT.000008"],
    }
    for group in InterconnectedProcedure.objects.all():
        kinds = [step.procedure.authority_kind for step in group.steps.all()]
        assert kinds == ["justice", "public_security", "social_security"]


def test_legal_bases_cite_only_texts_known_exactly(catalog):
    cited = set(Procedure.objects.values_list("legal_basis", flat=True))
    cited |= set(InterconnectedProcedure.objects.values_list("legal_basis", flat=True))
    assert cited <= KNOWN_LEGAL_BASES


def test_an_operator_can_open_a_procedure_and_the_holidays_in_the_admin(catalog, operator, client):
    client.force_login(operator)
    birth = Procedure.objects.get(code="1.001193")
    assert client.get(f"/admin/catalog/procedure/{birth.pk}/change/").status_code == 200
    assert client.get("/admin/catalog/holiday/").status_code == 200
    assert client.get("/admin/catalog/interconnectedprocedure/").status_code == 200
