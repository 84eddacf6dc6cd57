"""The national directory as every node loads it: 34 provinces, 3,321 communes, their agencies."""

from lienthong.directory.models import AdministrativeUnit, Agency, AgencyKind, Node


def test_it_holds_the_34_provinces_and_3321_communes_in_force_since_july_2025(db):
    current = AdministrativeUnit.objects.current()
    assert current.provinces().count() == 34
    assert current.communes().count() == 3321
    assert not current.filter(valid_from__gt="2025-07-01").exists()


def test_every_commune_belongs_to_a_province(db):
    orphans = AdministrativeUnit.objects.current().communes().exclude(parent__level="province")
    assert not orphans.exists()


def test_every_unit_has_its_people_s_committee_hosted_by_its_province_node(db):
    hanoi_committee = Agency.objects.get(kind=AgencyKind.PROVINCIAL_COMMITTEE, unit__code="01")
    assert hanoi_committee.name == "Ủy ban nhân dân thành phố Hà Nội"
    hoan_kiem = Agency.objects.get(kind=AgencyKind.COMMUNE_COMMITTEE, unit__code="00070")
    assert hoan_kiem.name == "Ủy ban nhân dân phường Hoàn Kiếm"
    assert hoan_kiem.parent == hanoi_committee
    assert hoan_kiem.node == hanoi_committee.node
    assert Agency.objects.filter(kind=AgencyKind.COMMUNE_COMMITTEE).count() == 3321
    assert Agency.objects.filter(kind=AgencyKind.PROVINCIAL_COMMITTEE).count() == 34


def test_ministries_and_ministry_level_agencies_are_hosted_by_the_central_node(db):
    central = Node.objects.get(role=Node.Role.CENTRAL)
    kinds = {AgencyKind.MINISTRY, AgencyKind.MINISTRY_LEVEL}
    assert Agency.objects.filter(kind__in=kinds).count() == 17
    assert set(Agency.objects.filter(kind__in=kinds).values_list("node", flat=True)) == {central.pk}


def test_each_province_has_its_departments(db):
    departments = Agency.objects.filter(kind=AgencyKind.DEPARTMENT, unit__code="40")
    assert departments.count() == 12
    assert departments.filter(name="Sở Tư pháp tỉnh Nghệ An", identifier="000.00.03.T40").exists()
