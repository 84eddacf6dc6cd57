"""Rating the handling of a dossier: the applicant only, once the result is out,
once per dossier (changeable for seven days), audited; the agency's leaders
read the figures."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from lienthong.audit.models import AuditRecord
from lienthong.dossiers.errors import DossierConflict
from lienthong.dossiers.models import Status
from lienthong.portal import ratings, selectors, services
from lienthong.portal.errors import PortalConflict
from lienthong.portal.models import Rating
from lienthong.portal.tests.conftest import BINH_ID, MAI_ID, decided, officer, submitted

pytestmark = pytest.mark.django_db

ALL_VERY = dict.fromkeys(ratings.KEYS, ratings.VERY_SATISFIED)


@pytest.fixture
def done(mai, procedure, xanh, lan, minh, hoa):
    return decided(submitted(mai, procedure, xanh), lan=lan, minh=minh, hoa=hoa)


def answers(**changes) -> dict[str, int]:
    return {**ALL_VERY, **changes}


def form(**changes) -> dict[str, str]:
    return {key: str(value) for key, value in {**ALL_VERY, "comment": "", **changes}.items()}


def test_the_questionnaire_has_eleven_questions_marked_provisional():
    assert len(ratings.QUESTIONS) == 11
    assert len(set(ratings.KEYS)) == 11
    assert ratings.PROVISIONAL is True
    assert ratings.MAX_SCORE == 22


def test_the_applicant_rates_a_decided_dossier(mai, done):
    rating = services.rate(
        actor=mai, dossier=done, answers=answers(attitude=0, overall=1), comment=" Nhanh. "
    )

    assert rating.score == 22 - 2 - 1
    assert rating.agency == done.current_agency
    assert rating.comment == "Nhanh."
    assert rating.answers["attitude"] == 0
    record = AuditRecord.objects.get(action="rate", object_id=str(rating.pk))
    assert record.changes["dossier"] == done.code
    assert record.changes["score"] == 19


def test_a_returned_dossier_can_be_rated_too(mai, procedure, xanh, lan, minh, hoa):
    dossier = decided(submitted(mai, procedure, xanh), lan=lan, minh=minh, hoa=hoa, returned=True)
    assert dossier.status == Status.RESULT_RETURNED

    assert services.rate(actor=mai, dossier=dossier, answers=answers()).score == 22


def test_it_cannot_be_rated_before_the_result_is_out(mai, procedure, xanh):
    dossier = submitted(mai, procedure, xanh)

    with pytest.raises(PortalConflict) as refused:
        services.rate(actor=mai, dossier=dossier, answers=answers())

    assert refused.value.code == "rating_not_open"
    assert Rating.objects.count() == 0


def test_only_the_applicant_rates(binh, lan, done):
    for someone in (binh, lan):
        with pytest.raises(DossierConflict) as refused:
            services.rate(actor=someone, dossier=done, answers=answers())
        assert refused.value.code == "not_allowed"
    assert Rating.objects.count() == 0


def test_every_question_must_be_answered_on_the_scale(mai, done):
    incomplete = answers()
    del incomplete["overall"]
    for wrong in (incomplete, answers(overall=3), answers(overall="rất tốt")):
        with pytest.raises(PortalConflict) as refused:
            services.rate(actor=mai, dossier=done, answers=wrong)
        assert refused.value.code == "rating_incomplete"
    assert Rating.objects.count() == 0


def test_a_second_rating_changes_the_first_within_seven_days(mai, done):
    first = services.rate(actor=mai, dossier=done, answers=answers(overall=0))
    with time_machine.travel(first.created_at + dt.timedelta(days=6)):
        second = services.rate(actor=mai, dossier=done, answers=answers(), comment="Đã sửa")

    assert second.pk == first.pk
    assert Rating.objects.count() == 1
    assert second.score == 22
    record = AuditRecord.objects.get(action="rate_again", object_id=str(first.pk))
    assert record.changes["score"] == [20, 22]
    assert record.changes["comment"] == ["", "Đã sửa"]


def test_after_seven_days_the_rating_is_final(mai, done):
    first = services.rate(actor=mai, dossier=done, answers=answers(overall=0))
    later = first.created_at + dt.timedelta(days=7, seconds=1)
    with time_machine.travel(later), pytest.raises(PortalConflict) as refused:
        services.rate(actor=mai, dossier=done, answers=answers())

    assert refused.value.code == "rating_final"
    first.refresh_from_db()
    assert first.score == 20


def test_the_refusals_speak_vietnamese_and_english():
    refusal = PortalConflict("rating_final")
    assert refusal.message_en == "This rating can no longer be changed."
    assert refusal.message_vi  # translated by the catalogue; never empty


# --- Pages -----------------------------------------------------------------------------------


def test_the_dossier_page_invites_the_applicant_to_rate(signed_in, done):
    page = signed_in(MAI_ID).get(f"/dossiers/{done.code}/").content.decode()

    assert f'href="/dossiers/{done.code}/rating/"' in page


def test_the_applicant_rates_through_the_page(signed_in, english, done):
    client = signed_in(MAI_ID)
    page = client.get(f"/dossiers/{done.code}/rating/").content.decode()
    assert page.count('type="radio"') == 33
    assert "provisional" in page

    response = client.post(
        f"/dossiers/{done.code}/rating/", form(online=1, comment="Cảm ơn cán bộ")
    )

    assert response.status_code == 302
    assert response["Location"] == f"/dossiers/{done.code}/"
    rating = Rating.objects.get()
    assert (rating.score, rating.comment) == (21, "Cảm ơn cán bộ")
    detail = client.get(f"/dossiers/{done.code}/").content.decode()
    assert "You rated the handling of this dossier" in detail


def test_an_unanswered_question_is_marked_and_nothing_is_kept(signed_in, english, done):
    data = form()
    del data["overall"]

    response = signed_in(MAI_ID).post(f"/dossiers/{done.code}/rating/", data)

    assert response.status_code == 400
    assert "Choose an answer." in response.content.decode()
    assert Rating.objects.count() == 0


def test_the_page_shows_no_form_before_the_result_is_out(signed_in, english, mai, procedure, xanh):
    dossier = submitted(mai, procedure, xanh)
    client = signed_in(MAI_ID)

    page = client.get(f"/dossiers/{dossier.code}/rating/").content.decode()
    posted = client.post(f"/dossiers/{dossier.code}/rating/", form())

    assert "once its result is out" in page
    assert 'type="radio"' not in page
    assert posted.status_code == 409
    assert Rating.objects.count() == 0


def test_another_citizen_cannot_rate(signed_in, binh, done):
    client = signed_in(BINH_ID)

    assert client.get(f"/dossiers/{done.code}/rating/").status_code == 404
    assert client.post(f"/dossiers/{done.code}/rating/", form()).status_code == 404
    assert Rating.objects.count() == 0


# --- The agency's figures --------------------------------------------------------------------


def test_the_summary_averages_per_question_and_splits_the_overall_answer(
    mai, binh, procedure, xanh, lan, minh, hoa
):
    first = decided(submitted(mai, procedure, xanh), lan=lan, minh=minh, hoa=hoa)
    second = decided(submitted(binh, procedure, xanh), lan=lan, minh=minh, hoa=hoa)
    services.rate(actor=mai, dossier=first, answers=answers(attitude=0, overall=1))
    services.rate(actor=binh, dossier=second, answers=answers(attitude=1, overall=2))

    summary = selectors.agency_ratings(xanh)

    assert summary.count == 2
    assert summary.average_percent == round(100 * (19 + 21) / 44)
    by_key = {question.key: (average, percent) for question, average, percent in summary.questions}
    assert by_key["attitude"] == (0.5, 25)
    assert by_key["publicity"] == (2.0, 100)
    assert [number for _label, number in summary.overall] == [1, 1, 0]
    assert len(summary.recent) == 2


def test_the_leader_reads_the_ratings_and_the_one_stop_officer_does_not(
    client, mai, done, xanh, hoa, lan
):
    services.rate(actor=mai, dossier=done, answers=answers(), comment="Rất tốt")

    client.force_login(hoa)
    assert xanh.identifier in client.get("/dossiers/ratings/").content.decode()
    page = client.get(f"/dossiers/ratings/{xanh.identifier}/")
    assert page.status_code == 200
    assert "Rất tốt" in page.content.decode()

    client.force_login(lan)
    assert client.get("/dossiers/ratings/").status_code == 404
    assert client.get(f"/dossiers/ratings/{xanh.identifier}/").status_code == 404


def test_an_assessor_of_another_agency_reads_nothing_here(client, done, xanh):
    from lienthong.directory.tests.factories import AgencyFactory
    from lienthong.identity.models import Role

    other = AgencyFactory(name="UBND Phường Đỏ (thử nghiệm)")
    assessor = officer("nam.danhgia", other, Role.ASSESSOR)
    client.force_login(assessor)

    assert client.get(f"/dossiers/ratings/{xanh.identifier}/").status_code == 404
    assert client.get(f"/dossiers/ratings/{other.identifier}/").status_code == 200
