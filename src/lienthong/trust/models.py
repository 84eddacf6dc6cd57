"""The trust list: roots of both national hierarchies, their intermediates and cross-certificates.

Vietnam has two PKI roots: NEAC's root for the public CAs that certify
citizens and businesses, and the Government Cipher Committee's root for the CA
of state officials. Circular 04/2019/TT-BTTTT set cross-recognition between
them and one trusted-root list holding both; this model is that list.
"""

from __future__ import annotations

import uuid

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
    kind = models.CharField(_("certificate kind"), max_length=20, choices=CertificateKind.choices)
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


class SigningKey(models.Model):
    """A private key the node holds to sign for an agency (or an officer), with its certificate.

    The private key is stored encrypted with the node's key-encryption key
    (lienthong.trust.keystore explains how) and is decrypted in memory only,
    for one signature at a time. Keys are never deleted, only disabled, so
    the audit trail can still say which key signed what.
    """

    name = models.CharField(_("name"), max_length=200)
    agency = models.ForeignKey(
        "directory.Agency",
        verbose_name=_("agency"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="signing_keys",
    )
    # Officers' keys will belong to accounts (the identity app); until then
    # the holder is named in words.
    holder = models.CharField(_("holder"), max_length=200, blank=True)
    certificate = models.BinaryField(_("certificate (DER)"), editable=False)
    # The issuers, nearest first: base64 DER strings, as in a JWS "x5c" header.
    chain = models.JSONField(_("certificate chain"), default=list, editable=False)
    encrypted_private_key = models.BinaryField(_("encrypted private key"), editable=False)
    key_description = models.CharField(_("key"), max_length=40, editable=False)
    fingerprint_sha256 = models.CharField(
        _("certificate SHA-256 fingerprint"), max_length=64, unique=True, editable=False
    )
    subject = models.CharField(_("subject"), max_length=500, editable=False)
    issuer = models.CharField(_("issuer"), max_length=500, editable=False)
    not_before = models.DateTimeField(_("valid from"), editable=False)
    not_after = models.DateTimeField(_("valid until"), editable=False)
    is_enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("imported on"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("signing key")
        verbose_name_plural = _("signing keys")
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_description})"

    @property
    def is_current(self) -> bool:
        now = timezone.now()
        return self.not_before <= now <= self.not_after

    @property
    def is_usable(self) -> bool:
        """Enabled and within the certificate's validity: only such a key signs."""
        return self.is_enabled and self.is_current


class ValidationRecordQuerySet(models.QuerySet):
    def current(self):
        return self.filter(expires_at__gt=timezone.now())


class ValidationRecord(models.Model):
    """A validation report kept for its reader to come back to and download.

    Only the report is kept, never the document: it names the signers, so it
    lives under an unguessable id and is purged after a retention period
    (LIENTHONG_REPORT_RETENTION_DAYS, ``lienthong trust purge-reports``).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(_("validated at"), default=timezone.now, db_index=True)
    expires_at = models.DateTimeField(_("kept until"), db_index=True)
    document_name = models.CharField(_("document"), max_length=255)
    document_sha256 = models.CharField(_("document SHA-256"), max_length=64, db_index=True)
    indication = models.CharField(_("indication"), max_length=20)
    report_data = models.JSONField(_("report"))

    objects = ValidationRecordQuerySet.as_manager()

    class Meta:
        verbose_name = _("validation report")
        verbose_name_plural = _("validation reports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.document_name} — {self.indication}"

    def report(self):
        from lienthong.trust.validation.report import ValidationReport

        return ValidationReport.from_dict(self.report_data)


class RevocationAnswerQuerySet(models.QuerySet):
    def usable(self):
        """Answers still within their own validity (nextUpdate in the future)."""
        return self.filter(next_update__gt=timezone.now())


class RevocationAnswer(models.Model):
    """An OCSP response or CRL fetched during a validation, reused until its nextUpdate.

    Caching them spares the CAs' responders and keeps validation working for a
    while when a responder is unreachable; each answer expires on its own
    schedule, never on ours. Past its nextUpdate an answer is no longer used
    to validate, but it is kept (``LIENTHONG_REVOCATION_KEEP_DAYS``) as the
    proof of what the node knew when it accepted a signed object: the exchange's
    evidence archives carry it (exchange/evidence.py).
    """

    class Kind(models.TextChoices):
        OCSP = "ocsp", "OCSP"
        CRL = "crl", "CRL"

    kind = models.CharField(_("answer type"), max_length=4, choices=Kind.choices)
    der = models.BinaryField(_("response (DER)"))
    digest_sha256 = models.CharField(max_length=64, unique=True)
    issuer = models.CharField(_("issuer"), max_length=500, blank=True)
    this_update = models.DateTimeField(_("this update"))
    next_update = models.DateTimeField(_("next update"), db_index=True)
    fetched_at = models.DateTimeField(_("fetched"), default=timezone.now)
    # What the answer speaks of, so that evidence finds it without reading every
    # answer: an OCSP response's serial numbers (",hex,hex,"); a CRL's issuer
    # name (SHA-256 of its DER).
    serials = models.CharField(max_length=2000, blank=True, default="", editable=False)
    issuer_sha256 = models.CharField(
        max_length=64, blank=True, default="", db_index=True, editable=False
    )

    objects = RevocationAnswerQuerySet.as_manager()

    class Meta:
        verbose_name = _("revocation answer")
        verbose_name_plural = _("revocation answers")
        ordering = ["-fetched_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.issuer} → {self.next_update:%d/%m/%Y %H:%M}"
