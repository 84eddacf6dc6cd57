"""A node hosting two agencies of the TEST PKI, talking to itself through the real API.

The receiving side is this same Django application reached through an httpx
WSGI transport, in the test's thread and transaction: every request goes
through URL routing, the API, the receiver's checks and the database exactly
as a peer node's would. (The multi-process harness, with several nodes each
on its own port and database, builds on the same services.)
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections

from lienthong.directory.models import Agency
from lienthong.exchange.models import AccessRight
from lienthong.testing.pki import trusted_test_pki  # noqa: F401  (re-exported fixture)
from lienthong.trust import keystore
from lienthong.trust.tests import certs

MINISTRY = "000.00.00.G12"  # TEST Bộ Tài chính: the TEST PKI's agency certificate
OFFICE = "000.00.00.G22"  # Văn phòng Chính phủ: a certificate issued here
NODE_URL = "http://node.test"


def in_process_app():
    """The node's WSGI application for an in-process client: like Django's test
    client, a request must not close the test's database connection. Reentrant:
    a request may make another (a query's client node calling the provider's)."""
    handler = get_wsgi_application()
    depth = [0]

    def app(environ, start_response):
        if depth[0] == 0:
            request_started.disconnect(close_old_connections)
            request_finished.disconnect(close_old_connections)
        depth[0] += 1
        try:
            result = handler(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                result.close()
        finally:
            depth[0] -= 1
            if depth[0] == 0:
                request_started.connect(close_old_connections)
                request_finished.connect(close_old_connections)

    return app


@pytest.fixture
def node(settings, trusted_test_pki):  # noqa: F811
    settings.NODE_AGENCIES = [MINISTRY, OFFICE]
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "node.test"]
    ministry = Agency.objects.get(identifier=MINISTRY)
    office = Agency.objects.get(identifier=OFFICE)
    for agency in (ministry, office):
        agency.node.base_url = NODE_URL
        agency.node.save(update_fields=["base_url"])
    keys = {
        MINISTRY: keystore.import_pkcs12(
            actor="test",
            data=trusted_test_pki.p12_path("agency").read_bytes(),
            passphrase=trusted_test_pki.p12_passphrase("agency"),
            name="TEST ministry key",
            agency=ministry,
        ),
        OFFICE: import_issued(trusted_test_pki, office, "TEST Văn phòng Chính phủ"),
    }
    AccessRight.objects.create(provider=office, message_type="dossier.*", consumer=ministry)
    AccessRight.objects.create(provider=ministry, message_type="dossier.*", consumer=office)
    transport = httpx.WSGITransport(app=in_process_app())
    http = httpx.Client(transport=transport, base_url=NODE_URL)
    yield SimpleNamespace(
        pki=trusted_test_pki, keys=keys, ministry=ministry, office=office, http=http
    )
    http.close()


def import_issued(pki, agency: Agency, common_name: str, **options):
    """A key for ``agency``, its certificate issued now under the government CA."""
    from lienthong.trust.tests.signatures import Signer

    ca = Signer.from_pki(pki, "government-ca")
    leaf = certs.issue(
        common_name,
        issuer=ca.as_issuer(),
        ca=False,
        user_id=agency.identifier,
        valid_from=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
        **options,
    )
    chain = b"".join(
        c.public_bytes(serialization.Encoding.PEM) for c in [leaf.certificate, *ca.everything]
    )
    key_pem = leaf.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return keystore.import_pem(
        actor="test",
        key_pem=key_pem,
        cert_pem_chain=chain,
        passphrase=None,
        name=f"key of {common_name}",
        agency=agency,
    )
