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

__all__ = [
    "free_loopback_port",
    "ocsp_changed",
    "responder_key",
    "test_pki",
    "test_pki_factory",
    "trusted_test_pki",
]


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


def responder_key(pki: testpki.TestPKI, der: bytes):
    """The private key of the TEST PKI's OCSP responder whose certificate the response
    ``der`` carries (each CA's delegated responder, ``ocsp-<ca>``)."""
    from asn1crypto import ocsp
    from cryptography.hazmat.primitives import serialization

    basic = ocsp.OCSPResponse.load(der)["response_bytes"]["response"].parsed
    included = basic["certs"][0].dump()
    label = next(
        f"ocsp-{ca}"
        for ca in testpki.CERTIFICATION_AUTHORITIES
        if pki.certificate(f"ocsp-{ca}").dump() == included
    )
    return serialization.load_der_private_key(pki.private_key(label).dump(), password=None)


def ocsp_changed(der: bytes, *, status=None, key=None) -> bytes:
    """The OCSP response ``der`` with every answer's status set to ``status`` (an
    asn1crypto ``CertStatus``) when given, signed again by ``key`` when given, else
    left with the signature it had (which then no longer matches)."""
    from asn1crypto import ocsp
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    basic = ocsp.OCSPResponse.load(der)["response_bytes"]["response"].parsed
    if status is not None:
        for single in basic["tbs_response_data"]["responses"]:
            single["cert_status"] = status
    basic = ocsp.BasicOCSPResponse.load(basic.dump(force=True))
    if key is not None:
        tbs = basic["tbs_response_data"].dump()
        if isinstance(key, rsa.RSAPrivateKey):
            basic["signature"] = key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
            basic["signature_algorithm"] = {"algorithm": "sha256_rsa"}
        else:
            basic["signature"] = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
            basic["signature_algorithm"] = {"algorithm": "sha256_ecdsa"}
    return ocsp.OCSPResponse(
        {
            "response_status": "successful",
            "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
        }
    ).dump()
