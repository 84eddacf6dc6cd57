"""lienthong pki: the TEST PKI (both hierarchies, OCSP, CRLs, time-stamping) for the demo and tests.

lienthong pki init [--dir DIR] [--base-url URL] [--force]
lienthong pki serve [--dir DIR] [--host 127.0.0.1] [--port 9780]
lienthong pki revoke LABEL [--reason key_compromise]
lienthong pki status [--dir DIR]
"""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from lienthong.trust import testpki

ACTOR = "cli:pki"


class Command(BaseCommand):
    help = "Create, serve, revoke in and list the TEST PKI (never for production use)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        def with_dir(subparser):
            subparser.add_argument(
                "--dir",
                type=Path,
                default=None,
                help="the PKI folder (default: <LIENTHONG_DATA_DIR>/pki)",
            )
            return subparser

        init = with_dir(actions.add_parser("init", help="create the TEST PKI and trust its roots"))
        init.add_argument(
            "--base-url",
            default=testpki.DEFAULT_BASE_URL,
            help="where `pki serve` will be reached; written into every certificate "
            f"(default: {testpki.DEFAULT_BASE_URL})",
        )
        init.add_argument("--force", action="store_true", help="replace an existing test PKI")

        serve = with_dir(actions.add_parser("serve", help="serve OCSP, CRLs and time-stamping"))
        serve.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1 (loopback)")
        serve.add_argument("--port", type=int, default=9780, help="default: 9780")

        revoke = with_dir(actions.add_parser("revoke", help="revoke a certificate by its label"))
        revoke.add_argument("label")
        revoke.add_argument(
            "--reason",
            default="key_compromise",
            help=f"one of {', '.join(testpki.REVOCATION_REASONS)} (default: key_compromise)",
        )

        with_dir(actions.add_parser("status", help="list the certificates and their status"))

    def handle(self, *args, action, **options):
        directory = options["dir"] or testpki.default_directory()
        try:
            getattr(self, f"handle_{action}")(directory, **options)
        except testpki.TestPKIError as exc:
            raise CommandError(str(exc)) from exc

    def handle_init(self, directory, *, base_url, force, **options):
        pki = testpki.init_test_pki(
            directory=directory, base_url=base_url, actor=ACTOR, force=force
        )
        self.stdout.write(f"TEST PKI created in {directory}: {len(pki.labels)} certificates.")
        self.stdout.write(
            "Trust list: both TEST roots, their intermediates and cross-certificates."
        )
        self.stdout.write(f"PKCS#12 files (passphrase beside each): {directory / 'p12'}")
        self.stdout.write(f"Serve its OCSP, CRLs and time-stamping at {pki.base_url} with:")
        url = urlsplit(pki.base_url)
        self.stdout.write(
            f"  lienthong pki serve --dir {directory} --host {url.hostname} --port {_port(url)}"
        )

    def handle_serve(self, directory, *, host, port, **options):
        from werkzeug.serving import get_sockaddr, make_server, select_address_family

        app = testpki.wsgi_app(directory)
        pki = testpki.load_test_pki(directory)
        # Bound here rather than by werkzeug, which prints and exits on a busy port.
        family = select_address_family(host, port)
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(get_sockaddr(host, port, family))
            listener.listen(128)
        except OSError as exc:
            listener.close()
            raise CommandError(f"cannot listen on {host} port {port}: {exc.strerror}") from exc
        server = make_server(host, port, app, threaded=True, fd=listener.fileno())
        listener.close()  # the server holds its own duplicate of the socket
        url = urlsplit(pki.base_url)
        if (url.hostname, _port(url)) != (host.strip("[]"), port):
            self.stderr.write(
                f"Note: the certificates point at {pki.base_url}, not at this address; "
                "validators will not reach these services through them."
            )
        self.stdout.write(f"TEST PKI services of {directory}, on {host} port {port}:")
        for what, service_url in pki.service_urls():
            self.stdout.write(f"  {what:<32} {service_url}")
        self.stdout.write("Press Ctrl+C to stop.")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()

    def handle_revoke(self, directory, *, label, reason, **options):
        revoked_at = testpki.revoke(directory=directory, label=label, reason=reason, actor=ACTOR)
        next_crl = revoked_at + testpki.CRL_UPDATE_SCHEDULE
        self.stdout.write(
            f"Revoked {label} ({reason}) at {timezone.localtime(revoked_at):%d/%m/%Y %H:%M:%S}. "
            f"OCSP reports it now; CRLs list it from {timezone.localtime(next_crl):%H:%M:%S}."
        )

    def handle_status(self, directory, **options):
        pki = testpki.load_test_pki(directory)
        now = timezone.now()
        self.stdout.write(f"TEST PKI in {directory}, services at {pki.base_url}")
        for info in pki.certificates():
            validity = (
                f"{timezone.localtime(info.not_before):%d/%m/%Y} to "
                f"{timezone.localtime(info.not_after):%d/%m/%Y}"
            )
            if info.revoked_at:
                when = timezone.localtime(info.revoked_at)
                status = f"REVOKED {when:%d/%m/%Y %H:%M} ({info.revocation_reason})"
            elif now > info.not_after:
                status = "expired"
            elif now < info.not_before:
                status = "not yet valid"
            else:
                status = "valid"
            self.stdout.write(f"{info.label:<24} {validity}  {status}")
            self.stdout.write(f"    subject: {info.subject}")
            self.stdout.write(f"    issuer:  {info.issuer}")


def _port(url) -> int:
    return url.port or (443 if url.scheme == "https" else 80)
