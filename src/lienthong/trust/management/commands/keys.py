"""lienthong keys import-p12|list|disable|enable: the signing keys the node holds.

    lienthong keys import-p12 FILE --name NAME [--agency IDENTIFIER] [--holder TEXT]
                              [--passphrase-file PATH]
    lienthong keys list [--json]
    lienthong keys disable ID
    lienthong keys enable ID

The passphrase is asked for at a prompt, or read from a file (first line):
never from the command line, where other users and the shell history see it.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from lienthong.directory.models import Agency
from lienthong.trust import keystore
from lienthong.trust.models import SigningKey

ACTOR = "cli:keys"
SOURCE = "cli"


class Command(BaseCommand):
    help = "Import, list, disable and enable the signing keys this node holds."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        imports = actions.add_parser("import-p12", help="Import a PKCS#12 file (.p12, .pfx).")
        imports.add_argument("file", type=Path)
        imports.add_argument("--name", required=True, help="How operators will call the key.")
        imports.add_argument("--agency", help="Electronic identifier of the agency it signs for.")
        imports.add_argument("--holder", default="", help="Who holds it, for an officer's key.")
        imports.add_argument(
            "--passphrase-file",
            type=Path,
            help="File whose first line is the passphrase (default: ask at a prompt).",
        )

        listing = actions.add_parser("list", help="Every key, enabled or not.")
        listing.add_argument("--json", action="store_true", help="Machine-readable output.")

        for name, text in (("enable", "Sign with it again."), ("disable", "Stop signing with it.")):
            actions.add_parser(name, help=text).add_argument("id", type=int)

    def handle(self, *args, **options):
        match options["action"]:
            case "import-p12":
                self.import_file(options)
            case "list":
                self.print_list(as_json=options["json"])
            case "enable" | "disable" as action:
                self.switch(find(options["id"]), enabled=action == "enable")

    def import_file(self, options) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        agency = None
        if options["agency"]:
            agency = Agency.objects.filter(identifier=options["agency"]).first()
            if agency is None:
                raise CommandError(f"no agency with the identifier {options['agency']}")
        try:
            key = keystore.import_pkcs12(
                actor=ACTOR,
                data=path.read_bytes(),
                passphrase=read_passphrase(options["passphrase_file"]),
                name=options["name"],
                agency=agency,
                holder=options["holder"],
                source=SOURCE,
            )
        except keystore.KeyRefused as exc:
            raise CommandError(f"refused {path} ({exc.code}): {exc.message_en}") from exc
        self.stdout.write(
            f"Imported key {key.pk}: {key.name} ({key.key_description}, valid until "
            f"{day(key.not_after)}), certificate SHA-256 {key.fingerprint_sha256}."
        )

    def print_list(self, *, as_json: bool) -> None:
        keys = keystore.signing_keys()
        if as_json:
            self.stdout.write(json.dumps([describe(k) for k in keys], ensure_ascii=False))
            return
        if not keys:
            self.stdout.write("The node holds no signing key.")
            return
        for k in keys:
            owner = k.agency.identifier if k.agency_id else k.holder or "-"
            self.stdout.write(
                f"{k.pk:>4}  {state(k):<13}  {day(k.not_before)}-{day(k.not_after)}  "
                f"{k.key_description:<22}  {k.fingerprint_sha256[:16]}  {owner}  {k.name}"
            )

    def switch(self, key: SigningKey, *, enabled: bool) -> None:
        word = "enabled" if enabled else "disabled"
        if key.is_enabled == enabled:
            self.stdout.write(f"{key.name} was already {word}; nothing changed.")
            return
        keystore.set_enabled(actor=ACTOR, key=key, enabled=enabled, source=SOURCE)
        self.stdout.write(f"{key.name} {word}.")


def read_passphrase(path: Path | None) -> bytes:
    if path is None:
        return getpass.getpass("Passphrase of the PKCS#12 file: ").encode("utf-8")
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise CommandError(f"cannot read the passphrase file {path}: {exc.strerror}") from None
    return lines[0] if lines else b""


def find(pk: int) -> SigningKey:
    try:
        return SigningKey.objects.get(pk=pk)
    except SigningKey.DoesNotExist:
        raise CommandError(f"no signing key {pk} (see `lienthong keys list`)") from None


def state(key: SigningKey) -> str:
    if not key.is_enabled:
        return "disabled"
    now = timezone.now()
    if key.not_after < now:
        return "expired"
    if key.not_before > now:
        return "not yet valid"
    return "enabled"


def day(moment) -> str:
    return timezone.localtime(moment).strftime("%d/%m/%Y")


def describe(key: SigningKey) -> dict:
    return {
        "id": key.pk,
        "name": key.name,
        "agency": key.agency.identifier if key.agency_id else None,
        "holder": key.holder,
        "enabled": key.is_enabled,
        "usable": key.is_usable,
        "key_description": key.key_description,
        "fingerprint_sha256": key.fingerprint_sha256,
        "subject": key.subject,
        "issuer": key.issuer,
        "not_before": key.not_before.isoformat(),
        "not_after": key.not_after.isoformat(),
    }
