"""The rows the list pages print (queue, "my dossiers"): plain values made ready in
Python, saying exactly what the model and its template filters say."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from lienthong.dossiers import selectors
from lienthong.dossiers.models import Dossier, Status
from lienthong.dossiers.templatetags.dossiers import local_date, local_datetime, status_label
from lienthong.dossiers.tests.conftest import put_in, submit

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "code", ["000.00.00.H01-261205-0001", "A B?#%", "Hồ sơ", "x!$&'()*+,;=:@~"]
)
def test_a_rows_address_is_what_reverse_makes(code):
    portal = selectors.url_of_code("portal:detail")
    backoffice = selectors.url_of_code("backoffice:detail", "000.00.00.H01")
    assert portal(code) == reverse("portal:detail", args=[code])
    assert backoffice(code) == reverse("backoffice:detail", args=["000.00.00.H01", code])


@pytest.mark.parametrize("language", ["vi", "en"])
def test_the_rows_say_what_the_dossier_and_its_filters_say(people, language):
    people.procedure.name_en = "Birth registration (test)"
    people.procedure.save()
    new = submit(people.procedure, people.xanh, people.mai)
    accepted = put_in(
        submit(people.procedure, people.xanh, people.mai),
        Status.PROCESSING,
        due_at=dt.datetime(2026, 12, 31, 16, 30, tzinfo=dt.UTC),
    )
    url = selectors.url_of_code("portal:detail")
    with translation.override(language), timezone.override("Asia/Ho_Chi_Minh"):
        rows = selectors.list_rows(
            selectors.row_values(Dossier.objects.filter(pk__in=[new.pk, accepted.pk])), url
        )
        by_code = {row["code"]: row for row in rows}
        for dossier in (new, accepted):
            row = by_code[dossier.code]
            assert row["url"] == reverse("portal:detail", args=[dossier.code])
            assert row["procedure"] == dossier.procedure.localized_name
            assert row["agency"] == dossier.current_agency.name
            assert row["applicant"] == dossier.applicant_name
            assert row["status"] == status_label(dossier.status)
            assert row["submitted"] == local_datetime(dossier.submitted_at)
            assert row["submitted_date"] == local_date(dossier.submitted_at)
        assert by_code[new.code]["due"] is None
        assert by_code[accepted.code]["due"] == "31/12/2026 23:30"
        assert by_code[accepted.code]["procedure"] == (
            "Birth registration (test)" if language == "en" else "Đăng ký khai sinh (thử nghiệm)"
        )


def test_a_given_status_is_the_one_printed(people):
    dossier = submit(people.procedure, people.xanh, people.mai)
    with translation.override("vi"):
        rows = selectors.list_rows(
            selectors.row_values(Dossier.objects.filter(pk=dossier.pk)),
            selectors.url_of_code("portal:detail"),
            lambda row: Status.DONE,
        )
        assert rows[0]["status"] == str(Status.DONE.label)


def test_the_public_timeline_rows_match_the_timeline(people):
    dossier = submit(people.procedure, people.xanh, people.mai)
    dossier = put_in(dossier, Status.SUPPLEMENT_REQUESTED)
    dossier.events.create(
        at=timezone.now(), action="supplement_requested", status_from=1, status_to=5,
        reason="Thiếu bản sao", agency=None,
    )  # fmt: skip
    events = list(selectors.timeline(dossier))
    rows = selectors.timeline_rows(dossier)
    assert len(rows) == len(events) == 2
    for event, row in zip(events, rows, strict=True):
        assert (row["at"], row["action"], row["status_to"], row["step"], row["reason"]) == (
            event.at, event.action, event.status_to, event.step, event.reason,
        )  # fmt: skip
        assert row["agency"] == (None if event.agency is None else {"name": event.agency.name})
    assert rows[0]["agency"] == {"name": people.xanh.name}
