"""Writes to the catalogue: seeding procedures, interconnected procedures and holidays.

Every function takes keyword arguments, runs in one transaction and writes
an audit record for each object it creates or changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from lienthong.audit.models import AuditRecord
from lienthong.audit.services import record
from lienthong.catalog import public_holidays
from lienthong.catalog.models import (
    Fee,
    FieldKind,
    FormField,
    Holiday,
    HolidaySource,
    InterconnectedProcedure,
    InterconnectedStep,
    Procedure,
    ProcedureField,
    RequiredDocument,
    TimeLimitBasis,
)
from lienthong.directory.models import Agency

SOURCE = "catalog"
DATA_FILE = Path(__file__).parent / "data" / "procedures.json"
APPLICANT_BLOCK = "@applicant"


class CatalogError(Exception):
    """A catalogue entry that cannot be stored as given."""

    def __init__(self, code: str, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass
class SeedReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


@cache
def bundled_catalog() -> dict[str, Any]:
    return json.loads(DATA_FILE.read_text("utf-8"))


def seed_catalog(*, actor: Any, data: dict[str, Any] | None = None) -> SeedReport:
    """Create or bring up to date the procedures of the data file; idempotent.

    A procedure is matched by its code. Its form fields, documents and fees
    are replaced as a whole when they differ from the file, so the file is
    the single truth for seeded procedures; procedures not in the file are
    left alone.
    """
    data = data or bundled_catalog()
    report = SeedReport()
    with transaction.atomic():
        fields = {}
        for spec in data["fields"]:
            fields[spec["code"]], changed = _upsert(
                ProcedureField, {"code": spec["code"]}, spec, actor=actor
            )
            _count(report, changed)
        for spec in data["procedures"]:
            _count(report, _seed_procedure(spec, fields, data.get("applicant", []), actor=actor))
        for spec in data.get("interconnected", []):
            _, changed = save_interconnected(actor=actor, **spec)
            _count(report, changed)
    return report


def _count(report: SeedReport, changed: str) -> None:
    setattr(report, changed, getattr(report, changed) + 1)


def _upsert(model, lookup: dict, values: dict, *, actor: Any) -> tuple[Any, str]:
    """Create or update one row from ``values`` (only the model's own fields); audited."""
    names = {f.name for f in model._meta.concrete_fields} - {"id"}
    values = {k: v for k, v in values.items() if k in names}
    obj = model.objects.filter(**lookup).first()
    if obj is None:
        obj = model(**values)
        obj.full_clean()
        obj.save()
        record(actor=actor, action=AuditRecord.Action.CREATE, obj=obj, source=SOURCE)
        return obj, "created"
    changes = {
        k: [_plain(getattr(obj, k)), _plain(v)]
        for k, v in values.items()
        if _plain(getattr(obj, k)) != _plain(v)
    }
    if not changes:
        return obj, "unchanged"
    for k, v in values.items():
        setattr(obj, k, v)
    obj.full_clean()
    obj.save()
    record(actor=actor, action=AuditRecord.Action.UPDATE, obj=obj, changes=changes, source=SOURCE)
    return obj, "updated"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal | float | int) and not isinstance(value, bool):
        return str(Decimal(str(value)).normalize())
    return value


def _seed_procedure(
    spec: dict, fields: dict[str, ProcedureField], applicant: list[dict], *, actor: Any
) -> str:
    values = {
        **spec,
        "field": fields[spec["field"]],
        "time_limit": None if spec.get("time_limit") is None else Decimal(str(spec["time_limit"])),
        "time_limit_basis": spec.get("time_limit_basis", TimeLimitBasis.WORKING_DAYS),
        "status_texts": spec.get("status_texts", {}),
    }
    procedure, changed = _upsert(Procedure, {"code": spec["code"]}, values, actor=actor)
    form_fields = []
    for item in spec.get("form_fields", []):
        form_fields.extend(applicant if item == APPLICANT_BLOCK else [item])
    parts_changed = _replace_parts(
        procedure,
        [
            (FormField, "form_fields", form_fields, _form_field),
            (RequiredDocument, "documents", spec.get("documents", []), _document),
            (Fee, "fees", spec.get("fees", []), _fee),
        ],
        actor=actor,
    )
    links_changed = _link_agencies(procedure, spec.get("agencies"))
    if changed != "created" and (parts_changed or links_changed):
        record(
            actor=actor,
            action=AuditRecord.Action.UPDATE,
            obj=procedure,
            changes={"parts": parts_changed + links_changed},
            source=SOURCE,
        )
        return "updated"
    return changed


def _form_field(position: int, item: dict) -> dict:
    if item["kind"] not in FieldKind.values:
        raise CatalogError("unknown_field_kind", f"{item['key']}: {item['kind']}")
    if item["kind"] == FieldKind.CHOICE and not item.get("choices"):
        raise CatalogError("choice_without_choices", item["key"])
    return {
        "key": item["key"],
        "kind": item["kind"],
        "label": item["label"],
        "label_en": item.get("label_en", ""),
        "required": item.get("required", True),
        "choices": item.get("choices", []),
        "position": position,
    }


def _document(position: int, item: dict) -> dict:
    return {
        "name": item["name"],
        "name_en": item.get("name_en", ""),
        "originals": item.get("originals", 1),
        "copies": item.get("copies", 0),
        "required": item.get("required", True),
        "condition": item.get("condition", ""),
        "accepted_types": item.get("accepted_types", ["pdf", "jpg", "png"]),
        "position": position,
    }


