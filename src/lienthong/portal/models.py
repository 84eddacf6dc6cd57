"""What the portal keeps of its own: the citizens' satisfaction ratings."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from lienthong.portal import ratings

# A rating may be changed for this long after it was first given, then it is
# final: the figures an assessor reported for a period do not move afterwards.
EDITABLE_FOR = dt.timedelta(days=7)


class Rating(models.Model):
    """One citizen's satisfaction with the handling of one of their dossiers
    (answers to ``ratings.QUESTIONS``), given once the result is out."""

    dossier = models.ForeignKey(
        "dossiers.Dossier",
        verbose_name=_("dossier"),
        on_delete=models.CASCADE,
        related_name="ratings",
    )
    citizen = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("citizen"),
        on_delete=models.PROTECT,
        related_name="ratings",
    )
    # The agency rated: the one that held the dossier when the result came out.
    # Kept on the rating so that per-agency figures need no join through dossiers.
    agency = models.ForeignKey(
        "directory.Agency",
        verbose_name=_("agency"),
        on_delete=models.PROTECT,
        related_name="ratings",
    )
    answers = models.JSONField(_("answers"), default=dict)
    score = models.PositiveSmallIntegerField(_("score"))
    comment = models.TextField(_("comment"), blank=True, max_length=2000)
    created_at = models.DateTimeField(_("given at"), default=timezone.now)
    updated_at = models.DateTimeField(_("last changed at"), default=timezone.now)

    class Meta:
        verbose_name = _("rating")
        verbose_name_plural = _("ratings")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dossier", "citizen"], name="portal_one_rating_per_dossier_and_citizen"
            )
        ]
        indexes = [models.Index(fields=["agency", "created_at"], name="portal_rating_agency_idx")]

    def __str__(self) -> str:
        return f"{self.dossier_id} {self.score}/{ratings.MAX_SCORE}"

    def is_editable(self, now: dt.datetime | None = None) -> bool:
        """Still open to changes: less than ``EDITABLE_FOR`` since it was first given."""
        return (now or timezone.now()) < self.created_at + EDITABLE_FOR

    @property
    def percent(self) -> int:
        return round(100 * self.score / ratings.MAX_SCORE)


class DeclarationSignature(models.Model):
    """The applicant signed their declaration (``declarations.declaration_pdf``) with
    their own remote signing key (lienthong.signing): the signed PDF is an
    attachment of the dossier, which the agency reads with the others."""

    dossier = models.OneToOneField(
        "dossiers.Dossier",
        verbose_name=_("dossier"),
        on_delete=models.CASCADE,
        related_name="declaration_signature",
    )
    attachment = models.OneToOneField(
        "dossiers.Attachment",
        verbose_name=_("signed declaration"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    signer = models.CharField(_("signed by"), max_length=500)
    certificate_sha256 = models.CharField(_("certificate SHA-256"), max_length=64)
    level = models.CharField(_("PAdES level"), max_length=8)
    signed_at = models.DateTimeField(_("signed at"), default=timezone.now)

    class Meta:
        verbose_name = _("declaration signature")
        verbose_name_plural = _("declaration signatures")

    def __str__(self) -> str:
        return f"{self.dossier_id} {self.signer}"
