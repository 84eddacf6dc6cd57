"""The trust list in the Django admin, for node operators. Every change is audited.

A certificate is added by uploading its file, never by typing its facts:
subject, validity, key and fingerprint are read from the certificate by
``services.add_certificate`` and shown read-only. Enabling and disabling go
through ``services.set_enabled``; name and notes are ordinary audited edits.
Certificates are not deleted, only disabled, so the list keeps its history.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.validators import FileExtensionValidator
from django.db import transaction
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from lienthong.audit.admin import ADMIN_SOURCE, AuditedModelAdmin
from lienthong.trust import fingerprints, keystore, services
from lienthong.trust.models import SigningKey, TrustedCertificate

CERTIFICATE_EXTENSIONS = ["pem", "cer", "crt", "der"]


class CertificateUploadForm(forms.ModelForm):
    """Add form: the certificate file and what the certificate cannot say about itself."""

    certificate = forms.FileField(
        label=_("certificate file"),
        help_text=_("PEM or DER (.pem, .cer, .crt, .der), one certificate, at most 64 KiB."),
        validators=[FileExtensionValidator(CERTIFICATE_EXTENSIONS)],
        widget=forms.FileInput(attrs={"accept": ",".join(f".{e}" for e in CERTIFICATE_EXTENSIONS)}),
    )

    class Meta:
        model = TrustedCertificate
        fields = ["hierarchy", "kind", "name", "notes"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.certificate_data: bytes | None = None
        self.fields["name"].required = False
        self.fields["name"].help_text = _("Leave empty to use the certificate's common name (CN).")

    def clean_certificate(self):
        upload = self.cleaned_data["certificate"]
        # Checked before reading, so an oversized upload is never loaded whole.
        if upload.size > services.MAX_CERTIFICATE_BYTES:
            raise ValidationError(
                _("The file is too large for a certificate (at most 64 KiB)."), code="too_large"
            )
        self.certificate_data = upload.read()
        return upload

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if self.certificate_data is not None and kind:
            try:
                services.examine(data=self.certificate_data, kind=kind)
            except services.CertificateRefused as exc:
                self.add_error("certificate", ValidationError(exc.message(), code=exc.code))
        return cleaned


class ValidityFilter(admin.SimpleListFilter):
    title = _("validity")
    parameter_name = "validity"

    def lookups(self, request, model_admin):
        return [
            ("current", _("valid now")),
            ("expired", _("expired")),
            ("future", _("not yet valid")),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        match self.value():
            case "current":
                return queryset.filter(not_before__lte=now, not_after__gte=now)
            case "expired":
                return queryset.filter(not_after__lt=now)
            case "future":
                return queryset.filter(not_before__gt=now)
        return queryset


@admin.register(TrustedCertificate)
class TrustedCertificateAdmin(AuditedModelAdmin):
    add_form = CertificateUploadForm
    add_fieldsets = [(None, {"fields": ["certificate", "hierarchy", "kind", "name", "notes"]})]
    fieldsets = [
        (None, {"fields": ["name", "is_enabled", "notes"]}),
        (
            _("Certificate"),
            {
                "fields": [
                    "hierarchy",
                    "kind",
                    "subject",
                    "issuer",
                    "serial_number",
                    "not_before",
                    "not_after",
                    "key_description",
                    "fingerprint",
                    "added_at",
                ]
            },
        ),
    ]
    change_readonly_fields = [
        "hierarchy",
        "kind",
        "subject",
        "issuer",
        "serial_number",
        "not_before",
        "not_after",
        "key_description",
        "fingerprint",
        "added_at",
    ]
    list_display = [
        "name",
        "hierarchy",
        "kind",
        "is_enabled",
        "not_before",
        "not_after",
        "short_fingerprint",
    ]
    list_filter = ["hierarchy", "kind", "is_enabled", ValidityFilter]
    search_fields = ["name", "subject", "issuer", "serial_number", "fingerprint_sha256"]
    actions = ["disable_selected", "enable_selected"]

    # --- forms ---

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.change_readonly_fields

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, **kwargs)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("SHA-256 fingerprint"))
    def fingerprint(self, obj: TrustedCertificate) -> str:
        return fingerprints.display(obj.fingerprint_sha256)

    @admin.display(description=_("fingerprint"), ordering="fingerprint_sha256")
    def short_fingerprint(self, obj: TrustedCertificate) -> str:
        return fingerprints.short(obj.fingerprint_sha256)

    # --- writes ---

    def save_model(self, request, obj, form, change):
        if not change:
            added = services.add_certificate(
                actor=request.user,
                data=form.certificate_data,
                hierarchy=obj.hierarchy,
                kind=obj.kind,
                name=obj.name,
                notes=obj.notes,
                source=ADMIN_SOURCE,
            )
            # The admin goes on with ``obj`` (messages, log entry, redirect).
            for field in added._meta.concrete_fields:
                setattr(obj, field.attname, getattr(added, field.attname))
            obj._state.adding = False
            return
        wanted = obj.is_enabled
        with transaction.atomic():
            if set(form.changed_data) - {"is_enabled"}:
                # Name and notes are recorded by AuditedModelAdmin; the switch
                # by set_enabled, so that it reads the same from every door.
                obj.is_enabled = form.initial["is_enabled"]
                super().save_model(request, obj, form, change)
            services.set_enabled(
                actor=request.user, trusted=obj, enabled=wanted, source=ADMIN_SOURCE
            )

    @admin.action(description=_("Disable selected certificates"), permissions=["change"])
    def disable_selected(self, request, queryset):
        self._switch(request, queryset, enabled=False)

    @admin.action(description=_("Enable selected certificates"), permissions=["change"])
    def enable_selected(self, request, queryset):
        self._switch(request, queryset, enabled=True)

    def _switch(self, request, queryset, *, enabled: bool) -> None:
        changed = 0
        with transaction.atomic():
            for trusted in queryset:
                if trusted.is_enabled != enabled:
                    services.set_enabled(
                        actor=request.user, trusted=trusted, enabled=enabled, source=ADMIN_SOURCE
                    )
                    changed += 1
        if enabled:
            message = ngettext(
                "%(count)d certificate enabled.", "%(count)d certificates enabled.", changed
            )
        else:
            message = ngettext(
                "%(count)d certificate disabled.", "%(count)d certificates disabled.", changed
            )
        self.message_user(request, message % {"count": changed}, messages.SUCCESS)


# --- Signing keys ---------------------------------------------------------------
# A key is added by uploading its PKCS#12 file with the passphrase, which goes
# straight to keystore.import_pkcs12 and is never shown again (not even
# after a refusal) nor kept. The key itself never appears: only its
# certificate's facts do.

PKCS12_EXTENSIONS = ["p12", "pfx"]


class SigningKeyImportForm(forms.ModelForm):
    """Add form: the PKCS#12 file, its passphrase, and who the key signs for."""

    pkcs12 = forms.FileField(
        label=_("PKCS#12 file"),
        help_text=_("The key and its certificates (.p12, .pfx), at most 256 KiB."),
        validators=[FileExtensionValidator(PKCS12_EXTENSIONS)],
        widget=forms.FileInput(attrs={"accept": ",".join(f".{e}" for e in PKCS12_EXTENSIONS)}),
    )
    passphrase = forms.CharField(
        label=_("passphrase"),
        strip=False,
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("Used once to open the file; the node keeps the key under its own encryption."),
    )

    class Meta:
        model = SigningKey
        fields = ["name", "agency", "holder"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pkcs12_data: bytes | None = None
        self.fields["name"].required = False
        self.fields["name"].help_text = _("Leave empty to use the certificate's common name (CN).")

    def clean_pkcs12(self):
        upload = self.cleaned_data["pkcs12"]
        if upload.size > keystore.MAX_KEY_FILE_BYTES:
            raise ValidationError(
                _("The file is too large for a key and its certificates (at most 256 KiB)."),
                code="too_large",
            )
        self.pkcs12_data = upload.read()
        return upload

    @sensitive_variables("passphrase")
    def clean(self):
        cleaned = super().clean()
        passphrase = cleaned.get("passphrase", "")
        if self.pkcs12_data is not None:
            try:
                keystore.check_pkcs12(data=self.pkcs12_data, passphrase=passphrase.encode())
            except keystore.KeyRefused as exc:
                field = "passphrase" if "passphrase" in exc.code else "pkcs12"
                self.add_error(field, ValidationError(exc.message(), code=exc.code))
        return cleaned


@admin.register(SigningKey)
class SigningKeyAdmin(AuditedModelAdmin):
    add_form = SigningKeyImportForm
    add_fieldsets = [(None, {"fields": ["pkcs12", "passphrase", "name", "agency", "holder"]})]
    certificate_fields = [
        "subject",
        "issuer",
        "key_description",
        "not_before",
        "not_after",
        "fingerprint",
        "chain_subjects",
        "created_at",
    ]
    fieldsets = [
        (None, {"fields": ["name", "agency", "holder", "is_enabled"]}),
        (_("Certificate"), {"fields": certificate_fields}),
    ]
    list_display = [
        "name",
        "agency",
        "holder",
        "key_description",
        "is_enabled",
        "not_after",
        "short_fingerprint",
    ]
    list_filter = ["is_enabled", ValidityFilter]
    list_select_related = ["agency"]
    search_fields = ["name", "holder", "subject", "fingerprint_sha256", "agency__identifier"]
    autocomplete_fields = ["agency"]
    actions = ["disable_selected", "enable_selected"]

    # --- forms ---

    @method_decorator(sensitive_post_parameters("passphrase"))
    def add_view(self, request, form_url="", extra_context=None):
        return super().add_view(request, form_url, extra_context)

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.certificate_fields

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, **kwargs)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("SHA-256 fingerprint"))
    def fingerprint(self, obj: SigningKey) -> str:
        return fingerprints.display(obj.fingerprint_sha256)

    @admin.display(description=_("fingerprint"), ordering="fingerprint_sha256")
    def short_fingerprint(self, obj: SigningKey) -> str:
        return fingerprints.short(obj.fingerprint_sha256)

    @admin.display(description=_("issuers"))
    def chain_subjects(self, obj: SigningKey) -> str:
        return " → ".join(c.subject.rfc4514_string() for c in keystore.chain(obj)) or "-"

    # --- writes ---

    def save_model(self, request, obj, form, change):
        if not change:
            imported = keystore.import_pkcs12(
                actor=request.user,
                data=form.pkcs12_data,
                passphrase=form.cleaned_data.get("passphrase", "").encode(),
                name=obj.name,
                agency=obj.agency,
                holder=obj.holder,
                source=ADMIN_SOURCE,
            )
            for field in imported._meta.concrete_fields:
                setattr(obj, field.attname, getattr(imported, field.attname))
            obj._state.adding = False
            return
        wanted = obj.is_enabled
        with transaction.atomic():
            if set(form.changed_data) - {"is_enabled"}:
                obj.is_enabled = form.initial["is_enabled"]
                super().save_model(request, obj, form, change)
            keystore.set_enabled(actor=request.user, key=obj, enabled=wanted, source=ADMIN_SOURCE)

    @admin.action(description=_("Disable selected keys"), permissions=["change"])
    def disable_selected(self, request, queryset):
        self._switch(request, queryset, enabled=False)

    @admin.action(description=_("Enable selected keys"), permissions=["change"])
    def enable_selected(self, request, queryset):
        self._switch(request, queryset, enabled=True)

    def _switch(self, request, queryset, *, enabled: bool) -> None:
        changed = 0
        with transaction.atomic():
            for key in queryset:
                if key.is_enabled != enabled:
                    keystore.set_enabled(
                        actor=request.user, key=key, enabled=enabled, source=ADMIN_SOURCE
                    )
                    changed += 1
        if enabled:
            message = ngettext("%(count)d key enabled.", "%(count)d keys enabled.", changed)
        else:
            message = ngettext("%(count)d key disabled.", "%(count)d keys disabled.", changed)
        self.message_user(request, message % {"count": changed}, messages.SUCCESS)
