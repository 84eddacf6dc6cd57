"""The trust list: roots of both national hierarchies, their intermediates and cross-certificates.

Vietnam has two PKI roots: NEAC's root for the public CAs that certify
citizens and businesses, and the Government Cipher Committee's root for the CA
of state officials. Circular 04/2019/TT-BTTTT set cross-recognition between
them and one trusted-root list holding both; this model is that list.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Hierarchy(models.TextChoices):
    PUBLIC = "public", _("Public (NEAC)")
    GOVERNMENT = "government", _("Government (Government Cipher Committee)")


class CertificateKind(models.TextChoices):
    ROOT = "root", _("Root (trust anchor)")
    INTERMEDIATE = "intermediate", _("Intermediate CA")
    CROSS = "cross", _("Cross-certificate")


class TrustedCertificate(models.Model):
    """One certificate of the trust list. Only enabled roots are trust anchors;
    intermediates and cross-certificates help build paths to them."""

    name = models.CharField(_("name"), max_length=200)
    hierarchy = models.CharField(_("hierarchy"), max_length=20, choices=Hierarchy.choices)
    kind = models.CharField(_("kind"), max_length=20, choices=CertificateKind.choices)
    der = models.BinaryField(_("certificate (DER)"), editable=False)
    fingerprint_sha256 = models.CharField(
        _("SHA-256 fingerprint"), max_length=64, unique=True, editable=False
    )
    subject = models.CharField(_("subject"), max_length=500, editable=False)
    issuer = models.CharField(_("issuer"), max_length=500, editable=False)
    serial_number = models.CharField(_("serial number"), max_length=80, editable=False)
    not_before = models.DateTimeField(_("valid from"), editable=False)
    not_after = models.DateTimeField(_("valid until"), editable=False)
    key_description = models.CharField(_("public key"), max_length=40, editable=False)
    is_enabled = models.BooleanField(_("enabled"), default=True)
    added_at = models.DateTimeField(_("added"), default=timezone.now, editable=False)
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        verbose_name = _("trusted certificate")
        verbose_name_plural = _("trust list")
        ordering = ["hierarchy", "kind", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_hierarchy_display()}, {self.get_kind_display()})"

    @property
    def is_current(self) -> bool:
        now = timezone.now()
        return self.not_before <= now <= self.not_after
