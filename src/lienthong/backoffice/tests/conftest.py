"""Personas for the back office tests, around the portal's.

The People's Committee of Phường Xanh (test agency) receives the test
procedure: chị Lan and chị Thu are its one-stop officers, anh Minh its
specialist, anh Hùng its leader. Chị Mai, a citizen, submitted the dossier.
Anh Nam is the one-stop officer of Phường Vàng, another agency.
"""

from __future__ import annotations

import pytest

from lienthong.directory.tests.factories import AgencyFactory
from lienthong.identity.models import Role
from lienthong.portal.tests import conftest as portal
from lienthong.portal.tests.conftest import officer, submitted

# The portal's personas and settings, shared as they are.
portal_settings = portal.portal_settings
mai, binh, xanh, lan, minh = portal.mai, portal.binh, portal.xanh, portal.lan, portal.minh
procedure = portal.procedure


@pytest.fixture
def thu(xanh):
    return officer("thu.motcua", xanh, Role.ONE_STOP_OFFICER)


@pytest.fixture
def hung(xanh):
    return officer("hung.lanhdao", xanh, Role.LEADER)


@pytest.fixture
def vang(db):
    return AgencyFactory(name="UBND Phường Vàng (thử nghiệm)")


@pytest.fixture
def nam(vang):
    return officer("nam.motcua", vang, Role.ONE_STOP_OFFICER)


@pytest.fixture
def dossier(mai, procedure, xanh):
    """Chị Mai's online dossier, new at Phường Xanh."""
    return submitted(mai, procedure, xanh)


@pytest.fixture
def as_user(client):
    """Signs ``user`` in as a finished sign-in leaves them; returns the client."""

    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


def page_of(agency, dossier) -> str:
    return f"/backoffice/{agency.identifier}/dossiers/{dossier.code}/"


def act(client, agency, dossier, action: str, version: int | None = None, **data):
    """POSTs ``action`` from the dossier page's form, with the version it shows."""
    version = dossier.version if version is None else version
    fields = {f"{action}-version": version, **{f"{action}-{k}": v for k, v in data.items()}}
    return client.post(page_of(agency, dossier) + f"{action}/", fields)


@pytest.fixture
def xanh_key(xanh, test_pki, settings):
    """Phường Xanh's signing key on the node (the TEST PKI's agency key); no TSA: B-B."""
    from lienthong.dossiers.tests.conftest import import_agency_key

    settings.TSA_URL = ""
    return import_agency_key(test_pki, xanh)