def _fee(position: int, item: dict) -> dict:
    return {
        "description": item["description"],
        "amount": item.get("amount"),
        "note": item.get("note", ""),
        "position": position,
    }


def _replace_parts(procedure: Procedure, parts: list, *, actor: Any) -> list[str]:
    """Replace the rows of each part that differs from the file; names the parts replaced."""
    replaced = []
    for model, related, items, build in parts:
        wanted = [build(position, item) for position, item in enumerate(items, start=1)]
        keys = list(wanted[0]) if wanted else []
        current = list(getattr(procedure, related).order_by("position").values(*keys))
        if current == wanted:
            continue
        getattr(procedure, related).all().delete()
        for values in wanted:
            row = model(procedure=procedure, **values)
            row.full_clean()
            row.save()
        replaced.append(related)
    return replaced


def _link_agencies(procedure: Procedure, rule: dict | None) -> list[str]:
    """Link the directory's agencies the rule names (e.g. every commune People's Committee).

    An authority the directory does not list (commune police, social
    security) gets no link; the procedure's ``authority`` names it.
    """
    if not rule:
        return []
    agencies = Agency.objects.filter(is_active=True, kind=rule["kind"])
    if rule.get("name_startswith"):
        agencies = agencies.filter(name__startswith=rule["name_startswith"])
    wanted = set(agencies.values_list("pk", flat=True))
    Link = Procedure.agencies.through
    current = set(Link.objects.filter(procedure=procedure).values_list("agency_id", flat=True))
    if wanted == current:
        return []
    Link.objects.filter(procedure=procedure, agency_id__in=current - wanted).delete()
    Link.objects.bulk_create(
        [Link(procedure=procedure, agency_id=pk) for pk in wanted - current], batch_size=2000
    )
    return ["agencies"]


def save_interconnected(
    *,
    actor: Any,
    code: str,
    name: str,
    steps: list[str],
    name_en: str = "",
    description: str = "",
    online_level: str,
    legal_basis: str = "",
) -> tuple[InterconnectedProcedure, str]:
    """Create or update an interconnected procedure and its ordered steps.

    Refuses (``CatalogError``) fewer than two steps, an unknown procedure,
    a code already used by a single procedure, and two steps of the same kind
    of authority: Decree 63/2024/NĐ-CP interconnects procedures of different
    agencies, each carrying out its own step.
    """
    with transaction.atomic():
        if Procedure.objects.filter(code=code).exists():
            raise CatalogError("code_taken", f"{code} is already a procedure's code")
        if len(steps) < 2:
            raise CatalogError("too_few_steps", "an interconnected procedure has two steps or more")
        procedures = {p.code: p for p in Procedure.objects.filter(code__in=steps)}
        missing = [step for step in steps if step not in procedures]
        if missing:
            raise CatalogError("unknown_procedure", ", ".join(missing))
        kinds = [procedures[step].authority_kind for step in steps]
        if len(set(kinds)) != len(kinds):
            raise CatalogError(
                "same_authority_twice", "each step must be carried out by a different authority"
            )
        values = {
            "code": code,
            "name": name,
            "name_en": name_en,
            "description": description,
            "online_level": online_level,
            "legal_basis": legal_basis,
        }
        try:
            interconnected, changed = _upsert(
                InterconnectedProcedure, {"code": code}, values, actor=actor
            )
        except ValidationError as exc:
            raise CatalogError("invalid", str(exc)) from exc
        current = list(
            interconnected.steps.order_by("position").values_list("procedure__code", flat=True)
        )
        if current != steps:
            interconnected.steps.all().delete()
            InterconnectedStep.objects.bulk_create(
                InterconnectedStep(
                    interconnected=interconnected, position=position, procedure=procedures[step]
                )
                for position, step in enumerate(steps, start=1)
            )
            if changed == "unchanged":
                record(
                    actor=actor,
                    action=AuditRecord.Action.UPDATE,
                    obj=interconnected,
                    changes={"steps": [current, steps]},
                    source=SOURCE,
                )
                changed = "updated"
        return interconnected, changed


def load_holidays(*, actor: Any, year: int) -> SeedReport:
    """Bring ``year``'s rows of the holiday table in line with the ``holidays`` package.

    Rows an operator entered or amended (source "operator") are kept as they
    are: the operator's word on a year's days off wins over the package.
    Package rows the package no longer lists are removed.
    """
    report = SeedReport()
    specs = public_holidays.from_package(year)
    with transaction.atomic():
        stored = {h.date: h for h in Holiday.objects.filter(date__year=year)}
        for spec in specs:
            holiday = stored.pop(spec.date, None)
            if holiday is not None and holiday.source == HolidaySource.OPERATOR:
                report.unchanged += 1
                continue
            values = {
                "date": spec.date,
                "name": spec.name,
                "name_en": spec.name_en,
                "kind": spec.kind,
                "source": HolidaySource.PACKAGE,
            }
            _, changed = _upsert(Holiday, {"date": spec.date}, values, actor=actor)
            _count(report, changed)
        for holiday in stored.values():
            if holiday.source == HolidaySource.PACKAGE:
                record(actor=actor, action=AuditRecord.Action.DELETE, obj=holiday, source=SOURCE)
                holiday.delete()
                report.updated += 1
    return report
