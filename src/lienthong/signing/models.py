"""Remote signing: keys the node holds for its users, and who may use them when.

A ``SigningCredential`` is one user's signing key (ECDSA P-256) with, once a
CA has issued it, the user's certificate. The private key never leaves the
node: it is sealed at rest (lienthong.signing.keys) and used only for hashes
the user authorised one by one, with a fresh second factor or an approval on
their phone — the Cloud Signature Consortium's "sole control" (SCAL 2).

``AccessToken`` lets a signing application call the CSC API for a user;
``SignatureAuthorization`` is the signature activation data (SAD) the
user's authorisation produced: bound to one credential and to the exact
hashes, short-lived and spent by its first use. Tokens and SADs are random
secrets kept only as SHA-256 hashes: the database alone lets nobody use them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class CredentialStatus(models.TextChoices):
    # The key exists and its certificate request waits for a CA.
    AWAITING_CERTIFICATE = "awaiting_certificate", _("Awaiting certificate")
    ACTIVE = "active", _("Active")
    DISABLED = "disabled", _("Disabled")


class SigningCredential(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("holder"),
        on_delete=models.PROTECT,
        related_name="signing_credentials",
    )
    # The CSC credentialID: random, so it tells nothing about who holds it.
    credential_id = models.CharField(_("credential ID"), max_length=64, unique=True)
    label = models.CharField(_("label"), max_length=200, blank=True)
    status = models.CharField(
        _("status"),
        max_length=30,
        choices=CredentialStatus.choices,
        default=CredentialStatus.AWAITING_CERTIFICATE,
    )
    key_algorithm = models.CharField(_("key algorithm"), max_length=20, default="ES256")
    public_key = models.BinaryField(editable=False)  # SubjectPublicKeyInfo, DER
    sealed_private_key = models.BinaryField(editable=False)
    certificate_request = models.BinaryField(editable=False)  # PKCS#10, DER
    certificate = models.BinaryField(null=True, blank=True, editable=False)  # DER
    chain = models.JSONField(default=list, blank=True, editable=False)  # base64 DER, nearest first
    fingerprint_sha256 = models.CharField(
        _("certificate fingerprint (SHA-256)"), max_length=64, blank=True
    )
    subject = models.CharField(_("subject"), max_length=500, blank=True)
    issuer = models.CharField(_("issuer"), max_length=500, blank=True)
    serial_number = models.CharField(_("serial number"), max_length=64, blank=True)
    not_before = models.DateTimeField(_("valid from"), null=True, blank=True)
    not_after = models.DateTimeField(_("valid until"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("signing credential")
        verbose_name_plural = _("signing credentials")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.label or self.credential_id

    def is_usable(self, at=None) -> bool:
        """Active, with a certificate valid now: only then may it be authorised."""
        at = at or timezone.now()
        return (
            self.status == CredentialStatus.ACTIVE
            and self.certificate is not None
            and self.not_before is not None
            and self.not_before <= at < self.not_after
        )


class AccessToken(models.Model):
    """A bearer token for the CSC API, issued to a signed-in user for one application."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="signing_tokens",
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    client_name = models.CharField(_("application"), max_length=100)
    created_at = models.DateTimeField(_("created"))
    expires_at = models.DateTimeField(_("expires"))
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("signing access token")
        verbose_name_plural = _("signing access tokens")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.client_name} · {self.user_id}"

    def is_live(self, at=None) -> bool:
        at = at or timezone.now()
        return self.revoked_at is None and at < self.expires_at


class SignatureAuthorization(models.Model):
    """Signature activation data: these hashes, with this credential, once, soon."""

    class Method(models.TextChoices):
        TOTP = "totp", _("Authenticator app")
        SMS = "sms", _("SMS code")
        APPROVAL = "approval", _("Approval on the phone")

    credential = models.ForeignKey(
        SigningCredential, on_delete=models.CASCADE, related_name="authorizations"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="signature_authorizations"
    )
    sad_hash = models.CharField(max_length=64, unique=True, editable=False)
    # Base64 of each authorised SHA-256 digest, in the order authorised.
    hashes = models.JSONField(default=list)
    method = models.CharField(max_length=20, choices=Method.choices)
    approval_id = models.CharField(max_length=64, blank=True)
    description = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("signature authorisation")
        verbose_name_plural = _("signature authorisations")

    def __str__(self) -> str:
        return f"SAD #{self.pk} · {self.credential_id}"


class PendingSignature(models.Model):
    """A PDF prepared for its holder's signature, waiting for their authorisation.

    The two halves of a remote signature (lienthong.signing.pdf) may run in
    different requests and processes: this row carries what the second half
    needs — pyHanko's output with the signature's place reserved, the byte
    range, the CMS signed attributes, the signer's certificates — sealed at
    rest like the keys (``sealed_state``), bound to this row's other fields,
    and never served. Short-lived and spent by its first use; expired rows are
    deleted by ``lienthong.signing.pdf.sweep_pending``.
    """

    # Random: what a page or an API names the pending signature by.
    reference = models.CharField(max_length=43, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pending_signatures"
    )
    credential_id = models.CharField(max_length=64)
    # Base64 of each SHA-256 digest to authorise (the CMS signed attributes).
    hashes = models.JSONField(default=list)
    document_sha256 = models.CharField(max_length=64)
    document_name = models.CharField(max_length=255, blank=True)
    level = models.CharField(max_length=8)
    # What the caller binds the signature to (e.g. "dossier-result:<id>"), and its own
    # data (e.g. the approval request that authorises it).
    purpose = models.CharField(max_length=100, blank=True)
    context = models.JSONField(default=dict, blank=True)
    sealed_state = models.BinaryField(editable=False)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    consumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("pending signature")
        verbose_name_plural = _("pending signatures")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.purpose or 'PDF'} · {self.document_sha256[:12]}"

    def is_live(self, at=None) -> bool:
        at = at or timezone.now()
        return self.consumed_at is None and at < self.expires_at


class ProviderLink(models.Model):
    """A user's account at the external CSC service (``LIENTHONG_SIGNING_PROVIDER=csc``).

    The access token the service gave for this user — by its OAuth 2.0
    authorization-code flow, or entered once by the user when the service
    hands out tokens itself — and, with OAuth, its refresh token. Both are
    sealed at rest like the keys (lienthong.signing.keys.seal), bound to this
    user and service: copied onto another row they do not open. One live link
    per user and service; unlinking wipes the sealed tokens and keeps the row
    for the record.
    """

    class Method(models.TextChoices):
        OAUTH2 = "oauth2", _("Signed in at the service")
        TOKEN = "token", _("Access token entered")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="signing_provider_links",
    )
    service_url = models.CharField(_("service"), max_length=300)
    method = models.CharField(_("linked by"), max_length=10, choices=Method.choices)
    sealed_access_token = models.BinaryField(editable=False)
    sealed_refresh_token = models.BinaryField(editable=False, blank=True, default=b"")
    # When the access token stops working (None: the service did not say).
    expires_at = models.DateTimeField(_("token expires"), null=True, blank=True)
    created_at = models.DateTimeField(_("linked"))
    refreshed_at = models.DateTimeField(_("refreshed"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("unlinked"), null=True, blank=True)

    class Meta:
        verbose_name = _("signing service link")
        verbose_name_plural = _("signing service links")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "service_url"],
                condition=models.Q(revoked_at__isnull=True),
                name="signing_one_live_link_per_service",
            )
        ]

    def __str__(self) -> str:
        return f"{self.service_url} · {self.user_id}"
