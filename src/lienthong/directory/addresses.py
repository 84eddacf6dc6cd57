"""A postal address in the two-level structure: street, commune, province, postal code.

Used wherever a dossier, an applicant or a delivery needs an address. The
checks are the ones the directory can vouch for: the commune belongs to the
province, the postal code has the national format, and — where the postal-code
table knows the commune — the code is one of the commune's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from lienthong.directory.models import AdministrativeUnit, PostalCode, UnitLevel
from lienthong.directory.postal_codes import POSTAL_CODE_RE


@dataclass(frozen=True)
class Address:
    street: str
    commune_code: str
    province_code: str
    postal_code: str = ""

    def validate(self, on: dt.date | None = None) -> tuple[AdministrativeUnit, AdministrativeUnit]:
        """Return (commune, province) in force on ``on``, or raise ValidationError with codes."""
        on = on or timezone.localdate()
        errors: dict[str, list[ValidationError]] = {}
        if not self.street.strip():
            errors["street"] = [
                ValidationError(_("Enter the street address."), code="street_required")
            ]
        if len(self.street) > 255:
            errors["street"] = [
                ValidationError(
                    _("The street address is longer than 255 characters."), code="street_too_long"
                )
            ]
        units = AdministrativeUnit.objects.valid_on(on)
        commune = (
            units.filter(level=UnitLevel.COMMUNE, code=self.commune_code)
            .select_related("parent")
            .first()
        )
        # The commune's own province, in force that day, is the province given: one
        # query. Otherwise the province is looked up for the error it deserves.
        parent = commune.parent if commune is not None else None
        if (
            parent is not None
            and parent.level == UnitLevel.PROVINCE
            and parent.code == self.province_code
            and parent.in_force_on(on)
        ):
            province = parent
        else:
            province = units.filter(level=UnitLevel.PROVINCE, code=self.province_code).first()
        if province is None:
            errors["province_code"] = [
                ValidationError(_("Unknown province."), code="unknown_province")
            ]
        if commune is None:
            errors["commune_code"] = [
                ValidationError(_("Unknown commune."), code="unknown_commune")
            ]
        elif province is not None and commune.parent_id != province.pk:
            errors["commune_code"] = [
                ValidationError(
                    _("%(commune)s is not in %(province)s."),
                    code="commune_not_in_province",
                    params={"commune": commune.full_name, "province": province.full_name},
                )
            ]
        if self.postal_code:
            if not POSTAL_CODE_RE.fullmatch(self.postal_code):
                errors["postal_code"] = [
                    ValidationError(
                        _("A postal code has exactly 5 digits."), code="postal_code_format"
                    )
                ]
            elif commune is not None and "commune_code" not in errors:
                known = set(PostalCode.objects.filter(unit=commune).values_list("code", flat=True))
                if known and self.postal_code not in known:
                    errors["postal_code"] = [
                        ValidationError(
                            _(
                                "Postal code %(code)s does not belong to %(commune)s (its codes: %(known)s)."
                            ),
                            code="postal_code_not_for_commune",
                            params={
                                "code": self.postal_code,
                                "commune": commune.name,
                                "known": ", ".join(sorted(known)),
                            },
                        )
                    ]
        if errors:
            raise ValidationError(errors)
        return commune, province

    def formatted(self, commune: AdministrativeUnit, province: AdministrativeUnit) -> str:
        """The address as written on an envelope: street, commune, province, postal code."""
        parts = [self.street.strip(), commune.full_name, province.full_name]
        if self.postal_code:
            parts.append(self.postal_code)
        return ", ".join(parts)
