"""Mutual TLS between nodes: the receiving listener, the sending client, pinning.

Receiving: ``lienthong serve --exchange`` runs a second granian listener on
``LIENTHONG_EXCHANGE_LISTEN_PORT`` with the node's certificate
(``LIENTHONG_TLS_CERTIFICATE``/``…_PRIVATE_KEY``); it completes a handshake only
with a client whose certificate leads to the client CA bundle — by default
every enabled root and intermediate of the trust list, both hierarchies, written to the
data folder by ``ca_bundle``. That listener serves node-to-node calls only
(``ListenerMiddleware``), and once it is configured the public listener refuses
them (``mutual_tls_required``): envelopes and queries reach the node over
mutual TLS or not at all.

The server does not hand the client's certificate to the application, so the
TLS layer admits any holder of a certificate from a trusted CA; which agency is
speaking is proved, as before, by the signature on every envelope and query.

Sending: the worker and the query client present ``LIENTHONG_EXCHANGE_TLS_CLIENT_
CERT``/``…_KEY`` and verify the peer against ``LIENTHONG_EXCHANGE_TLS_CA`` (by
default the same trust-list bundle); when the directory lists the peer node's
certificate fingerprint (``Node.tls_certificate_sha256``), the certificate the
peer presented must be that one (``check_pin``).
"""

from __future__ import annotations

import hashlib
import os
import ssl
from pathlib import Path

import httpx
from django.conf import settings
from django.http import HttpRequest, JsonResponse

from lienthong.errors import ApiError

# The calls one node makes to another (the exchange listener serves only these).
NODE_PATHS = ("/api/v1/exchange/envelopes", "/api/v1/exchange/queries", "/api/v1/exchange/files/")
ALWAYS = ("/healthz", "/readyz")


def ca_bundle() -> str:
    """The enabled certificates of the trust list as one PEM file in the data folder
    (rewritten only when the list changed); its path."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from lienthong.trust.models import CertificateKind
    from lienthong.trust.selectors import trust_list

    # Without the cross-certificates: a node's certificate leads to its own root, and
    # OpenSSL, which does not backtrack, can pick a cross path whose length limit fails.
    listed = trust_list(enabled=True).exclude(kind=CertificateKind.CROSS)
    pem = b"".join(
        x509.load_der_x509_certificate(bytes(der)).public_bytes(Encoding.PEM)
        for der in listed.values_list("der", flat=True)
    )
    folder = Path(settings.DATA_DIR) / "tls"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "trust-list.pem"
    if not path.exists() or path.read_bytes() != pem:
        partial = path.with_suffix(".tmp")
        partial.write_bytes(pem)
        os.replace(partial, path)  # readers never see half a bundle
    return str(path)


def client_ca() -> str:
    return settings.EXCHANGE_TLS_CLIENT_CA or ca_bundle()


def server_ca() -> str:
    return settings.EXCHANGE_TLS_CA or ca_bundle()


def granian_tls_argv() -> list[str]:
    """The granian options of the exchange listener (mutual TLS)."""
    missing = [
        name
        for name, value in (
            ("LIENTHONG_EXCHANGE_LISTEN_PORT", settings.EXCHANGE_LISTEN_PORT),
            ("LIENTHONG_TLS_CERTIFICATE", settings.TLS_CERTIFICATE),
            ("LIENTHONG_TLS_PRIVATE_KEY", settings.TLS_PRIVATE_KEY),
        )
        if not value
    ]
    if missing:
        raise ValueError(f"the exchange listener needs {', '.join(missing)}")
    for path in (settings.TLS_CERTIFICATE, settings.TLS_PRIVATE_KEY):
        if not Path(path).is_file():
            raise ValueError(f"no such file: {path}")
    return [
        "--ssl-certificate",
        settings.TLS_CERTIFICATE,
        "--ssl-keyfile",
        settings.TLS_PRIVATE_KEY,
        "--ssl-ca",
        client_ca(),
        "--ssl-client-verify",
    ]


def client_options() -> dict:
    """httpx options for calls to other nodes: the peers' CA bundle and, for mutual
    TLS, this node's certificate (one SSL context; httpx ignores ``cert`` beside a
    ``verify`` path)."""
    context = ssl.create_default_context(cafile=server_ca())
    if settings.EXCHANGE_TLS_CLIENT_CERT:
        context.load_cert_chain(
            settings.EXCHANGE_TLS_CLIENT_CERT, settings.EXCHANGE_TLS_CLIENT_KEY or None
        )
    return {"verify": context}


def peer_fingerprint(response: httpx.Response) -> str | None:
    """SHA-256 of the certificate the peer presented on this response's connection
    (None over plain HTTP)."""
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(True)  # positional: the C object takes no keywords
    return hashlib.sha256(der).hexdigest() if der else None


def pins(path: str) -> dict[str, str]:
    """{endpoint: pinned fingerprint} of the nodes whose certificate the directory lists
    (a directory fact: kept per process like the endpoints themselves, facts.py)."""
    from lienthong.directory.models import Node
    from lienthong.exchange import facts

    return facts.remembered(
        ("tls-pins", path),
        lambda: {
            node.exchange_endpoint + path: node.tls_certificate_sha256
            for node in Node.objects.exclude(tls_certificate_sha256="")
        },
    )


def check_pin(response: httpx.Response, expected: str) -> None:
    """Raise ``httpx.HTTPError`` when the directory pins the peer's certificate and the
    peer presented another (or none)."""
    if not expected:
        return
    presented = peer_fingerprint(response)
    if presented != expected.lower():
        raise httpx.HTTPError(
            f"the peer's TLS certificate {presented or '(none)'} is not the one the "
            f"directory lists ({expected})"
        )


class ListenerMiddleware:
    """Node-to-node calls on the exchange listener only, once one is configured."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        path = request.path_info
        node_call = path.startswith(NODE_PATHS)
        if settings.LISTENER == "exchange":
            if not node_call and not path.startswith(ALWAYS):
                return _refusal(
                    404,
                    "not_on_this_listener",
                    "Cổng trao đổi giữa các nút chỉ phục vụ phong bì và truy vấn.",
                    "The node-to-node listener serves envelopes and queries only.",
                )
        elif node_call and settings.EXCHANGE_LISTEN_PORT:
            return _refusal(
                403,
                "mutual_tls_required",
                "Các nút trao đổi qua cổng TLS hai chiều của nút này, không qua cổng công khai.",
                "Nodes exchange through this node's mutual-TLS listener, not the public one.",
            )
        return self.get_response(request)


def _refusal(status: int, code: str, vi: str, en: str) -> JsonResponse:
    return JsonResponse(ApiError(status, code, vi, en).body(), status=status)
