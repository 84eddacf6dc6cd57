"""lienthong signing request-certificate|import-certificate|issue-test-certificate|list|enable|disable

    lienthong signing request-certificate USERNAME [--label TEXT] [--out FILE]
    lienthong signing import-certificate CREDENTIAL_ID FILE
    lienthong signing issue-test-certificate CREDENTIAL_ID [--pki DIR]
    lienthong signing list [USERNAME]
    lienthong signing enable|disable CREDENTIAL_ID

In production a licensed CA certifies users' keys: ``request-certificate``
makes the key on the node (it never leaves) and writes its PKCS#10 request
for the CA; ``import-certificate`` attaches what the CA issued (PEM, with
its issuers, or DER). ``issue-test-certificate`` lets the TEST PKI's CA do
it instead, for the demo and tests only.
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from lienthong.signing import keys, services
from lienthong.signing.errors import SigningRefused
from lienthong.signing.models import SigningCredential

ACTOR = "cli:signing"
SOURCE = "cli"


class Command(BaseCommand):
    help = "Users' remote-signing keys: certificate requests and certificates."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        request = actions.add_parser(
            "request-certificate", help="Make a key for a user and write its certificate request."
        )
        request.add_argument("username")
        request.add_argument("--label", default="")
        request.add_argument("--out", type=Path, help="Write the request (PEM) here.")
        imported = actions.add_parser(
            "import-certificate", help="Attach the certificate a CA issued for a key."
        )
        imported.add_argument("credential_id")
        imported.add_argument("file", type=Path)
        test = actions.add_parser(
            "issue-test-certificate", help="Certify a key with the TEST PKI (never in production)."
        )
        test.add_argument("credential_id")
        test.add_argument("--pki", type=Path, help="The TEST PKI folder (default: <data>/pki).")
        listing = actions.add_parser("list", help="List the keys (of one user).")
        listing.add_argument("username", nargs="?")
        for name in ("enable", "disable"):
            switch = actions.add_parser(name, help=f"{name.capitalize()} a key.")
            switch.add_argument("credential_id")

    def handle(self, *args, action, **options):
        try:
            getattr(self, "_" + action.replace("-", "_"))(**options)
        except SigningRefused as exc:
            raise CommandError(f"{exc.message_en} ({exc.code})") from exc

    def _user(self, username):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        return user

    def _credential(self, credential_id) -> SigningCredential:
        credential = SigningCredential.objects.filter(credential_id=credential_id).first()
        if credential is None:
            raise CommandError(f"No credential {credential_id!r}.")
        return credential

    def _request_certificate(self, *, username, label, out, **options):
        user = self._user(username)
        credential = services.create_credential(actor=ACTOR, user=user, label=label, source=SOURCE)
        pem = keys.request_pem(credential)
        if out:
            out.write_text(pem, encoding="ascii")
            self.stdout.write(f"Request written to {out}.")
        else:
            self.stdout.write(pem)
        self.stdout.write(f"Credential: {credential.credential_id}")

    def _import_certificate(self, *, credential_id, file, **options):
        credential = self._credential(credential_id)
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from exc
        credential = services.import_certificate(
            actor=ACTOR, credential=credential, data=data, source=SOURCE
        )
        self._show(credential)

    def _issue_test_certificate(self, *, credential_id, pki, **options):
        from lienthong.trust import testpki

        directory = pki or testpki.default_directory()
        if not (directory / testpki.CONFIG_FILE).exists():
            raise CommandError(f"No TEST PKI in {directory}: run `lienthong pki init` first.")
        credential = services.issue_test_certificate(
            actor=ACTOR,
            credential=self._credential(credential_id),
            pki=testpki.load_test_pki(directory),
            source=SOURCE,
        )
        self._show(credential)

    def _list(self, *, username=None, **options):
        credentials = SigningCredential.objects.select_related("user").order_by("created_at")
        if username:
            credentials = credentials.filter(user=self._user(username))
        for credential in credentials:
            self._show(credential)

    def _enable(self, *, credential_id, **options):
        credential = services.set_enabled(
            actor=ACTOR, credential=self._credential(credential_id), enabled=True, source=SOURCE
        )
        self._show(credential)

    def _disable(self, *, credential_id, **options):
        credential = services.set_enabled(
            actor=ACTOR, credential=self._credential(credential_id), enabled=False, source=SOURCE
        )
        self._show(credential)

    def _show(self, credential: SigningCredential) -> None:
        until = credential.not_after.strftime("%d/%m/%Y") if credential.not_after else "-"
        self.stdout.write(
            "\t".join(
                [
                    credential.credential_id,
                    credential.user.get_username(),
                    credential.status,
                    credential.subject or "-",
                    until,
                    credential.fingerprint_sha256 or "-",
                ]
            )
        )
