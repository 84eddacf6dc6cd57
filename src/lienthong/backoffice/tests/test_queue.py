"""The officer's agencies and each agency's queues: new, due soon, overdue, waiting
for a supplement; another agency's queue does not exist for them."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from lienthong.backoffice import views
from lienthong.dossiers import services
from lienthong.dossiers.models import Dossier
from lienthong.identity import services as identity
from lienthong.identity.models import Role

from .conftest import officer, submitted

pytestmark = pytest.mark.django_db


def test_an_anonymous_visitor_is_sent_to_sign_in(client, xanh):
    for path in ("/backoffice/", f"/backoffice/{xanh.identifier}/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/account/sign-in/")


def test_the_officer_sees_the_agencies_they_work_for(as_user, lan, xanh, vang):
    identity.grant_role(actor="test", user=lan, agency=vang, role=Role.SPECIALIST, source="test")
    page = as_user(lan).get("/backoffice/").content.decode()
    assert xanh.name in page
    assert vang.name in page
    assert f"/backoffice/{xanh.identifier}/" in page


def test_someone_without_an_officer_role_finds_no_back_office(as_user, mai):
    assert as_user(mai).get("/backoffice/").status_code == 404


def test_the_navigation_links_to_the_back_office_for_officers_only(as_user, client, lan, mai):
    assert "Xử lý hồ sơ" in as_user(lan).get("/").content.decode()
    client.logout()
    assert "Xử lý hồ sơ" not in as_user(mai).get("/").content.decode()


def test_the_new_queue_lists_new_dossiers_with_the_applicant(as_user, lan, xanh, dossier):
    response = as_user(lan).get(f"/backoffice/{xanh.identifier}/?queue=new")
    page = response.content.decode()
    assert response.status_code == 200
    assert dossier.code in page
    assert "Nguyễn Thị Mai" in page
    assert f'href="/backoffice/{xanh.identifier}/dossiers/{dossier.code}/"' in page


def test_the_queues_are_tabs_that_are_plain_links(as_user, lan, xanh):
    page = as_user(lan).get(f"/backoffice/{xanh.identifier}/?queue=overdue").content.decode()
    for slug, _label in views.QUEUES:
        assert f'href="?queue={slug}"' in page
    assert 'href="?queue=overdue" aria-current="page"' in page


def test_an_overdue_dossier_is_in_the_overdue_queue_only(as_user, lan, xanh, dossier):
    accepted = services.accept(actor=lan, dossier=dossier, expected_version=dossier.version)
    Dossier.objects.filter(pk=accepted.pk).update(due_at=timezone.now() - dt.timedelta(days=1))
    client = as_user(lan)
    assert (
        dossier.code in client.get(f"/backoffice/{xanh.identifier}/?queue=overdue").content.decode()
    )
    assert (
        dossier.code not in client.get(f"/backoffice/{xanh.identifier}/?queue=new").content.decode()
    )


def test_a_dossier_waiting_for_a_supplement_is_in_that_queue(as_user, lan, xanh, dossier):
    services.request_supplement(
        actor=lan, dossier=dossier, reason="Thiếu bản sao", expected_version=dossier.version
    )
    page = as_user(lan).get(f"/backoffice/{xanh.identifier}/?queue=supplement").content.decode()
    assert dossier.code in page


def test_the_queue_is_paginated(as_user, mai, lan, xanh, procedure):
    for _ in range(views.PAGE_SIZE + 1):
        submitted(mai, procedure, xanh)
    client = as_user(lan)
    first = client.get(f"/backoffice/{xanh.identifier}/?queue=new").content.decode()
    assert 'href="?queue=new&amp;page=2"' in first
    second = client.get(f"/backoffice/{xanh.identifier}/?queue=new&page=2").content.decode()
    assert second.count(f'href="/backoffice/{xanh.identifier}/dossiers/') == 1


def test_another_agencys_queue_is_404_like_an_absent_one(as_user, nam, xanh, dossier):
    client = as_user(nam)
    assert client.get(f"/backoffice/{xanh.identifier}/").status_code == 404
    assert client.get("/backoffice/000.00.00.X99/").status_code == 404


def test_a_staff_member_without_an_officer_role_gets_404(as_user, xanh):
    staff = officer("operator.bo", xanh, Role.ONE_STOP_OFFICER)
    staff.officer_roles.all().delete()
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    assert as_user(staff).get(f"/backoffice/{xanh.identifier}/").status_code == 404


def test_the_queue_reads_its_rows_in_one_query_however_many_there_are(
    as_user, mai, lan, xanh, procedure, dossier
):
    client = as_user(lan)
    client.get(f"/backoffice/{xanh.identifier}/")  # the session's first request writes
    with CaptureQueriesContext(connection) as one:
        client.get(f"/backoffice/{xanh.identifier}/?queue=new")
    more = [submitted(mai, procedure, xanh) for _ in range(3)]
    with CaptureQueriesContext(connection) as four:
        page = client.get(f"/backoffice/{xanh.identifier}/?queue=new").content.decode()
    for listed in (dossier, *more):
        assert f'href="/backoffice/{xanh.identifier}/dossiers/{listed.code}/"' in page
    assert len(four.captured_queries) == len(one.captured_queries)
