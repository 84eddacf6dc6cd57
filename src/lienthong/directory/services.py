"""Writes to the directory: reference-data imports.

Every import is idempotent (a second run changes nothing and records nothing)
and transactional (a refused file writes nothing). Input is validated in full
before the first write, so a refusal names every bad line at once rather than
the first of many.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import vietnam_provinces
from django.db import transaction

from lienthong.audit import services as audit
from lienthong.audit.models import AuditRecord
from lienthong.directory import identifiers
from lienthong.directory.models import (
    STRUCTURE_2025_VALID_FROM,
    AdministrativeUnit,
    Agency,
    AgencyKind,
    Node,
    UnitLevel,
)
from lienthong.text import fold

IMPORT_SOURCE = "import"


class ImportRefused(Exception):
    """The input cannot be imported; ``problems`` says where and why (nothing was written)."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems[:20]))


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    closed: int = 0
    unchanged: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.closed)

    def as_dict(self) -> dict[str, int]:
        return {
            "created": self.created,
            "updated": self.updated,
            "closed": self.closed,
            "unchanged": self.unchanged,
        }


# --- Administrative units ---------------------------------------------------


@dataclass(frozen=True)
class UnitRow:
    level: str
    code: str
    name: str
    division_type: str
    codename: str
    parent_code: str | None
    phone_code: int | None

    def differs_from(self, unit: AdministrativeUnit, parent_codes: dict[int, str]) -> bool:
        return (
            unit.name != self.name
            or unit.division_type != self.division_type
            or unit.codename != self.codename
            or unit.phone_code != self.phone_code
            or parent_codes.get(unit.parent_id) != self.parent_code
        )


def package_units_source() -> tuple[list[dict], str]:
    """The nested provinces/wards data shipped in the ``vietnam-provinces`` package."""
    data = json.loads(vietnam_provinces.NESTED_DIVISIONS_JSON_PATH.read_text(encoding="utf-8"))
    label = (
        f"vietnam-provinces {vietnam_provinces.__version__} "
        f"(data {vietnam_provinces.__data_version__})"
    )
    return data, label


