"""The national directory: administrative units, agencies, nodes and postal codes."""

from __future__ import annotations

import datetime as dt

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from lienthong.directory.identifiers import MAX_LENGTH, validate_identifier
from lienthong.text import fold

# The two-level structure (provinces, communes) in force since 1 July 2025
# (Resolution 202/2025/QH15 for provinces; the commune-level resolutions of the
# Standing Committee of the National Assembly took effect the same day).
STRUCTURE_2025_VALID_FROM = dt.date(2025, 7, 1)


class UnitLevel(models.TextChoices):
    PROVINCE = "province", _("Province")
    COMMUNE = "commune", _("Commune")


class UnitQuerySet(models.QuerySet):
    def valid_on(self, day: dt.date) -> UnitQuerySet:
        """Units in force on ``day``: a dossier filed then keeps the unit it was filed under."""
        return self.filter(valid_from__lte=day).filter(
            Q(valid_to__isnull=True) | Q(valid_to__gte=day)
        )

    def current(self) -> UnitQuerySet:
        return self.valid_on(timezone.localdate())

    def provinces(self) -> UnitQuerySet:
        return self.filter(level=UnitLevel.PROVINCE)

    def communes(self) -> UnitQuerySet:
        return self.filter(level=UnitLevel.COMMUNE)


