"""Every /dossiers/ route, walked anonymously and by someone else than the applicant:
only the lookup is open, and another citizen's dossier does not exist."""

import pytest
from django.urls import URLPattern, reverse

from lienthong.portal import urls
from lienthong.portal.tests.conftest import BINH_ID, submitted

pytestmark = pytest.mark.django_db

# The lookup, and the payment backend's callback (its server has no session; what it
# sends is verified by the backend).
PUBLIC = {"lookup", "payment-callback"}


GROUP = "LT.900001"  # seeded: birth registration, interconnected


def routes(dossier_code: str, procedure_code: str, agency: str = "000.00.00.G12"):
    values = {
        "code": dossier_code,
        "procedure_code": procedure_code,
        "group_code": GROUP,
        "agency": agency,
        "position": 2,
        "reference": "none",
        "backend": "console",
    }
    for pattern in urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        route = str(pattern.pattern)
        kwargs = {
            key: value
            for key, value in values.items()
            if f"<str:{key}>" in route or f"<int:{key}>" in route
        }
        yield pattern.name, route, reverse(f"portal:{pattern.name}", kwargs=kwargs)


@pytest.fixture
def dossier(mai, procedure, xanh):
    return submitted(mai, procedure, xanh)


def test_anonymous_visitors_only_reach_the_lookup(client, dossier, procedure):
    for name, _route, path in routes(dossier.code, procedure.code):
        for method in (client.get, client.post):
            response = method(path)
            assert response.status_code < 500, (name, method)
            if name not in PUBLIC:
                assert response.status_code == 302, (name, method)
                assert response["Location"].startswith("/account/sign-in/"), (name, method)


def test_another_citizen_finds_no_trace_of_the_dossier(signed_in, binh, dossier, procedure):
    client = signed_in(BINH_ID)
    for name, route, path in routes(dossier.code, procedure.code):
        if "<str:code>" in route:
            for method in (client.get, client.post):
                assert method(path).status_code in (404, 405), (name, method)
