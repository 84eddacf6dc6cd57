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


class ProviderTokenForm(forms.Form):
    token = forms.CharField(
        label=_("Access token from the signing service"),
        max_length=4096,
        strip=True,
        help_text=_("The service shows it once, on its own site. It is kept encrypted here."),
    )
