"""Phones paired for approvals, the one-time pairing codes, and approval requests.

A paired phone holds a passkey of its own (not one of the account's sign-in
passkeys, see ``PairedDevice``); an approval request is what the phone shows
and the user approves with that passkey: a sign-in started on a computer, a
signature over named documents, or a sensitive action (step-up).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class PairingCode(models.Model):
    """A one-time invitation to pair a phone, shown on the computer as a QR code
    (a URL holding ``token``) and as a short code to type.

    Only hashes are kept: a copy of the database cannot be used to pair a
    phone with someone's account.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pairing_codes"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    short_code_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("pairing code")
        verbose_name_plural = _("pairing codes")

    def __str__(self) -> str:
        return f"pairing {self.pk} of {self.user_id}"

    def usable(self, at=None) -> bool:
        """Not used yet and still in time."""
        return self.used_at is None and (at or timezone.now()) < self.expires_at


class PairedDevice(models.Model):
    """A phone that approves sign-ins and signatures with its own passkey.

    ``user_handle`` is random and per device: an authenticator keeps one
    discoverable credential per (site, user handle), so sharing the account's
    handle would overwrite a sign-in passkey the phone already holds.
    ``token_hash`` is the hash of the long-lived cookie by which the phone's
    app lists its pending requests; approving still needs the passkey.
    A revoked device is kept (requests it answered point at it) but is dead.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="paired_devices",
    )
    name = models.CharField(_("name"), max_length=100)
    credential_id = models.BinaryField(unique=True, editable=False)
    public_key = models.BinaryField(editable=False)
    sign_count = models.BigIntegerField(default=0, editable=False)
    aaguid = models.CharField(max_length=36, blank=True, editable=False)
    user_handle = models.BinaryField(editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("paired"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("paired phone")
        verbose_name_plural = _("paired phones")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class Kind(models.TextChoices):
    SIGN_IN = "sign_in", _("Sign-in")
    SIGNATURE = "signature", _("Signature")
    # Confirming it is you before a sensitive action (identity's step-up).
    STEP_UP = "step_up", _("Confirmation before a sensitive action")


class State(models.TextChoices):
    PENDING = "pending", _("Waiting for your answer")
    APPROVED = "approved", _("Approved")
    DENIED = "denied", _("Denied")
    EXPIRED = "expired", _("Expired")


class ApprovalRequest(models.Model):
    """Something the user approves on their phone, exactly as ``summary`` shows it.

    The state machine: pending → approved | denied | expired; only a pending
    request changes, so a denial or an expiry is final. An approved request
    is consumed once, by the party that asked (``consumed_at``).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="approval_requests",
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    summary = models.JSONField(_("summary"), default=dict)
    hashes = models.JSONField(_("hashes"), default=list)
    state = models.CharField(
        _("state"), max_length=20, choices=State.choices, default=State.PENDING
    )
    source = models.CharField(max_length=20, default="web")
    requesting_ip = models.GenericIPAddressField(null=True, blank=True)
    requesting_user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    consumed_at = models.DateTimeField(_("consumed"), null=True, blank=True)
    device = models.ForeignKey(
        PairedDevice,
        verbose_name=_("answered by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="answers",
    )

    class Meta:
        verbose_name = _("approval request")
        verbose_name_plural = _("approval requests")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "state", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.pk}"

    def overdue(self, at=None) -> bool:
        """A pending request past its time: it can only expire now."""
        return self.state == State.PENDING and (at or timezone.now()) >= self.expires_at

    def awaiting_answer(self, at=None) -> bool:
        """Pending and within its time: the phone may still approve or deny it."""
        return self.state == State.PENDING and not self.overdue(at)
