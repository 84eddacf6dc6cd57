"""The catalogue of administrative procedures (thủ tục hành chính) and the holiday table.

A procedure says what a citizen must give (form fields, documents), pay (fees)
and wait (legal time limit), who handles it (agencies of the directory) and
whether it can be done fully online. Interconnected procedures (Decree
63/2024/NĐ-CP) chain procedures of different agencies into one dossier.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from lienthong.text import fold

# A national catalogue code ("1.001193"), or a provisional code of this
# catalogue ("LT.000001") for an entry whose national code is not yet recorded.
CODE_PATTERN = r"^(?:[0-9]\.[0-9]{6}|LT\.[0-9]{6})$"
PROVISIONAL_PREFIX = "LT."
code_validator = RegexValidator(
    CODE_PATTERN,
    message=_("A procedure code looks like 1.001193 (national) or LT.000001 (provisional)."),
    code="procedure_code_format",
)


def _localized(obj: models.Model, field: str) -> str:
    """The English text when the page is in English and one is recorded, else the Vietnamese."""
    if (translation.get_language() or "vi").startswith("en"):
        english = getattr(obj, f"{field}_en", "")
        if english:
            return english
    return getattr(obj, field)


class OnlineLevel(models.TextChoices):
    """How far the procedure can be done online (Decree 42/2022/NĐ-CP)."""

    FULL = "full", _("Fully online")
    PARTIAL = "partial", _("Partly online")
    NONE = "none", _("Not online")


class AuthorityLevel(models.TextChoices):
    CENTRAL = "central", _("Central")
    PROVINCIAL = "provincial", _("Provincial")
    COMMUNE = "commune", _("Commune")


class AuthorityKind(models.TextChoices):
    """The sector of the agency that decides; the steps of an interconnected
    procedure each belong to a different one."""

    PEOPLES_COMMITTEE = "peoples_committee", _("People's Committee")
    JUSTICE = "justice", _("Justice")
    PUBLIC_SECURITY = "public_security", _("Public security")
    SOCIAL_SECURITY = "social_security", _("Social security")
    CONSTRUCTION = "construction", _("Construction")


class TimeLimitBasis(models.TextChoices):
    WORKING_DAYS = "working_days", _("working days")
    CALENDAR_DAYS = "calendar_days", _("days")


class ProcedureField(models.Model):
    """A field of state management (lĩnh vực): civil status, residence, ..."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("procedure field")
        verbose_name_plural = _("procedure fields")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def localized_name(self) -> str:
        return _localized(self, "name")


