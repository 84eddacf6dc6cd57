from __future__ import annotations

from django import forms
from django.contrib.auth.password_validation import password_validators_help_text_html
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


class NewPasswordForm(forms.Form):
    """A new password, typed twice; the validators run in the service (they know the user)."""

    new_password1 = forms.CharField(
        label=_("New password"),
        max_length=4096,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    new_password2 = forms.CharField(
        label=_("New password again"),
        max_length=4096,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["new_password1"].help_text = password_validators_help_text_html()

    def clean_new_password2(self):
        first = self.cleaned_data.get("new_password1")
        second = self.cleaned_data["new_password2"]
        if first and first != second:
            raise forms.ValidationError(_("The two passwords are not the same."))
        return second


class PasswordChangeForm(NewPasswordForm):
    current_password = forms.CharField(
        label=_("Current password"),
        max_length=4096,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    field_order = ["current_password", "new_password1", "new_password2"]

    def __init__(self, *args, needs_current: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not needs_current:  # a passkey-only account sets its first password
            del self.fields["current_password"]


class ResetRequestForm(forms.Form):
    identifier = forms.CharField(
        label=_("Personal ID number, tax code, username or email address"),
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )


class ResetFactorsForm(forms.Form):
    reason = forms.CharField(
        label=_("How the holder's identity was checked"),
        help_text=_("For example: identity card checked at the counter, request number."),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
