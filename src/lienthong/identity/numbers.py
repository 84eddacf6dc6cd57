"""The numbers that identify a person or a business: personal ID number and tax code.

Each check is a small function raising ``django.core.exceptions.ValidationError``
with a message that says what is wrong, so forms, services and the admin
give the same answer.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# Birth-place codes of the personal ID number (Circular 59/2021/TT-BCA,
# appendix). They are the 63 provinces as they were before the 2025
# merger: a number keeps the code of where its holder was born, and the
# merged provinces kept codes from this list, so every valid number starts
# with one of them.
_CODES = """
    001 002 004 006 008 010 011 012 014 015 017 019 020 022 024 025 026 027 030
    031 033 034 035 036 037 038 040 042 044 045 046 048 049 051 052 054 056 058
    060 062 064 066 067 068 070 072 074 075 077 079 080 082 083 084 086 087 089
    091 092 093 094 095 096
"""
BIRTH_PROVINCE_CODES = frozenset(_CODES.split())

# The 4th digit: century of birth and sex, 0/1 for the 20th century
# (male/female), 2/3 for the 21st, and so on up to 8/9 for the 24th.
_CENTURY_START = {0: 1900, 1: 1900, 2: 2000, 3: 2000, 4: 2100, 5: 2100}

# Weights of the tax-code check digit (Decision 75/1998/QĐ-TCT, kept by
# Circular 105/2020/TT-BTC): N10 = 10 - (sum of weight * digit) mod 11.
_TAX_CODE_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)
_TAX_CODE = re.compile(r"^(\d{10})(?:-(\d{3}))?$")


def birth_year(personal_id: str) -> int:
    """The year of birth written in a (valid) personal ID number."""
    return _CENTURY_START[int(personal_id[3])] + int(personal_id[4:6])


def validate_personal_id(value: str) -> None:
    """A personal ID number (số định danh cá nhân, on the CCCD): 12 digits.

    Digits 1-3 are the province of birth, digit 4 the century of birth and
    sex, digits 5-6 the last two digits of the year of birth, then six
    random digits.
    """
    if not re.fullmatch(r"\d{12}", value or ""):
        raise ValidationError(
            _("A personal ID number has exactly 12 digits."), code="personal_id_format"
        )
    if value[:3] not in BIRTH_PROVINCE_CODES:
        raise ValidationError(
            _("%(code)s is not the code of a province of birth."),
            code="personal_id_province",
            params={"code": value[:3]},
        )
    if int(value[3]) not in _CENTURY_START:
        raise ValidationError(
            _("The fourth digit (century and sex) must be 0 to 5."), code="personal_id_century"
        )
    if birth_year(value) > timezone.localdate().year:
        raise ValidationError(
            _("The year of birth written in the number (%(year)s) is in the future."),
            code="personal_id_year",
            params={"year": birth_year(value)},
        )


def tax_code_check_digit(first_nine: str) -> int | None:
    """The tenth digit of a tax code, or None when no code is issued with these nine."""
    total = sum(w * int(d) for w, d in zip(_TAX_CODE_WEIGHTS, first_nine, strict=True))
    digit = 10 - total % 11
    return None if digit == 10 else digit


def validate_tax_code(value: str) -> None:
    """A business tax code (mã số thuế): 10 digits, or 10-3 for a branch (e.g. 0100109106-001)."""
    match = _TAX_CODE.match(value or "")
    if not match:
        raise ValidationError(
            _("A tax code has 10 digits, or 10 digits, a hyphen and 3 digits for a branch."),
            code="tax_code_format",
        )
    main, branch = match.groups()
    if tax_code_check_digit(main[:9]) != int(main[9]):
        raise ValidationError(
            _("The check digit of this tax code is wrong; please check the number."),
            code="tax_code_check_digit",
        )
    if branch == "000":
        raise ValidationError(_("A branch number runs from 001 to 999."), code="tax_code_branch")


def identifier_kind(identifier: str) -> str:
    """What a sign-in identifier looks like: ``personal_id``, ``tax_code`` or ``username``."""
    if re.fullmatch(r"\d{12}", identifier):
        return "personal_id"
    if _TAX_CODE.match(identifier):
        return "tax_code"
    return "username"