def read_units_file(path: Path) -> list[dict]:
    """A JSON file in the package's nested layout, for a reorganisation the package lacks yet."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ImportRefused([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from exc
    except json.JSONDecodeError as exc:
        raise ImportRefused([f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})"]) from exc
    if not isinstance(data, list):
        raise ImportRefused([f"{path}: expected a list of provinces at the top level"])
    return data


def parse_units(data: list[Any]) -> list[UnitRow]:
    """Validate nested province/ward records; raise ImportRefused naming each bad record."""
    problems: list[str] = []
    rows: list[UnitRow] = []
    seen: set[tuple[str, str]] = set()

    def take(where: str, record: Any, level: str, parent: str | None) -> None:
        if not isinstance(record, dict):
            problems.append(f"{where}: expected an object")
            return
        code, name = record.get("code"), record.get("name")
        width = 2 if level == UnitLevel.PROVINCE else 5
        if not isinstance(code, int) or isinstance(code, bool) or not 0 < code < 10**width:
            problems.append(f"{where}: 'code' must be a whole number of at most {width} digits")
            return
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{where}: 'name' is missing")
            return
        text = f"{code:0{width}d}"
        if (level, text) in seen:
            problems.append(f"{where}: code {text} appears twice")
            return
        seen.add((level, text))
        phone = record.get("phone_code")
        rows.append(
            UnitRow(
                level=level,
                code=text,
                name=name.strip(),
                division_type=str(record.get("division_type") or "").strip(),
                codename=str(record.get("codename") or fold(name).replace(" ", "_"))[:120],
                parent_code=parent,
                phone_code=phone
                if isinstance(phone, int) and not isinstance(phone, bool)
                else None,
            )
        )

    for p_index, province in enumerate(data, start=1):
        where = f"province #{p_index}"
        before = len(rows)
        take(where, province, UnitLevel.PROVINCE, None)
        if len(rows) == before:
            continue
        wards = province.get("wards", [])
        if not isinstance(wards, list):
            problems.append(f"{where}: 'wards' must be a list")
            continue
        for w_index, ward in enumerate(wards, start=1):
            take(f"{where}, ward #{w_index}", ward, UnitLevel.COMMUNE, rows[before].code)
    if problems:
        raise ImportRefused(problems)
    return rows


def import_units(
    *,
    actor: Any,
    rows: list[UnitRow],
    source: str,
    valid_from: dt.date = STRUCTURE_2025_VALID_FROM,
) -> ImportReport:
    """Bring the directory's administrative units in line with ``rows``, valid from ``valid_from``.

    - a unit not yet known is created;
    - a unit whose open version is identical is left alone;
    - a unit that changed gets a new version: the open one is closed the day
      before ``valid_from`` (a correction with the same ``valid_from`` is
      applied in place instead);
    - an open unit that the new structure no longer has is closed.
    Old versions are never rewritten: dossiers keep the unit they were filed under.
    """
    report = ImportReport()
    closing_day = valid_from - dt.timedelta(days=1)
    with transaction.atomic():
        open_units = {
            (u.level, u.code): u for u in AdministrativeUnit.objects.filter(valid_to__isnull=True)
        }
        parent_codes = {u.pk: u.code for u in open_units.values() if u.level == UnitLevel.PROVINCE}
        too_new = [
            f"{u.level} {u.code}: its open version starts {u.valid_from:%d/%m/%Y}, after {valid_from:%d/%m/%Y}"
            for (level, code), u in open_units.items()
            if u.valid_from > valid_from
        ]
        if too_new:
            raise ImportRefused(too_new)

        wanted = {(r.level, r.code) for r in rows}
        for key, unit in open_units.items():
            if key in wanted:
                continue
            if unit.valid_from == valid_from:
                raise ImportRefused(
                    [
                        f"{unit.level} {unit.code} ({unit.name}) is missing from a data set with the same validity date"
                    ]
                )
            unit.valid_to = closing_day
            unit.save(update_fields=["valid_to"])
            report.closed += 1

        provinces: dict[str, AdministrativeUnit] = {}
        for level in (UnitLevel.PROVINCE, UnitLevel.COMMUNE):
            new_units: list[AdministrativeUnit] = []
            for row in (r for r in rows if r.level == level):
                parent = provinces[row.parent_code] if row.parent_code else None
                current = open_units.get((row.level, row.code))
                if current is not None and not row.differs_from(current, parent_codes):
                    report.unchanged += 1
                    if level == UnitLevel.PROVINCE:
                        provinces[row.code] = current
                    continue
                if current is not None and current.valid_from == valid_from:
                    _apply_row(current, row, parent)
                    current.save()
                    report.updated += 1
                    if level == UnitLevel.PROVINCE:
                        provinces[row.code] = current
                    continue
                if current is not None:
                    current.valid_to = closing_day
                    current.save(update_fields=["valid_to"])
                    report.closed += 1
                unit = AdministrativeUnit(valid_from=valid_from, source=source[:120])
                _apply_row(unit, row, parent)
                new_units.append(unit)
            # bulk_create skips save(): fill the search key it would have computed.
            for unit in new_units:
                unit.search_name = fold(f"{unit.name} {unit.codename.replace('_', ' ')}")
            AdministrativeUnit.objects.bulk_create(new_units, batch_size=500)
            report.created += len(new_units)
            if level == UnitLevel.PROVINCE:
                provinces.update({u.code: u for u in new_units})

        if report.changed:
            audit.record(
                actor=actor,
                action=AuditRecord.Action.IMPORT,
                object_type=AdministrativeUnit._meta.label_lower,
                object_repr=f"{len(rows)} administrative units",
                changes={
                    **report.as_dict(),
                    "source": source,
                    "valid_from": valid_from.isoformat(),
                },
                source=IMPORT_SOURCE,
            )
    return report


def _apply_row(unit: AdministrativeUnit, row: UnitRow, parent: AdministrativeUnit | None) -> None:
    unit.level = row.level
    unit.code = row.code
    unit.name = row.name
    unit.division_type = row.division_type
    unit.codename = row.codename
    unit.phone_code = row.phone_code
    unit.parent = parent


# --- Agencies and nodes -----------------------------------------------------


def bundled_agencies() -> dict[str, Any]:
    text = resources.files("lienthong.directory").joinpath("data/agencies.json").read_text("utf-8")
    return json.loads(text)


def _lower_first(name: str) -> str:
    """'Tỉnh Đắk Lắk' -> 'tỉnh Đắk Lắk', for use inside an agency's name."""
    return name[:1].lower() + name[1:]


