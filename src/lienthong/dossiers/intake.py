"""What a submission must satisfy before it becomes a dossier: the applicant's
details, the declaration checked field by field, the documents always required."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from lienthong.catalog.forms import clean_field_value
from lienthong.catalog.models import Procedure, RequiredDocument


@dataclass(frozen=True)
class Applicant:
    """Who the dossier is for, as declared at submission."""

    name: str
    id_number: str = ""
    phone: str = ""
    email: str = ""
    address: str = ""


def applicant_from_account(user: Any) -> Applicant:
    """The applicant's details from their account (citizen or business)."""
    account = getattr(user, "account", None)
    if account is None:
        return Applicant(name=user.get_full_name() or user.get_username(), email=user.email)
    return Applicant(
        name=account.display_name,
        id_number=account.personal_id or account.tax_code or "",
        phone=account.phone,
        email=account.email or user.email,
    )


def clean_form_data(procedure: Procedure, data: Mapping[str, Any]) -> dict[str, Any]:
    """The declaration checked against the procedure's fields, JSON-ready;
    ValidationError with an entry per field (stable codes from catalog.forms)."""
    fields = list(procedure.form_fields.all())
    known = {field.key for field in fields}
    errors: dict[str, list[ValidationError]] = {}
    for key in data:
        if key not in known:
            errors[key] = [ValidationError(_("This form has no such field."), code="unknown_field")]
    cleaned: dict[str, Any] = {}
    for field in fields:
        try:
            value = clean_field_value(field, data.get(field.key))
        except ValidationError as exc:
            errors[field.key] = exc.error_list
            continue
        if value is not None:
            cleaned[field.key] = jsonable(value)
    if errors:
        raise ValidationError(errors)
    return cleaned


def jsonable(value: Any) -> Any:
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def always_required(procedure: Procedure) -> list[RequiredDocument]:
    # A document needed "only in a stated case" cannot be checked by machine.
    return [d for d in procedure.documents.all() if d.required and not d.condition]
