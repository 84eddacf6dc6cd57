from django import forms
from django.utils.translation import gettext_lazy as _


class CredentialRequestForm(forms.Form):
    label = forms.CharField(
        label=_("Name of the signing key"),
        max_length=200,
        required=False,
        help_text=_("For example: “Personal signature”."),
    )


class TokenForm(forms.Form):
    client_name = forms.CharField(
        label=_("Application"),
        max_length=100,
        help_text=_("The signing application that will use the token."),
    )