def _province_node_identifier(committee_identifier: str) -> str:
    return f"VN:GOV:{committee_identifier}:node"


def desired_agencies(data: dict[str, Any], on: dt.date) -> tuple[list[dict], list[dict]]:
    """The nodes and agencies the reference data describes for the units in force on ``on``."""
    central = data["central_node"]
    nodes = [
        {"identifier": central["identifier"], "name": central["name"], "role": Node.Role.CENTRAL}
    ]
    agencies: list[dict] = []
    for entry in data["central_agencies"]:
        identifiers.validate_identifier(entry["identifier"])
        agencies.append(
            {
                "key": f"central:{fold(entry['name']).replace(' ', '-')}",
                "identifier": entry["identifier"],
                "identifier_generated": bool(entry["generated"]),
                "name": entry["name"],
                "kind": entry["kind"],
                "parent": None,
                "unit": None,
                "node": central["identifier"],
            }
        )

    units = AdministrativeUnit.objects.valid_on(on).select_related("parent")
    provinces = sorted((u for u in units if u.level == UnitLevel.PROVINCE), key=lambda u: u.code)
    communes = sorted((u for u in units if u.level == UnitLevel.COMMUNE), key=lambda u: u.code)
    committee_of: dict[str, str] = {}  # province code -> committee identifier (node names)
    for province in provinces:
        committee = identifiers.generate_provincial_committee(int(province.code))
        committee_of[province.code] = committee
        node_id = _province_node_identifier(committee)
        place = _lower_first(province.full_name)
        nodes.append(
            {"identifier": node_id, "name": f"Nút Liên Thông {place}", "role": Node.Role.PROVINCIAL}
        )
        agencies.append(
            {
                "key": f"committee:{province.code}",
                "identifier": committee,
                "identifier_generated": True,
                "name": f"Ủy ban nhân dân {place}",
                "kind": AgencyKind.PROVINCIAL_COMMITTEE,
                "parent": None,
                "unit": province.pk,
                "node": node_id,
            }
        )
        for department in data["provincial_departments"]:
            agencies.append(
                {
                    "key": f"department:{province.code}:{department['number']}",
                    "identifier": identifiers.generate_department(
                        int(province.code), department["number"]
                    ),
                    "identifier_generated": True,
                    "name": f"{department['name']} {place}",
                    "kind": AgencyKind.DEPARTMENT,
                    "parent": f"committee:{province.code}",
                    "unit": province.pk,
                    "node": node_id,
                }
            )
    for commune in communes:
        province_code = commune.parent.code
        agencies.append(
            {
                "key": f"commune:{commune.code}",
                "identifier": identifiers.generate_commune_committee(
                    int(province_code), int(commune.code)
                ),
                "identifier_generated": True,
                "name": f"Ủy ban nhân dân {_lower_first(commune.full_name)}",
                "kind": AgencyKind.COMMUNE_COMMITTEE,
                "parent": f"committee:{province_code}",
                "unit": commune.pk,
                "node": _province_node_identifier(committee_of[province_code]),
            }
        )
    return nodes, agencies


