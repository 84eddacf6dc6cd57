"""Who uses the platform and how they prove it.

The login itself stays django.contrib.auth's ``User`` (the admin, sessions
and permissions work unchanged); an ``Account`` beside it says what kind of
person it is and carries the numbers the administration knows them by.
Officers act for agencies through ``OfficerRole`` rows. The second factors —
an authenticator app (TOTP), backup codes, SMS codes and passkeys — each
have their own table; their secrets are sealed or hashed, never stored plain.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from lienthong.directory.models import Agency
from lienthong.identity.numbers import validate_personal_id, validate_tax_code


class AccountKind(models.TextChoices):
    CITIZEN = "citizen", _("Citizen")
    BUSINESS = "business", _("Business")
    OFFICER = "officer", _("Officer")


class Account(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="account",
    )
    kind = models.CharField(_("kind"), max_length=20, choices=AccountKind.choices)
    personal_id = models.CharField(
        _("personal ID number"),
        max_length=12,
        unique=True,
        null=True,
        blank=True,
        validators=[validate_personal_id],
    )
    tax_code = models.CharField(
        _("tax code"),
        max_length=14,
        unique=True,
        null=True,
        blank=True,
        validators=[validate_tax_code],
    )
    display_name = models.CharField(_("display name"), max_length=255)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    email = models.EmailField(_("email"), blank=True)
    # SMS codes are a second factor only once a code sent to ``phone`` came back.
    sms_enabled = models.BooleanField(_("SMS codes enabled"), default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        constraints = [
            # A citizen is known by a personal ID number, a business by a tax code.
            models.CheckConstraint(
                condition=~Q(kind="citizen") | Q(personal_id__isnull=False),
                name="identity_citizen_has_personal_id",
            ),
            models.CheckConstraint(
                condition=~Q(kind="business") | Q(tax_code__isnull=False),
                name="identity_business_has_tax_code",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def must_use_second_factor(self) -> bool:
        """Officers act for the State: a password alone never signs them in."""
        return self.kind == AccountKind.OFFICER


class Role(models.TextChoices):
    ONE_STOP_OFFICER = "one_stop_officer", _("One-stop officer")
    SPECIALIST = "specialist", _("Specialist")
    LEADER = "leader", _("Leader")
    AGENCY_ADMIN = "agency_admin", _("Agency administrator")
    NODE_OPERATOR = "node_operator", _("Node operator")
    ASSESSOR = "assessor", _("Assessor")


class OfficerRole(models.Model):
    """One role one officer holds in one agency; an officer may hold several."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("officer"),
        on_delete=models.CASCADE,
        related_name="officer_roles",
    )
    agency = models.ForeignKey(
        Agency, verbose_name=_("agency"), on_delete=models.PROTECT, related_name="officer_roles"
    )
    role = models.CharField(_("role"), max_length=30, choices=Role.choices)
    granted_at = models.DateTimeField(_("granted"), auto_now_add=True)

    class Meta:
        verbose_name = _("officer role")
        verbose_name_plural = _("officer roles")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "agency", "role"], name="identity_one_role_per_agency"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user.get_username()} · {self.get_role_display()} · {self.agency.identifier}"


class TotpDevice(models.Model):
    """An authenticator app. Its seed is sealed (lienthong.identity.sealing)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="totp_device",
    )
    sealed_secret = models.BinaryField(editable=False)
    confirmed = models.BooleanField(_("confirmed"), default=False)
    # The time step of the last accepted code: a code is accepted once, even
    # within its 30-second window (RFC 6238 §5.2).
    last_used_step = models.BigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("authenticator app")
        verbose_name_plural = _("authenticator apps")

    def __str__(self) -> str:
        return f"TOTP · {self.user.get_username()}"


class BackupCode(models.Model):
    """A single-use recovery code, stored as a password hash."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="backup_codes"
    )
    code_hash = models.CharField(max_length=255)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("backup code")
        verbose_name_plural = _("backup codes")

    def __str__(self) -> str:
        return f"backup code #{self.pk}"


class SmsCode(models.Model):
    """A one-time code sent by SMS: hashed, expiring, accepted once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sms_codes"
    )
    phone = models.CharField(max_length=20)
    code_hash = models.CharField(max_length=255)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("SMS code")
        verbose_name_plural = _("SMS codes")

    def __str__(self) -> str:
        return f"SMS code #{self.pk}"


class Passkey(models.Model):
    """A WebAuthn credential the user registered (phone, laptop, security key)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="passkeys",
    )
    name = models.CharField(_("name"), max_length=100)
    credential_id = models.BinaryField(unique=True, editable=False)
    public_key = models.BinaryField(editable=False)
    sign_count = models.BigIntegerField(default=0, editable=False)
    aaguid = models.CharField(max_length=36, blank=True, editable=False)
    created_at = models.DateTimeField(_("registered"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("passkey")
        verbose_name_plural = _("passkeys")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.name


class WebAuthnUser(models.Model):
    """The random user handle given to authenticators, instead of a guessable id."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webauthn_handle"
    )
    handle = models.BinaryField(unique=True, editable=False)

    def __str__(self) -> str:
        return f"WebAuthn handle of {self.user_id}"


class FailureCounter(models.Model):
    """Failed attempts (or reset requests) for one identifier, user or client address.

    Written only by lienthong.identity.throttle, with one atomic upsert per
    failure, so that every process of the node counts in the same row.
    """

    # A digest of the scope and the subject: what was typed is not kept.
    key = models.CharField(max_length=100, unique=True)
    failures = models.PositiveIntegerField(default=0)
    # Unix seconds: the window opened at the first failure and closes here.
    window_ends = models.BigIntegerField(db_index=True)

    class Meta:
        verbose_name = _("failure counter")
        verbose_name_plural = _("failure counters")

    def __str__(self) -> str:
        return f"{self.key}: {self.failures}"


class SignedInSession(models.Model):
    """Which session keys belong to which user, so that all of a user's sessions
    can be ended at once (their sign-in methods were reset by an operator), and
    listed on "Your sessions" with the browser and address they began from.

    Written at sign-in and when a session's key is rotated; ``last_seen_at``
    follows the session's own idle timer. A row whose session has ended is
    harmless (never listed) and is purged once older than the absolute session
    timeout. The session key never leaves the server: pages name a row by id.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="signed_in_sessions"
    )
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"session of {self.user_id}"
