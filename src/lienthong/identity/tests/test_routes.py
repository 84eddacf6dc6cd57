"""Every /account/ route, walked anonymously: only the sign-in steps, the password
reset and the recovery explanation are open."""

import pytest
from django.urls import URLPattern, reverse

from lienthong.identity import urls
from lienthong.identity.tests.conftest import MAI_ID, give_totp, sign_in

pytestmark = pytest.mark.django_db

# Reachable without being signed in: signing in, its passkey ceremony, a forgotten
# password and what to do about a lost second factor.
PUBLIC = {
    "sign-in",
    "sign-in-verify",
    "passkey-sign-in-options",
    "passkey-sign-in",
    "sign-out",
    "password-reset",
    "password-reset-sent",
    "password-reset-link",
    "password-reset-new",
    "recovery",
}
ARGUMENTS = {"pk": 1, "uidb64": "MQ", "token": "abc-0123456789abcdef"}


def routes():
    for pattern in urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        kwargs = {name: ARGUMENTS[name] for name in pattern.pattern.converters}
        yield pattern.name, reverse(f"identity:{pattern.name}", kwargs=kwargs)


@pytest.mark.parametrize(("name", "path"), list(routes()))
def test_anonymous_visitors_only_reach_the_sign_in_steps(client, name, path):
    for method in (client.get, client.post):
        response = method(path)
        assert response.status_code < 500, (name, method)
        if name not in PUBLIC:
            assert response.status_code == 302, (name, method)
            assert response["Location"].startswith("/account/sign-in/"), (name, method)


def test_a_pending_second_step_does_not_open_the_account_pages(client, mai):
    give_totp(mai)
    sign_in(client, MAI_ID)
    for name, path in routes():
        if name not in PUBLIC:
            assert client.get(path).status_code == 302, name