def import_agencies(
    *, actor: Any, on: dt.date | None = None, data: dict | None = None
) -> ImportReport:
    """Create or update the nodes and agencies of the reference data.

    Agencies are matched by their ``reference_key`` (which committee,
    department or commune they are), not by identifier, so an operator who
    replaces a generated identifier with the official one in the admin keeps
    it: the import updates the reference facts (name, kind, parent, unit,
    node) and never turns an identifier back. Agencies an operator added by
    hand (no reference key) are left alone.
    """
    from django.utils import timezone

    on = on or timezone.localdate()
    data = data or bundled_agencies()
    report = ImportReport()
    with transaction.atomic():
        node_specs, agency_specs = desired_agencies(data, on)
        nodes = {n.identifier: n for n in Node.objects.all()}
        for spec in node_specs:
            node = nodes.get(spec["identifier"])
            if node is None:
                nodes[spec["identifier"]] = Node.objects.create(**spec)
                report.created += 1
            elif (node.name, node.role) != (spec["name"], spec["role"]):
                node.name, node.role = spec["name"], spec["role"]
                node.save(update_fields=["name", "role"])
                report.updated += 1
            else:
                report.unchanged += 1

        existing = {a.reference_key: a for a in Agency.objects.exclude(reference_key=None)}
        taken = set(Agency.objects.values_list("identifier", flat=True))
        clashes = [
            f"{spec['identifier']} ({spec['name']}) is already used by another agency"
            for spec in agency_specs
            if spec["key"] not in existing and spec["identifier"] in taken
        ]
        if clashes:
            raise ImportRefused(clashes)
        # Parents come before children, so one pass per depth resolves them.
        for level_specs in _by_depth(agency_specs):
            to_create, to_update = [], []
            for spec in level_specs:
                values = {
                    "name": spec["name"],
                    "kind": spec["kind"],
                    "parent_id": existing[spec["parent"]].pk if spec["parent"] else None,
                    "unit_id": spec["unit"],
                    "node_id": nodes[spec["node"]].pk,
                }
                if not spec["identifier_generated"]:
                    # The reference data itself now knows the official identifier.
                    values.update(identifier=spec["identifier"], identifier_generated=False)
                agency = existing.get(spec["key"])
                if agency is None:
                    agency = Agency(
                        **{
                            "reference_key": spec["key"],
                            "identifier": spec["identifier"],
                            "identifier_generated": spec["identifier_generated"],
                            **values,
                        }
                    )
                    agency.search_name = fold(f"{agency.name} {agency.identifier}")
                    to_create.append(agency)
                elif any(getattr(agency, k) != v for k, v in values.items()):
                    for k, v in values.items():
                        setattr(agency, k, v)
                    agency.search_name = fold(f"{agency.name} {agency.identifier}")
                    to_update.append(agency)
                else:
                    report.unchanged += 1
            Agency.objects.bulk_create(to_create, batch_size=500)
            Agency.objects.bulk_update(
                to_update,
                [
                    "identifier",
                    "identifier_generated",
                    "name",
                    "kind",
                    "parent",
                    "unit",
                    "node",
                    "search_name",
                ],
                batch_size=500,
            )
            existing.update({a.reference_key: a for a in to_create})
            report.created += len(to_create)
            report.updated += len(to_update)
        if report.changed:
            audit.record(
                actor=actor,
                action=AuditRecord.Action.IMPORT,
                object_type=Agency._meta.label_lower,
                object_repr=f"{len(agency_specs)} agencies, {len(node_specs)} nodes",
                changes={**report.as_dict(), "valid_on": on.isoformat()},
                source=IMPORT_SOURCE,
            )
    return report


def _by_depth(specs: Iterable[dict]) -> list[list[dict]]:
    """Group specs so that every parent is written before its children."""
    roots = [s for s in specs if s["parent"] is None]
    children = [s for s in specs if s["parent"] is not None]
    return [roots, children]