class AdministrativeUnit(models.Model):
    """A province or a commune, as one version valid over a period.

    A reorganisation does not rewrite a unit: it closes the old version
    (``valid_to``) and adds a new one, so that a dossier keeps pointing at the
    unit it was filed under.
    """

    code = models.CharField(
        _("statistics code"),
        max_length=5,
        help_text=_(
            "Code of the General Statistics Office: 2 digits for a province, 5 for a commune."
        ),
    )
    level = models.CharField(_("level"), max_length=10, choices=UnitLevel.choices)
    division_type = models.CharField(_("division type"), max_length=40)
    name = models.CharField(_("name"), max_length=120)
    codename = models.SlugField(_("code name"), max_length=120)
    search_name = models.CharField(max_length=240, db_index=True, editable=False)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent unit"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
    )
    phone_code = models.PositiveSmallIntegerField(_("telephone area code"), null=True, blank=True)
    valid_from = models.DateField(_("valid from"), default=STRUCTURE_2025_VALID_FROM)
    valid_to = models.DateField(_("valid to"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=120, blank=True)

    objects = UnitQuerySet.as_manager()

    class Meta:
        verbose_name = _("administrative unit")
        verbose_name_plural = _("administrative units")
        ordering = ["level", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["level", "code"],
                condition=Q(valid_to__isnull=True),
                name="directory_unit_one_open_version",
            ),
            models.UniqueConstraint(
                fields=["level", "code", "valid_from"], name="directory_unit_version"
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")),
                name="directory_unit_validity_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.search_name = fold(f"{self.name} {self.codename.replace('_', ' ')}")
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        """The name with its division type, as written in legal texts: "Tỉnh Đắk Lắk".

        The statistics data names centrally governed cities and communes with
        their type ("Thành phố Hà Nội", "Xã Lâm Bình") but provinces without it.
        """
        division = self.division_type.removesuffix(" trung ương")
        if not division or fold(self.name).startswith(fold(division) + " "):
            return self.name
        return f"{division[:1].upper()}{division[1:]} {self.name}"

    @property
    def is_current(self) -> bool:
        return self.in_force_on(timezone.localdate())

    def in_force_on(self, day: dt.date) -> bool:
        """As ``UnitQuerySet.valid_on`` tells it in SQL."""
        return self.valid_from <= day and (self.valid_to is None or self.valid_to >= day)


class Node(models.Model):
    """A deployment of Liên Thông run by one organisation (DESIGN.md, "Shape of the system")."""

    class Role(models.TextChoices):
        CENTRAL = "central", _("Central")
        PROVINCIAL = "provincial", _("Provincial")
        SECTOR = "sector", _("Sector")

    identifier = models.CharField(_("identifier"), max_length=120, unique=True)
    name = models.CharField(_("name"), max_length=200)
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    base_url = models.URLField(_("base URL"), blank=True)
    exchange_url = models.URLField(
        _("exchange URL (mutual TLS)"),
        blank=True,
        help_text=_(
            "Where other nodes deliver envelopes and queries, over mutual TLS "
            "(https://…:port). Empty: the base URL."
        ),
    )
    tls_certificate_sha256 = models.CharField(
        _("TLS certificate (SHA-256)"),
        max_length=64,
        blank=True,
        help_text=_("Fingerprint of the certificate the node presents; other nodes pin it."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("node")
        verbose_name_plural = _("nodes")
        ordering = ["identifier"]

    def __str__(self) -> str:
        return self.name

    @property
    def exchange_endpoint(self) -> str:
        """The URL other nodes reach this node's exchange at (no trailing slash)."""
        return (self.exchange_url or self.base_url).rstrip("/")


class AgencyKind(models.TextChoices):
    MINISTRY = "ministry", _("Ministry")
    MINISTRY_LEVEL = "ministry_level", _("Ministry-level agency")
    PROVINCIAL_COMMITTEE = "provincial_committee", _("Provincial People's Committee")
    DEPARTMENT = "department", _("Provincial department")
    COMMUNE_COMMITTEE = "commune_committee", _("Commune People's Committee")


class Agency(models.Model):
    """A state agency with its electronic identifier (Decision 20/2020/QĐ-TTg)."""

    identifier = models.CharField(
        _("electronic identifier"),
        max_length=MAX_LENGTH,
        unique=True,
        validators=[validate_identifier],
    )
    identifier_generated = models.BooleanField(
        _("identifier generated"),
        default=False,
        help_text=_(
            "Set when no official identifier is known and one was generated (docs/identifiers.md)."
        ),
    )
    reference_key = models.CharField(
        _("reference key"),
        max_length=60,
        unique=True,
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "Which agency of the reference data this is; empty for agencies added by hand."
        ),
    )
    name = models.CharField(_("name"), max_length=255)
    kind = models.CharField(_("kind"), max_length=30, choices=AgencyKind.choices)
    search_name = models.CharField(max_length=510, db_index=True, editable=False)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent agency"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
    )
    unit = models.ForeignKey(
        AdministrativeUnit,
        verbose_name=_("administrative unit"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="agencies",
    )
    node = models.ForeignKey(
        Node,
        verbose_name=_("hosting node"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="agencies",
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("agency")
        verbose_name_plural = _("agencies")
        ordering = ["identifier"]

    def __str__(self) -> str:
        return f"{self.name} ({self.identifier})"

    def save(self, *args, **kwargs) -> None:
        self.search_name = fold(f"{self.name} {self.identifier}")
        super().save(*args, **kwargs)


postal_code_validator = RegexValidator(
    r"^[0-9]{5}$",
    message=_("A postal code has exactly 5 digits."),
    code="postal_code_format",
)


class PostalCode(models.Model):
    """A national postal code (mã bưu chính) assigned to an administrative unit."""

    code = models.CharField(_("postal code"), max_length=5, validators=[postal_code_validator])
    unit = models.ForeignKey(
        AdministrativeUnit,
        verbose_name=_("administrative unit"),
        on_delete=models.PROTECT,
        related_name="postal_codes",
    )
    label = models.CharField(_("assigned to"), max_length=255, blank=True)
    source = models.CharField(_("source"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("postal code")
        verbose_name_plural = _("postal codes")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["code", "unit"], name="directory_postal_code_unit"),
        ]

    def __str__(self) -> str:
        return f"{self.code} — {self.unit}"


class DirectoryAnchor(models.Model):
    """Where this node fetches signed directory snapshots, and who must have signed them."""

    url = models.URLField(_("snapshot address"), max_length=300)
    authority = models.CharField(_("directory authority (agency)"), max_length=MAX_LENGTH)
    roots = models.JSONField(
        _("root fingerprints"),
        default=list,
        blank=True,
        help_text=_("SHA-256 fingerprints of the roots the authority's certificate must lead to."),
    )
    joined_at = models.DateTimeField(_("joined at"), auto_now_add=True)

    class Meta:
        verbose_name = _("directory anchor")
        verbose_name_plural = _("directory anchors")

    def __str__(self) -> str:
        return f"{self.authority} @ {self.url}"


class Snapshot(models.Model):
    """A signed directory snapshot: published here (the authority) or applied here (a follower)."""

    serial = models.PositiveBigIntegerField(_("serial"))
    issued_at = models.DateTimeField(_("issued at"))
    valid_until = models.DateTimeField(_("valid until"))
    token = models.TextField(_("signed snapshot (JWS)"))
    published = models.BooleanField(_("published by this node"), default=False)
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("directory snapshot")
        verbose_name_plural = _("directory snapshots")
        ordering = ["-serial"]
        constraints = [
            models.UniqueConstraint(fields=["published", "serial"], name="directory_snapshot_once")
        ]

    def __str__(self) -> str:
        return f"#{self.serial} ({self.issued_at:%Y-%m-%d %H:%M})"
