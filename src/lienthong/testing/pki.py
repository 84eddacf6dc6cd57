"""Certificates for tests, shared by every app: the TEST PKI, built once and served on loopback.

``test_pki`` is shared by the whole session, so treat it as read-only: a
test that revokes gets a PKI of its own from ``test_pki_factory()``.
Certificates, keys and PKCS#12 files come from the ``TestPKI`` it yields
(``test_pki.certificate("officer")``, ``test_pki.p12_path("citizen")``), and
the URLs inside every certificate lead to its OCSP responders, CRLs and
time-stamping authority at ``test_pki.base_url``, so validators that fetch
revocation information find them as they would a real CA's.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

import pytest
from werkzeug.serving import make_server

from lienthong.trust import testpki

__all__ = ["free_loopback_port", "test_pki", "test_pki_factory", "trusted_test_pki"]


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def test_pki_factory(tmp_path_factory) -> Callable[[], testpki.TestPKI]:
    """Build a fresh TEST PKI in a temporary folder and serve it; call it once per PKI you need."""
    servers = []

    def build() -> testpki.TestPKI:
        directory = tmp_path_factory.mktemp("test-pki") / "pki"
        # The URL goes into the certificates, so the socket is bound first:
        # no other process can take the port in between.
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        port = listener.getsockname()[1]
        pki = testpki.build_test_pki(directory=directory, base_url=f"http://127.0.0.1:{port}")
        app = testpki.wsgi_app(directory)
        server = make_server("127.0.0.1", port, app, threaded=True, fd=listener.fileno())
        listener.close()  # the server holds its own duplicate
        thread = threading.Thread(target=server.serve_forever, name=f"test-pki-{port}", daemon=True)
        thread.start()
        servers.append((server, thread))
        return pki

    yield build
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def test_pki(test_pki_factory) -> testpki.TestPKI:
    """The session's shared TEST PKI, served at ``test_pki.base_url``. Do not revoke in it."""
    return test_pki_factory()


@pytest.fixture
def trusted_test_pki(db, test_pki) -> testpki.TestPKI:
    """``test_pki`` with its roots, intermediates and cross-certificates on the trust list
    (for this test only: the test's transaction is rolled back)."""
    testpki.add_to_trust_list(test_pki, actor="test")
    return test_pki
