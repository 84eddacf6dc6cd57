"""Checking a value given for a procedure's form field, by the field's kind."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

from lienthong.catalog.models import FieldKind, FormField

# A personal ID number is the 12 digits of the citizen identity card (CCCD).
PERSONAL_ID = re.compile(r"^[0-9]{12}$")
# A Vietnamese telephone number in national form: 0 and nine digits.
PHONE = re.compile(r"^0[0-9]{9}$")
MAX_TEXT = 500


def clean_field_value(field: FormField, value: Any) -> Any:
    """The value in its stored form, or ValidationError with a stable code.

    Dates are written ``dd/mm/yyyy`` (or ISO ``yyyy-mm-dd``); an address is a
    mapping checked by the directory (commune within province).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        if field.required:
            raise ValidationError(_("This field is required."), code="required")
        return None
    cleaner = CLEANERS[field.kind]
    return cleaner(field, value)


def _text(field: FormField, value: Any) -> str:
    text = str(value).strip()
    if len(text) > MAX_TEXT:
        raise ValidationError(_("The text is too long."), code="too_long")
    return text


def _number(field: FormField, value: Any) -> Decimal:
    try:
        number = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation as exc:
        raise ValidationError(_("Enter a number."), code="invalid_number") from exc
    if not number.is_finite() or number < 0:
        raise ValidationError(_("Enter a number."), code="invalid_number")
    return number


def _date(field: FormField, value: Any) -> dt.date:
    text = str(value).strip()
    for pattern in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise ValidationError(_("Enter a date as dd/mm/yyyy."), code="invalid_date")


def _choice(field: FormField, value: Any) -> str:
    text = str(value).strip()
    if text not in {choice["value"] for choice in field.choices}:
        raise ValidationError(_("Choose one of the options."), code="invalid_choice")
    return text


def _personal_id(field: FormField, value: Any) -> str:
    text = str(value).strip()
    if not PERSONAL_ID.match(text):
        raise ValidationError(
            _("A personal ID number has exactly 12 digits."), code="invalid_personal_id"
        )
    return text


def _phone(field: FormField, value: Any) -> str:
    text = re.sub(r"[\s.-]", "", str(value))
    if text.startswith("+84"):
        text = "0" + text[3:]
    if not PHONE.match(text):
        raise ValidationError(
            _("Enter a phone number of 10 digits starting with 0."), code="invalid_phone"
        )
    return text


def _email(field: FormField, value: Any) -> str:
    text = str(value).strip()
    try:
        validate_email(text)
    except ValidationError as exc:
        raise ValidationError(_("Enter a valid email address."), code="invalid_email") from exc
    return text


def _address(field: FormField, value: Any) -> dict[str, str]:
    from lienthong.directory.addresses import Address

    if not isinstance(value, dict):
        raise ValidationError(_("Enter an address."), code="invalid_address")
    address = Address(
        street=str(value.get("street", "")),
        commune_code=str(value.get("commune_code", "")),
        province_code=str(value.get("province_code", "")),
    )
    try:
        address.validate()
    except ValidationError as exc:
        raise ValidationError(_("Enter an address."), code="invalid_address") from exc
    return {
        "street": address.street.strip(),
        "commune_code": address.commune_code,
        "province_code": address.province_code,
    }


CLEANERS = {
    FieldKind.TEXT: _text,
    FieldKind.NUMBER: _number,
    FieldKind.DATE: _date,
    FieldKind.CHOICE: _choice,
    FieldKind.PERSONAL_ID: _personal_id,
    FieldKind.PHONE: _phone,
    FieldKind.EMAIL: _email,
    FieldKind.ADDRESS: _address,
}
