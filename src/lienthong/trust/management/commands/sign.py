"""lienthong sign pdf|xml|json: sign a file with a key the node holds.

    lienthong sign pdf IN OUT --key ID [--level B-B|B-T|B-LT] [--tsa URL] [--stamp]
                              [--page N] [--reason TEXT] [--location TEXT]
    lienthong sign xml IN OUT --key ID       (enveloped XAdES-B)
    lienthong sign json IN OUT --key ID      (compact JWS over RFC 8785 canonical JSON)

ID is the key's number in `lienthong keys list`. OUT must not exist yet
(unless --force): a signature never silently replaces a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from lienthong.trust import keystore, signing
from lienthong.trust.models import SigningKey

ACTOR = "cli:sign"
SOURCE = "cli"


class Command(BaseCommand):
    help = "Sign a PDF (PAdES), an XML document (XAdES) or a JSON object (JWS) with a node key."

    def add_arguments(self, parser):
        formats = parser.add_subparsers(dest="format", required=True, metavar="FORMAT")

        def common(subparser):
            subparser.add_argument("input", type=Path)
            subparser.add_argument("output", type=Path)
            subparser.add_argument("--key", type=int, required=True, help="see `keys list`")
            subparser.add_argument("--force", action="store_true", help="replace OUT")
            return subparser

        pdf = common(formats.add_parser("pdf", help="PAdES, optionally timestamped."))
        pdf.add_argument("--level", choices=signing.PDF_LEVELS, default="B-T")
        pdf.add_argument("--tsa", help="RFC 3161 time-stamping URL (needed for B-T and B-LT)")
        pdf.add_argument("--stamp", action="store_true", help="draw a visible signature box")
        pdf.add_argument("--page", type=int, default=1, help="page of the stamp (-1: last)")
        pdf.add_argument("--reason", default="")
        pdf.add_argument("--location", default="")

        common(formats.add_parser("xml", help="Enveloped XAdES-B."))
        common(formats.add_parser("json", help="Compact JWS over canonical JSON (RFC 8785)."))

    def handle(self, *args, format, input, output, key, force, **options):
        if not input.is_file():
            raise CommandError(f"{input}: no such file")
        if output.exists() and not force:
            raise CommandError(f"{output} exists already (use --force to replace it)")
        signing_key = find(key)
        content = input.read_bytes()
        try:
            match format:
                case "pdf":
                    signed = signing.sign_pdf(
                        actor=ACTOR,
                        key=signing_key,
                        pdf=content,
                        level=options["level"],
                        timestamp_url=options["tsa"],
                        reason=options["reason"],
                        location=options["location"],
                        visible_stamp={"page": options["page"]} if options["stamp"] else None,
                        source=SOURCE,
                    )
                case "xml":
                    signed = signing.sign_xml(
                        actor=ACTOR, key=signing_key, xml=content, source=SOURCE
                    )
                case "json":
                    token = signing.sign_jws(
                        actor=ACTOR, key=signing_key, payload=read_json(input, content),
                        source=SOURCE,
                    )  # fmt: skip
                    signed = f"{token}\n".encode("ascii")
        except (signing.SigningRefused, keystore.KeyRefused) as exc:
            raise CommandError(f"refused {input} ({exc.code}): {exc.message_en}") from exc
        write_atomically(output, signed)
        self.stdout.write(
            f"Signed {input} with {signing_key.name}: {output} ({len(signed)} bytes)."
        )


def find(pk: int) -> SigningKey:
    try:
        return SigningKey.objects.get(pk=pk)
    except SigningKey.DoesNotExist:
        raise CommandError(f"no signing key {pk} (see `lienthong keys list`)") from None


def read_json(path: Path, content: bytes) -> dict:
    try:
        payload = json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CommandError(f"{path}: not JSON ({exc})") from exc
    if not isinstance(payload, dict):
        raise CommandError(f"{path}: the JSON must be an object ({{...}})")
    return payload


def write_atomically(path: Path, data: bytes) -> None:
    """All or nothing: a half-written signed file must never be mistaken for one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
