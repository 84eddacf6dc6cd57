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
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from lienthong.audit.admin import ADMIN_SOURCE, AuditedModelAdmin
from lienthong.trust import fingerprints, services
from lienthong.trust.models import TrustedCertificate

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
