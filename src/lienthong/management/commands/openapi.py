"""lienthong openapi: write the API's OpenAPI document, or check it for drift."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

DEFAULT_PATH = Path("docs/api/openapi-v1.json")


def render_document() -> str:
    from lienthong.api import api

    schema = api.get_openapi_schema(path_prefix="/api/v1")
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


class Command(BaseCommand):
    help = "Write the OpenAPI document of /api/v1 (default docs/api/openapi-v1.json) or --check it."

    def add_arguments(self, parser):
        parser.add_argument("--output", type=Path, default=DEFAULT_PATH)
        parser.add_argument(
            "--check", action="store_true", help="Fail if the committed document differs."
        )

    def handle(self, *args, **options):
        path: Path = options["output"]
        document = render_document()
        if options["check"]:
            if not path.exists():
                raise CommandError(f"{path} is missing: run `lienthong openapi` and commit it")
            if path.read_text("utf-8") != document:
                raise CommandError(
                    f"{path} differs from the API: run `lienthong openapi` and commit it"
                )
            self.stdout.write(f"{path} matches the API.")
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(document, "utf-8")
        self.stdout.write(f"Wrote {path}.")
