"""lienthong trust list|add|show|enable|disable: the trust list from the command line.

    lienthong trust list [--hierarchy public|government] [--json]
    lienthong trust add FILE --hierarchy public|government --kind root|intermediate|cross [--name N]
    lienthong trust show FINGERPRINT [--pem]
    lienthong trust disable FINGERPRINT
    lienthong trust enable FINGERPRINT

FINGERPRINT is the SHA-256 fingerprint or its first 8+ digits (colons allowed).
"""

from __future__ import annotations

import json
import ssl
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from lienthong.trust import fingerprints, selectors, services
from lienthong.trust.models import CertificateKind, Hierarchy, TrustedCertificate

ACTOR = "cli:trust"
SOURCE = "cli"


class Command(BaseCommand):
    help = "Inspect and change the trust list: list, add, show, enable, disable."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        listing = actions.add_parser("list", help="Every certificate of the trust list.")
        listing.add_argument("--hierarchy", choices=Hierarchy.values)
        listing.add_argument("--json", action="store_true", help="Machine-readable output.")

        add = actions.add_parser("add", help="Add a certificate file (PEM or DER).")
        add.add_argument("file", type=Path)
        add.add_argument("--hierarchy", required=True, choices=Hierarchy.values)
        add.add_argument("--kind", required=True, choices=CertificateKind.values)
        add.add_argument("--name", default="", help="Default: the certificate's common name.")
        add.add_argument("--notes", default="")

        show = actions.add_parser("show", help="Everything about one certificate.")
        show.add_argument("fingerprint")
        show.add_argument("--pem", action="store_true", help="Also print the certificate (PEM).")

        for name, text in (("enable", "Trust it again."), ("disable", "Stop trusting it.")):
            actions.add_parser(name, help=text).add_argument("fingerprint")

        actions.add_parser(
            "purge",
            help="Delete validation reports past their retention and expired revocation answers.",
        )

    def handle(self, *args, **options):
        match options["action"]:
            case "list":
                self.print_list(options["hierarchy"], as_json=options["json"])
            case "add":
                self.add_file(options)
            case "show":
                self.print_one(find(options["fingerprint"]), pem=options["pem"])
            case "enable" | "disable" as action:
                self.switch(find(options["fingerprint"]), enabled=action == "enable")
            case "purge":
                reports, answers = services.purge_expired()
                self.stdout.write(
                    f"Deleted {reports} expired validation reports and {answers} expired revocation answers."
                )

    def print_list(self, hierarchy: str | None, *, as_json: bool) -> None:
        certificates = selectors.trust_list(hierarchy=hierarchy)
        if as_json:
            self.stdout.write(json.dumps([describe(c) for c in certificates], ensure_ascii=False))
            return
        if not certificates:
            self.stdout.write("The trust list is empty.")
            return
        for c in certificates:
            self.stdout.write(
                f"{fingerprints.short(c.fingerprint_sha256)}  {c.hierarchy:<10}  {c.kind:<12}  "
                f"{state(c):<13}  {day(c.not_before)}-{day(c.not_after)}  {c.name}"
            )

    def add_file(self, options) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        try:
            trusted = services.add_certificate(
                actor=ACTOR,
                data=path.read_bytes(),
                hierarchy=options["hierarchy"],
                kind=options["kind"],
                name=options["name"],
                notes=options["notes"],
                source=SOURCE,
            )
        except services.CertificateRefused as exc:
            raise CommandError(f"refused {path} ({exc.code}): {exc.message_en}") from exc
        self.stdout.write(
            f"Added {trusted.name} ({trusted.hierarchy} {trusted.kind}, {trusted.key_description}, "
            f"valid until {day(trusted.not_after)}), SHA-256 {trusted.fingerprint_sha256}."
        )

    def print_one(self, c: TrustedCertificate, *, pem: bool) -> None:
        rows = [
            ("Name", c.name),
            ("Hierarchy", c.get_hierarchy_display()),
            ("Kind", c.get_kind_display()),
            ("State", state(c)),
            ("Subject", c.subject),
            ("Issuer", c.issuer),
            ("Serial number", c.serial_number),
            ("Valid from", day(c.not_before)),
            ("Valid until", day(c.not_after)),
            ("Public key", c.key_description),
            ("SHA-256", fingerprints.display(c.fingerprint_sha256)),
            ("Added", day(c.added_at)),
            ("Notes", c.notes),
        ]
        for label, value in rows:
            self.stdout.write(f"{label + ':':<15}{value}")
        if pem:
            self.stdout.write(ssl.DER_cert_to_PEM_cert(bytes(c.der)).strip())

    def switch(self, c: TrustedCertificate, *, enabled: bool) -> None:
        word = "enabled" if enabled else "disabled"
        if c.is_enabled == enabled:
            self.stdout.write(f"{c.name} was already {word}; nothing changed.")
            return
        services.set_enabled(actor=ACTOR, trusted=c, enabled=enabled, source=SOURCE)
        self.stdout.write(f"{c.name} {word}.")


def find(text: str) -> TrustedCertificate:
    try:
        return selectors.by_fingerprint(text)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    except TrustedCertificate.DoesNotExist as exc:
        raise CommandError(f"no certificate on the trust list has fingerprint {text}") from exc
    except TrustedCertificate.MultipleObjectsReturned as exc:
        raise CommandError(
            f"several certificates have fingerprints starting {text}: give more digits"
        ) from exc


def state(c: TrustedCertificate) -> str:
    if not c.is_enabled:
        return "disabled"
    now = timezone.now()
    if c.not_after < now:
        return "expired"
    if c.not_before > now:
        return "not yet valid"
    return "enabled"


def day(moment) -> str:
    return timezone.localtime(moment).strftime("%d/%m/%Y")


def describe(c: TrustedCertificate) -> dict:
    return {
        "fingerprint_sha256": c.fingerprint_sha256,
        "name": c.name,
        "hierarchy": c.hierarchy,
        "kind": c.kind,
        "enabled": c.is_enabled,
        "current": c.is_current,
        "subject": c.subject,
        "issuer": c.issuer,
        "serial_number": c.serial_number,
        "not_before": c.not_before.isoformat(),
        "not_after": c.not_after.isoformat(),
        "key_description": c.key_description,
        "notes": c.notes,
    }
