import factory

from lienthong.directory.models import (
    AdministrativeUnit,
    Agency,
    AgencyKind,
    Node,
    PostalCode,
    UnitLevel,
)


class NodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Node

    identifier = factory.Sequence(lambda n: f"VN:GOV:TEST.{n:02d}:node")
    name = factory.Sequence(lambda n: f"Nút thử nghiệm {n}")
    role = Node.Role.PROVINCIAL


class AgencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agency

    identifier = factory.Sequence(lambda n: f"000.00.{n % 100:02d}.X{90 + n // 100:02d}")
    identifier_generated = True
    name = factory.Sequence(lambda n: f"Cơ quan thử nghiệm {n}")
    kind = AgencyKind.DEPARTMENT
    node = factory.SubFactory(NodeFactory)


class PostalCodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PostalCode

    code = "10000"
    unit = factory.LazyFunction(
        lambda: AdministrativeUnit.objects.get(
            level=UnitLevel.COMMUNE, code="00070", valid_to__isnull=True
        )
    )
    label = ""
