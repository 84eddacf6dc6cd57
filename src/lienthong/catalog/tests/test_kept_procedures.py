"""A procedure read once per process and kept while the catalogue's revision (changed by
database triggers with every write to its tables) stays the one it was read under."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from lienthong.catalog import selectors
from lienthong.catalog.models import CatalogRevision, Fee, FormField, Procedure, RequiredDocument
from lienthong.catalog.tests.factories import FeeFactory, FormFieldFactory, ProcedureFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def procedure():
    selectors._procedures.clear()
    found = ProcedureFactory()
    FormFieldFactory(procedure=found, key="ho_ten", label="Họ tên")
    FeeFactory(procedure=found, amount=8000)
    return found


def read(code):
    with CaptureQueriesContext(connection) as queries:
        found = selectors.procedure_by_code(code)
    return found, len(queries)


def test_a_kept_procedure_costs_one_query_and_is_a_copy(procedure):
    first, first_queries = read(procedure.code)
    second, second_queries = read(procedure.code)

    assert first_queries == 5  # the revision, the procedure and its field, three prefetches
    assert second_queries == 1  # the revision alone
    assert second.pk == procedure.pk and second is not first
    assert [f.key for f in second.form_fields.all()] == ["ho_ten"]
    assert [f.amount for f in second.fees.all()] == [8000]
    assert second.field.name == procedure.field.name
    second.statuses = ["set by one caller"]
    third, _ = read(procedure.code)
    assert not hasattr(third, "statuses")


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            lambda p: Procedure.objects.filter(pk=p.pk).update(name="Tên mới"), id="update"
        ),
        pytest.param(lambda p: FormField.objects.filter(procedure=p).delete(), id="delete"),
        pytest.param(lambda p: FormFieldFactory(procedure=p, key="dia_chi"), id="insert"),
        pytest.param(lambda p: Fee.objects.filter(procedure=p).update(amount=10000), id="fee"),
        pytest.param(
            lambda p: RequiredDocument.objects.create(procedure=p, name="Tờ khai"), id="document"
        ),
        pytest.param(
            lambda p: type(p.field).objects.filter(pk=p.field_id).update(name="Khác"), id="field"
        ),
        pytest.param(
            lambda p: connection.cursor().execute(
                "UPDATE catalog_procedure SET time_limit = 7 WHERE id = %s", [p.pk]
            ),
            id="sql",
        ),
    ],
)
def test_any_write_to_the_tables_is_read_again(procedure, change):
    read(procedure.code)
    change(procedure)
    fresh, queries = read(procedure.code)

    assert queries == 5
    expected = (
        Procedure.objects.select_related("field")
        .prefetch_related("form_fields", "fees", "documents")
        .get(pk=procedure.pk)
    )
    assert (fresh.name, fresh.time_limit, fresh.field.name) == (
        expected.name,
        expected.time_limit,
        expected.field.name,
    )
    assert [f.key for f in fresh.form_fields.all()] == [f.key for f in expected.form_fields.all()]
    assert [f.amount for f in fresh.fees.all()] == [f.amount for f in expected.fees.all()]
    assert [d.name for d in fresh.documents.all()] == [d.name for d in expected.documents.all()]


def test_a_change_rolled_back_is_not_kept_after_it(procedure):
    with pytest.raises(RuntimeError), transaction.atomic():
        Procedure.objects.filter(pk=procedure.pk).update(name="Tên chưa lưu")
        inside, _ = read(procedure.code)
        assert inside.name == "Tên chưa lưu"
        raise RuntimeError("rolled back")

    after, queries = read(procedure.code)

    assert after.name == procedure.name
    assert queries == 5


def test_an_inactive_or_unknown_procedure_is_not_kept(procedure):
    assert read("LT.999999") == (None, 5 - 3)  # the revision, the procedure: none
    read(procedure.code)
    Procedure.objects.filter(pk=procedure.pk).update(is_active=False)
    assert read(procedure.code)[0] is None
    assert procedure.code not in selectors._procedures


def test_without_the_revision_nothing_is_kept(procedure):
    CatalogRevision.objects.all().delete()
    read(procedure.code)
    again, queries = read(procedure.code)

    assert again.pk == procedure.pk
    assert queries == 5
    assert selectors.catalog_revision() is None


def test_the_procedure_page_and_the_api_read_the_kept_procedure(client, procedure):
    assert client.get(f"/procedures/{procedure.code}/").status_code == 200
    Procedure.objects.filter(pk=procedure.pk).update(name="Tên đã đổi")

    page = client.get(f"/procedures/{procedure.code}/").content.decode()
    answer = client.get(f"/api/v1/procedures/{procedure.code}").json()

    assert "Tên đã đổi" in page
    assert answer["name"] == "Tên đã đổi"
    assert [status["number"] for status in answer["statuses"]] == list(range(1, 11))
