"""lienthong validate FILE: the validation report of a signed file, in the terminal."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from lienthong.trust.validation.engine import Policy
from lienthong.trust.validation.render import presentation
from lienthong.trust.validation.report import Indication
from lienthong.trust.validation.service import REVOCATION_MODES, default_policy, validate_document


class Command(BaseCommand):
    help = (
        "Validate the signatures of a PDF, XML or CMS (.p7s) file against the trust list. "
        "Exit status: 0 TOTAL-PASSED, 1 TOTAL-FAILED, 2 INDETERMINATE."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--signed-data", type=Path, help="The data of a detached .p7s signature."
        )
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
        parser.add_argument("--language", choices=["vi", "en"], default="vi")
        parser.add_argument("--revocation-mode", choices=REVOCATION_MODES)

    def handle(self, *args, **options):
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        detached = None
        if options["signed_data"]:
            if not options["signed_data"].is_file():
                raise CommandError(f"{options['signed_data']}: no such file")
            detached = options["signed_data"].read_bytes()
        policy = default_policy()
        if options["revocation_mode"]:
            policy = Policy(**{**policy.as_dict(), "revocation_mode": options["revocation_mode"]})
        report = validate_document(
            data=path.read_bytes(), filename=path.name, detached=detached, policy=policy
        )
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        else:
            self.print_report(presentation(report, options["language"]))
        exit_codes = {Indication.TOTAL_PASSED: 0, Indication.TOTAL_FAILED: 1}
        code = exit_codes.get(report.indication, 2)
        if code:
            raise SystemExit(code)

    def print_report(self, view: dict) -> None:
        head = view["indication_text"] + f" ({view['indication']}"
        head += f" / {view['sub_indication']})" if view["sub_indication"] else ")"
        self.stdout.write(head)
        for _code, message, detail in view["reasons"]:
            self.stdout.write(f"  - {message}" + (f" ({detail})" if detail else ""))
        self.stdout.write(f"{view['document_name']}  SHA-256 {view['document_sha256']}")
        for signature in view["signatures"]:
            self.stdout.write("")
            self.stdout.write(
                f"#{signature['index']} {signature['format']}: {signature['indication_text']}"
            )
            if signature["sub_indication"]:
                self.stdout.write(
                    f"  {signature['sub_indication']}: {signature['sub_indication_text']}"
                )
            for _code, message, detail in signature["reasons"]:
                self.stdout.write(f"  - {message}" + (f" ({detail})" if detail else ""))
            for row in signature["rows"]:
                self.stdout.write(f"  {row.label}: {row.value}")
            for certificate in signature["chain"]:
                self.stdout.write(f"    ← {certificate['name']} [{certificate['key']}]")
