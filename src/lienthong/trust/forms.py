from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


def _limited(upload):
    if upload and upload.size > settings.TRUST_MAX_DOCUMENT_BYTES:
        raise ValidationError(
            _("The file is larger than %(limit)d MB."),
            code="too_large",
            params={"limit": settings.TRUST_MAX_DOCUMENT_BYTES // (1024 * 1024)},
        )
    return upload


class ValidationForm(forms.Form):
    document = forms.FileField(
        label=_("Signed file"),
        help_text=_(
            "A signed PDF, a signed XML file, a CMS/CAdES signature (.p7s), "
            "or a JWS-signed exchange envelope (.jws, .json)."
        ),
    )
    signed_data = forms.FileField(
        label=_("Signed data (only for a detached .p7s signature)"),
        required=False,
    )

    def clean_document(self):
        return _limited(self.cleaned_data["document"])

    def clean_signed_data(self):
        return _limited(self.cleaned_data.get("signed_data"))
