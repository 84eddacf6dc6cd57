import factory

from lienthong.catalog.models import (
    AuthorityKind,
    AuthorityLevel,
    Fee,
    FieldKind,
    FormField,
    OnlineLevel,
    Procedure,
    ProcedureField,
)


class ProcedureFieldFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProcedureField
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"linh-vuc-{n}")
    name = factory.Sequence(lambda n: f"Lĩnh vực thử nghiệm {n}")


class ProcedureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Procedure

    code = factory.Sequence(lambda n: f"LT.{800000 + n:06d}")
    name = factory.Sequence(lambda n: f"Thủ tục thử nghiệm {n}")
    field = factory.SubFactory(ProcedureFieldFactory)
    level = AuthorityLevel.COMMUNE
    authority_kind = AuthorityKind.JUSTICE
    authority = "Ủy ban nhân dân cấp xã"
    online_level = OnlineLevel.FULL
    time_limit = 3


class FormFieldFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FormField

    procedure = factory.SubFactory(ProcedureFactory)
    key = factory.Sequence(lambda n: f"field_{n}")
    kind = FieldKind.TEXT
    label = "Trường thử nghiệm"


class FeeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Fee

    procedure = factory.SubFactory(ProcedureFactory)
    description = "Lệ phí"
    amount = 0
