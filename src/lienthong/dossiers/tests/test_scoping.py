"""Who sees which dossier: officers their agencies' dossiers, a citizen their own, nobody else any."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from lienthong.dossiers import selectors
from lienthong.dossiers.tests.conftest import submit


@pytest.fixture
def dossiers(people):
    return {
        "mai_xanh": submit(people.procedure, people.xanh, people.mai),
        "binh_do": submit(people.procedure, people.do, people.binh),
    }


def test_an_officer_of_agency_a_cannot_see_agency_bs_dossier(people, dossiers):
    for officer in (people.lan, people.minh, people.hoa):
        assert selectors.dossier_for(officer, dossiers["mai_xanh"].code) == dossiers["mai_xanh"]
        assert selectors.dossier_for(officer, dossiers["binh_do"].code) is None
    assert selectors.dossier_for(people.khoa, dossiers["binh_do"].code) == dossiers["binh_do"]
    assert selectors.dossier_for(people.khoa, dossiers["mai_xanh"].code) is None


def test_another_agencys_queue_is_empty_for_an_officer(people, dossiers):
    assert list(selectors.officer_queue(people.lan, people.xanh, "new")) == [dossiers["mai_xanh"]]
    assert list(selectors.officer_queue(people.lan, people.do, "new")) == []
    assert list(selectors.officer_queue(people.mai, people.xanh, "new")) == []


def test_a_citizen_sees_only_their_own(people, dossiers):
    assert list(selectors.my_dossiers(people.mai)) == [dossiers["mai_xanh"]]
    assert selectors.dossier_for(people.mai, dossiers["mai_xanh"].code) == dossiers["mai_xanh"]
    assert selectors.dossier_for(people.mai, dossiers["binh_do"].code) is None
    assert selectors.dossier_for(people.binh, dossiers["mai_xanh"].code) is None


def test_forbidden_and_absent_look_the_same(people, dossiers):
    assert selectors.dossier_for(people.binh, dossiers["mai_xanh"].code) is None
    assert selectors.dossier_for(people.binh, "000.00.00.X99-261201-0001") is None


def test_an_anonymous_or_deactivated_user_sees_nothing(people, dossiers):
    assert selectors.dossier_for(AnonymousUser(), dossiers["mai_xanh"].code) is None
    assert list(selectors.my_dossiers(AnonymousUser())) == []
    people.lan.is_active = False
    people.lan.save()
    assert selectors.dossier_for(people.lan, dossiers["mai_xanh"].code) is None
    assert list(selectors.officer_queue(people.lan, people.xanh, "new")) == []


def test_the_timeline_lists_every_event_in_order(people, dossiers):
    from lienthong.dossiers import services

    dossier = services.accept(actor=people.lan, dossier=dossiers["mai_xanh"], expected_version=1)
    assert [(e.action, e.status_to) for e in selectors.timeline(dossier)] == [
        ("submitted", 1),
        ("accepted", 2),
    ]
