"""Authorisation in one place: an agency the user may not act for does not exist for them."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404, HttpResponse
from django.test import RequestFactory

from lienthong.errors import ApiError
from lienthong.identity import permissions, services
from lienthong.identity.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def hung_specialist_at_justice(hung, justice):
    services.grant_role(
        actor="test", user=hung, agency=justice, role=Role.SPECIALIST, source="test"
    )
    return hung


def test_agencies_for_lists_the_agencies_where_the_user_holds_the_role(
    hung_specialist_at_justice, justice, commune
):
    hung = hung_specialist_at_justice
    services.grant_role(actor="test", user=hung, agency=commune, role=Role.LEADER, source="test")
    assert list(permissions.agencies_for(hung, Role.SPECIALIST)) == [justice]
    assert set(permissions.agencies_for(hung)) == {justice, commune}
    assert set(permissions.agencies_for(hung, [Role.SPECIALIST, Role.LEADER])) == {
        justice,
        commune,
    }


def test_has_role_is_false_in_another_agency_or_for_another_role(
    hung_specialist_at_justice, justice, commune
):
    hung = hung_specialist_at_justice
    assert permissions.has_role(hung, justice, Role.SPECIALIST)
    assert not permissions.has_role(hung, justice, Role.LEADER)
    assert not permissions.has_role(hung, commune, Role.SPECIALIST)


def test_anonymous_and_inactive_users_hold_no_role(hung_specialist_at_justice, justice):
    assert not permissions.agencies_for(AnonymousUser()).exists()
    hung_specialist_at_justice.is_active = False
    hung_specialist_at_justice.save()
    assert not permissions.has_role(hung_specialist_at_justice, justice)


def _view(request, agency):
    return HttpResponse(agency.identifier)


def test_require_role_gives_the_same_404_for_a_forbidden_and_an_absent_agency(
    hung_specialist_at_justice, justice, commune
):
    view = permissions.require_role(Role.SPECIALIST)(_view)
    request = RequestFactory().get("/x")
    request.user = hung_specialist_at_justice
    assert view(request, agency=justice.identifier).content.decode() == justice.identifier
    with pytest.raises(Http404):
        view(request, agency=commune.identifier)
    with pytest.raises(Http404):
        view(request, agency="000.00.00.Z99")


def test_require_role_sends_anonymous_users_to_sign_in(justice):
    view = permissions.require_role(Role.SPECIALIST)(_view)
    request = RequestFactory().get("/agencies/x/")
    request.user = AnonymousUser()
    response = view(request, agency=justice.identifier)
    assert response.status_code == 302
    assert response["Location"].startswith("/account/sign-in/?next=")


def test_the_api_helper_answers_forbidden_like_absent(hung_specialist_at_justice, commune):
    request = RequestFactory().get("/api")
    request.user = hung_specialist_at_justice
    errors = []
    for identifier in (commune.identifier, "000.00.00.Z99"):
        with pytest.raises(ApiError) as caught:
            permissions.api_agency_or_404(request, identifier, Role.SPECIALIST)
        errors.append(caught.value.body())
    assert errors[0] == errors[1]
    assert errors[0]["code"] == "agency_not_found"


def test_scope_narrows_a_queryset_to_the_users_agencies(hung_specialist_at_justice, justice):
    from lienthong.identity.models import OfficerRole

    rows = permissions.scope(OfficerRole.objects.all(), hung_specialist_at_justice)
    assert {row.agency_id for row in rows} == {justice.pk}
