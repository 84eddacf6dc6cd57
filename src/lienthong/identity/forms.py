from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class SignInForm(forms.Form):
    identifier = forms.CharField(
        label=_("Personal ID number, tax code or username"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )
    password = forms.CharField(
        label=_("Password"),
        max_length=4096,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code"),
        max_length=20,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autocapitalize": "none",
            }
        ),
    )


class SecondFactorForm(CodeForm):
    method = forms.ChoiceField(
        label=_("Verify with"),
        choices=[
            ("totp", _("Authenticator app code")),
            ("sms", _("Code sent by SMS")),
            ("backup_code", _("Backup code")),
        ],
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, methods: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["method"]
        field.choices = [c for c in field.choices if c[0] in methods]
        if field.choices:
            field.initial = field.choices[0][0]


class PasskeyNameForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
