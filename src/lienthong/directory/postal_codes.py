"""National postal codes (mã bưu chính): the import from CSV and the checks an address uses.

The national postal code has five digits (Decision 2475/QĐ-BTTTT of 2017); the
Ministry and VNPost publish it as a table of "objects assigned a code"
(administrative units, post offices, agencies) with their code. The import
reads that table as CSV, with the administrative unit given by its statistics
code so it can be linked without guessing from names (docs/postal-codes.md):

    ma_buu_chinh,ma_don_vi_hanh_chinh,ten_doi_tuong_gan_ma
    10000,01,Thành phố Hà Nội

English headers (postal_code, unit_code, label) are accepted too. The file is
UTF-8 (a byte-order mark, as spreadsheet programs write, is allowed), comma or
semicolon separated.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from lienthong.audit import services as audit
from lienthong.audit.models import AuditRecord
from lienthong.directory.models import AdministrativeUnit, PostalCode
from lienthong.directory.services import IMPORT_SOURCE, ImportRefused, ImportReport

POSTAL_CODE_RE = re.compile(r"[0-9]{5}")
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_PROBLEMS = 50

COLUMNS = {
    "code": ("ma_buu_chinh", "postal_code"),
    "unit": ("ma_don_vi_hanh_chinh", "unit_code"),
    "label": ("ten_doi_tuong_gan_ma", "label"),
}


@dataclass(frozen=True)
class PostalRow:
    line: int
    code: str
    unit_code: str
    label: str


def parse_postal_csv(raw: bytes) -> list[PostalRow]:
    """Parse and validate the whole file; raise ImportRefused with line numbers."""
    if len(raw) > MAX_FILE_BYTES:
        raise ImportRefused(
            [f"the file has {len(raw)} bytes; at most {MAX_FILE_BYTES} are accepted"]
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ImportRefused([f"line {line}: not UTF-8 text"]) from exc
    if not text.strip():
        raise ImportRefused(["line 1: the file is empty"])
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except csv.Error as exc:
        raise ImportRefused([f"line 1: {exc}"]) from exc
    positions: dict[str, int] = {}
    for key, names in COLUMNS.items():
        for name in names:
            if name in header:
                positions[key] = header.index(name)
                break
    missing = [COLUMNS[k][0] for k in ("code", "unit") if k not in positions]
    if missing:
        raise ImportRefused([f"line 1: missing column(s) {', '.join(missing)}"])

    rows: list[PostalRow] = []
    problems: list[str] = []
    first_seen: dict[tuple[str, str], int] = {}
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(header):
                problems.append(f"line {line}: expected {len(header)} fields, found {len(record)}")
                continue
            code = record[positions["code"]].strip()
            unit_code = record[positions["unit"]].strip()
            label = record[positions["label"]].strip() if "label" in positions else ""
            if not POSTAL_CODE_RE.fullmatch(code):
                problems.append(f"line {line}: postal code {code!r} is not 5 digits")
            elif not re.fullmatch(r"[0-9]{2}|[0-9]{5}", unit_code):
                problems.append(
                    f"line {line}: unit code {unit_code!r} is neither a province (2 digits) "
                    "nor a commune (5 digits)"
                )
            elif (code, unit_code) in first_seen:
                problems.append(f"line {line}: repeats line {first_seen[(code, unit_code)]}")
            else:
                first_seen[(code, unit_code)] = line
                rows.append(PostalRow(line=line, code=code, unit_code=unit_code, label=label[:255]))
            if len(problems) >= MAX_PROBLEMS:
                break
    except csv.Error as exc:
        problems.append(f"line {reader.line_num}: {exc}")
    if problems:
        raise ImportRefused(problems)
    return rows


def import_postal_codes(*, actor: Any, rows: list[PostalRow], source: str) -> ImportReport:
    """Add or update postal codes; rows naming an unknown unit refuse the whole file."""
    report = ImportReport()
    with transaction.atomic():
        units = {
            u.code: u
            for u in AdministrativeUnit.objects.current().filter(
                code__in={r.unit_code for r in rows}
            )
        }
        unknown = [
            f"line {r.line}: no administrative unit in force has code {r.unit_code}"
            for r in rows
            if r.unit_code not in units
        ]
        if unknown:
            raise ImportRefused(unknown[:MAX_PROBLEMS])
        existing = {
            (p.code, p.unit_id): p for p in PostalCode.objects.filter(unit__in=units.values())
        }
        to_create: list[PostalCode] = []
        for row in rows:
            unit = units[row.unit_code]
            current = existing.get((row.code, unit.pk))
            if current is None:
                to_create.append(
                    PostalCode(code=row.code, unit=unit, label=row.label, source=source[:255])
                )
            elif current.label != row.label and row.label:
                current.label = row.label
                current.save(update_fields=["label"])
                report.updated += 1
            else:
                report.unchanged += 1
        PostalCode.objects.bulk_create(to_create, batch_size=500)
        report.created = len(to_create)
        if report.changed:
            audit.record(
                actor=actor,
                action=AuditRecord.Action.IMPORT,
                object_type=PostalCode._meta.label_lower,
                object_repr=f"{len(rows)} postal codes",
                changes={**report.as_dict(), "source": source},
                source=IMPORT_SOURCE,
            )
    return report
