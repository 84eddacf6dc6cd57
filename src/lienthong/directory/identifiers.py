"""Electronic identifiers of agencies (mã định danh), Decision 20/2020/QĐ-TTg.

An identifier is a sequence of dot-separated groups of digits and capital
letters, at most 35 characters, read from the most specific group on the left
to the level-1 group on the right: ``000.00.18.G12`` is a level-2 unit (18) of
the Ministry of Finance (G12), ``000.00.00.G12`` the ministry itself.

Official identifiers are assigned by the managing agencies and published in
their decisions; the directory marks which ones it holds. Where none is known,
one is generated in the same format under a level-1 group that the official
scheme does not use: ``X`` for central agencies (numbered in the reference data,
directory/data/agencies.json), ``T`` for provinces (built by ``generate_*``
below from the statistics codes of the administrative units), so a generated
identifier can never be mistaken for, or collide with, an official one. The scheme is
documented in docs/identifiers.md.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

MAX_LENGTH = 35
_GROUP = r"[0-9A-Z]+"
IDENTIFIER_RE = re.compile(rf"{_GROUP}(?:\.{_GROUP})+")

GENERATED_CENTRAL_PREFIX = "X"
GENERATED_PROVINCE_PREFIX = "T"


def is_valid_identifier(value: str) -> bool:
    """True when ``value`` has the Decision 20/2020 shape: 2+ groups, ≤ 35 characters."""
    return (
        isinstance(value, str) and len(value) <= MAX_LENGTH and bool(IDENTIFIER_RE.fullmatch(value))
    )


def validate_identifier(value: str) -> None:
    """Django validator with a message that says what is wrong, not just "invalid"."""
    if not isinstance(value, str) or not value:
        raise ValidationError(_("The identifier is empty."), code="identifier_empty")
    if len(value) > MAX_LENGTH:
        raise ValidationError(
            _("The identifier has %(length)d characters; at most 35 are allowed."),
            code="identifier_too_long",
            params={"length": len(value)},
        )
    if not IDENTIFIER_RE.fullmatch(value):
        raise ValidationError(
            _(
                "The identifier must be dot-separated groups of digits and capital "
                "letters, for example 000.00.00.G12."
            ),
            code="identifier_format",
        )


def level_one_group(identifier: str) -> str:
    """The rightmost group: the ministry or province the agency belongs to."""
    return identifier.rsplit(".", 1)[-1]


def generate_provincial_committee(province_code: int) -> str:
    """A provincial People's Committee: ``000.00.00.T{pp}``, pp the province statistics code."""
    _check_range("province_code", province_code, 1, 99)
    return f"000.00.00.{GENERATED_PROVINCE_PREFIX}{province_code:02d}"


def generate_department(province_code: int, department: int) -> str:
    """A department of a province (level 2): ``000.00.{dd}.T{pp}``."""
    _check_range("department", department, 1, 99)
    return (
        f"000.00.{department:02d}.{level_one_group(generate_provincial_committee(province_code))}"
    )


def generate_commune_committee(province_code: int, commune_code: int) -> str:
    """A commune People's Committee: its 5-digit statistics code split over levels 4 and 3.

    Commune 00070 of province 01 becomes ``000.70.00.T01``; 23425 of 51 becomes
    ``234.25.00.T51``. Commune codes are unique nationally, so the result is too.
    """
    _check_range("commune_code", commune_code, 1, 99999)
    digits = f"{commune_code:05d}"
    province = level_one_group(generate_provincial_committee(province_code))
    return f"{digits[:3]}.{digits[3:]}.00.{province}"


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