class Procedure(models.Model):
    """One administrative procedure of the national catalogue."""

    code = models.CharField(_("code"), max_length=12, unique=True, validators=[code_validator])
    name = models.CharField(_("name"), max_length=300)
    name_en = models.CharField(_("English name"), max_length=300, blank=True)
    field = models.ForeignKey(
        ProcedureField,
        verbose_name=_("field"),
        on_delete=models.PROTECT,
        related_name="procedures",
    )
    level = models.CharField(_("level"), max_length=12, choices=AuthorityLevel.choices)
    authority_kind = models.CharField(
        _("authority kind"), max_length=20, choices=AuthorityKind.choices
    )
    authority = models.CharField(
        _("competent authority"),
        max_length=200,
        help_text=_("As the catalogue writes it, e.g. “Ủy ban nhân dân cấp xã”."),
    )
    agencies = models.ManyToManyField(
        "directory.Agency",
        verbose_name=_("handling agencies"),
        blank=True,
        related_name="procedures",
        help_text=_("Agencies of the directory that handle this procedure."),
    )
    online_level = models.CharField(_("online level"), max_length=10, choices=OnlineLevel.choices)
    time_limit = models.DecimalField(
        _("legal time limit"),
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text=_("0 means the same day; empty when the catalogue states none."),
    )
    time_limit_basis = models.CharField(
        _("counted in"),
        max_length=15,
        choices=TimeLimitBasis.choices,
        default=TimeLimitBasis.WORKING_DAYS,
    )
    time_limit_note = models.CharField(_("time limit note"), max_length=300, blank=True)
    legal_basis = models.TextField(
        _("legal basis"),
        blank=True,
        help_text=_("Only texts known exactly; empty rather than guessed."),
    )
    result = models.CharField(_("result"), max_length=300, blank=True)
    status_texts = models.JSONField(
        _("citizen-facing status texts"),
        default=dict,
        blank=True,
        help_text=_("Overrides of the national status texts, by status number (1-10)."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    search_text = models.TextField(editable=False, default="")

    class Meta:
        verbose_name = _("procedure")
        verbose_name_plural = _("procedures")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def save(self, *args, **kwargs) -> None:
        self.search_text = self.searchable_text()
        super().save(*args, **kwargs)

    def searchable_text(self) -> str:
        """The folded words a search matches: name first (ranking looks at how it starts),
        then code, English name, authority and field."""
        parts = [self.name, self.code, self.name_en, self.authority]
        if self.field_id:
            parts += [self.field.name, self.field.name_en]
        # The leading space lets a search match words from their start (" an"
        # finds "an ninh", not "nhan"): see selectors._matching.
        return " " + fold(" ".join(parts))

    @property
    def localized_name(self) -> str:
        return _localized(self, "name")

    @property
    def has_provisional_code(self) -> bool:
        return self.code.startswith(PROVISIONAL_PREFIX)

    @property
    def is_free(self) -> bool:
        """Free when every fee listed is zero (a fee set by each province is not zero)."""
        return all(fee.amount == 0 for fee in self.fees.all())

    @property
    def is_same_day(self) -> bool:
        return self.time_limit is not None and self.time_limit == 0

    def deadline(self, received_at: dt.datetime, *, paused=(), calendar=None) -> dt.datetime | None:
        """When the agency must have decided on a dossier received at ``received_at``
        (``paused``: periods the clock stood still); None when no time limit is recorded."""
        from lienthong.catalog import working_days

        if self.time_limit is None:
            return None
        if self.time_limit_basis == TimeLimitBasis.CALENDAR_DAYS:
            return working_days.add_calendar_days(
                received_at, int(self.time_limit), paused=paused, calendar=calendar
            )
        return working_days.add_working_days(
            received_at, self.time_limit, paused=paused, calendar=calendar
        )


class FieldKind(models.TextChoices):
    TEXT = "text", _("Text")
    NUMBER = "number", _("Number")
    DATE = "date", _("Date")
    CHOICE = "choice", _("Choice")
    PERSONAL_ID = "personal_id", _("Personal ID number")
    PHONE = "phone", _("Phone number")
    EMAIL = "email", _("Email")
    ADDRESS = "address", _("Address")


class FormField(models.Model):
    """One typed field of a procedure's declaration form; ``forms.clean_field_value``
    checks a value against it."""

    procedure = models.ForeignKey(Procedure, on_delete=models.CASCADE, related_name="form_fields")
    key = models.SlugField(_("key"), max_length=60)
    kind = models.CharField(_("type"), max_length=12, choices=FieldKind.choices)
    label = models.CharField(_("label"), max_length=200)
    label_en = models.CharField(_("English label"), max_length=200, blank=True)
    required = models.BooleanField(_("required"), default=True)
    choices = models.JSONField(
        _("choices"),
        default=list,
        blank=True,
        help_text=_("For a choice: a list of {value, label, label_en}."),
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("form field")
        verbose_name_plural = _("form fields")
        ordering = ["procedure", "position"]
        constraints = [
            models.UniqueConstraint(fields=["procedure", "key"], name="catalog_field_key_once"),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def localized_label(self) -> str:
        return _localized(self, "label")

    def choice_label(self, value: str) -> str:
        for choice in self.choices:
            if choice["value"] == value:
                return _localized_choice(choice)
        return value


def _localized_choice(choice: dict) -> str:
    if (translation.get_language() or "vi").startswith("en") and choice.get("label_en"):
        return choice["label_en"]
    return choice["label"]


class RequiredDocument(models.Model):
    """A document of the dossier: how many originals and copies, and in which formats online."""

    procedure = models.ForeignKey(Procedure, on_delete=models.CASCADE, related_name="documents")
    name = models.CharField(_("name"), max_length=400)
    name_en = models.CharField(_("English name"), max_length=400, blank=True)
    originals = models.PositiveSmallIntegerField(_("originals"), default=1)
    copies = models.PositiveSmallIntegerField(_("copies"), default=0)
    required = models.BooleanField(_("required"), default=True)
    condition = models.CharField(
        _("when needed"), max_length=400, blank=True, help_text=_("Empty when always needed.")
    )
    accepted_types = models.JSONField(
        _("accepted file types"), default=list, blank=True, help_text=_('e.g. ["pdf", "jpg"]')
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("required document")
        verbose_name_plural = _("required documents")
        ordering = ["procedure", "position"]

    def __str__(self) -> str:
        return self.name

    @property
    def localized_name(self) -> str:
        return _localized(self, "name")


class Fee(models.Model):
    """A fee or charge; ``amount`` is empty when each province sets it, 0 when free."""

    procedure = models.ForeignKey(Procedure, on_delete=models.CASCADE, related_name="fees")
    description = models.CharField(_("description"), max_length=300)
    amount = models.PositiveIntegerField(_("amount (VND)"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=400, blank=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("fee")
        verbose_name_plural = _("fees")
        ordering = ["procedure", "position"]

    def __str__(self) -> str:
        return self.description


class InterconnectedProcedure(models.Model):
    """Procedures of different agencies done as one dossier (Decree 63/2024/NĐ-CP)."""

    code = models.CharField(_("code"), max_length=12, unique=True, validators=[code_validator])
    name = models.CharField(_("name"), max_length=300)
    name_en = models.CharField(_("English name"), max_length=300, blank=True)
    description = models.TextField(_("description"), blank=True)
    online_level = models.CharField(_("online level"), max_length=10, choices=OnlineLevel.choices)
    legal_basis = models.TextField(_("legal basis"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    search_text = models.TextField(editable=False, default="")

    class Meta:
        verbose_name = _("interconnected procedure")
        verbose_name_plural = _("interconnected procedures")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def save(self, *args, **kwargs) -> None:
        self.search_text = " " + fold(f"{self.name} {self.code} {self.name_en}")
        super().save(*args, **kwargs)

    @property
    def localized_name(self) -> str:
        return _localized(self, "name")

    @property
    def has_provisional_code(self) -> bool:
        return self.code.startswith(PROVISIONAL_PREFIX)


class InterconnectedStep(models.Model):
    """One step of an interconnected procedure, in order; each step's procedure
    belongs to a different kind of authority (``services`` refuses otherwise)."""

    interconnected = models.ForeignKey(
        InterconnectedProcedure, on_delete=models.CASCADE, related_name="steps"
    )
    position = models.PositiveSmallIntegerField(_("position"))
    procedure = models.ForeignKey(
        Procedure, verbose_name=_("procedure"), on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("step")
        verbose_name_plural = _("steps")
        ordering = ["interconnected", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["interconnected", "position"], name="catalog_step_position_once"
            ),
            models.UniqueConstraint(
                fields=["interconnected", "procedure"], name="catalog_step_procedure_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.procedure.name}"


class HolidayKind(models.TextChoices):
    HOLIDAY = "holiday", _("Public holiday")
    DAY_OFF = "day_off", _("Compensatory day off")
    WORKING_DAY = "working_day", _("Make-up working day")


class HolidaySource(models.TextChoices):
    PACKAGE = "package", _("holidays package")
    OPERATOR = "operator", _("operator")


class Holiday(models.Model):
    """A day the working-day calendar treats differently from its weekday.

    A holiday or a compensatory day off is not a working day even on a
    weekday; a make-up working day (a Saturday worked in exchange for a
    bridged day off) is a working day although it falls on a weekend.
    """

    date = models.DateField(_("date"), unique=True)
    name = models.CharField(_("name"), max_length=200)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)
    kind = models.CharField(_("type of day"), max_length=12, choices=HolidayKind.choices)
    source = models.CharField(
        _("source"),
        max_length=10,
        choices=HolidaySource.choices,
        default=HolidaySource.OPERATOR,
        help_text=_("Rows an operator entered or changed are never overwritten by a reload."),
    )

    class Meta:
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date:%d/%m/%Y} {self.name}"

    @property
    def localized_name(self) -> str:
        return _localized(self, "name")


class CatalogRevision(models.Model):
    """One row whose ``value`` changes, through database triggers, with every write to
    a procedure or its field, form fields, documents and fees — whatever wrote it (the
    admin, the catalogue's import, an ``update()``, SQL by hand). A process keeps the
    procedures it read (``selectors.procedure_by_code``) while the value it read them
    under stays the same.

    The triggers set a random value, not the next number: a write rolled back leaves
    no number that a later write could take again. ``value`` is NULL where the
    database has no triggers (``migrations/0002``): nothing is then kept."""

    value = models.BigIntegerField(null=True)

    class Meta:
        db_table = "catalog_revision"
        verbose_name = _("catalogue revision")
        verbose_name_plural = _("catalogue revision")

    def __str__(self) -> str:
        return str(self.value)
