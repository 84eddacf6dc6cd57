"""The citizen's forms. The declaration form is built from the procedure's typed
fields; its values are checked by the dossiers intake (``clean_form_data``), so
the errors a citizen reads are the catalogue's own."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

# The dossier form is shared with the back office's counter intake; these names
# stay importable from here.
from lienthong.dossiers.forms import (  # noqa: F401
    APPLICANT_KEYS,
    COMMUNE,
    INPUT_ATTRS,
    STREET,
    DossierForm,
    Entry,
    MultipleFileField,
    MultipleFileInput,
)
from lienthong.dossiers.models import ResultDelivery
from lienthong.portal import ratings


class WithdrawForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    reason = forms.CharField(
        label=_("Reason (optional)"), required=False, max_length=1000, widget=forms.Textarea
    )
    confirm = forms.BooleanField(
        label=_("I understand that a withdrawn dossier cannot be reopened."),
        error_messages={"required": _("Tick the box to confirm the withdrawal.")},
    )


class SupplementForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    files = MultipleFileField(
        label=_("The missing documents"),
        help_text=_("You may choose several files."),
        error_messages={"required": _("Choose at least one file.")},
    )
    note = forms.CharField(label=_("Note (optional)"), required=False, max_length=1000)


class LookupForm(forms.Form):
    code = forms.CharField(label=_("Dossier code"), max_length=60)
    factor = forms.CharField(
        label=_("Phone number or personal ID number given with the dossier"),
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


class RatingForm(forms.Form):
    """The satisfaction questionnaire (``ratings.QUESTIONS``), one radio group per question."""

    comment = forms.CharField(
        label=_("Comment (optional)"), required=False, max_length=2000, widget=forms.Textarea
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        comment = self.fields.pop("comment")
        for number, question in enumerate(ratings.QUESTIONS, start=1):
            self.fields[question.key] = forms.TypedChoiceField(
                label=f"{number}. {question.text}",
                choices=ratings.SCALE,
                coerce=int,
                widget=forms.RadioSelect,
                error_messages={"required": _("Choose an answer.")},
            )
        self.fields["comment"] = comment

    @property
    def questions(self) -> list[forms.BoundField]:
        return [self[key] for key in ratings.KEYS]

    def answers(self) -> dict[str, int]:
        return {key: self.cleaned_data[key] for key in ratings.KEYS}


class DeliveryForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    delivery = forms.TypedChoiceField(
        label=_("How do you want to receive the result?"),
        choices=ResultDelivery.choices,
        coerce=int,
        widget=forms.RadioSelect,
    )
    address = forms.CharField(
        label=_("Address for the post (if different from the one in the dossier)"),
        required=False,
        max_length=400,
        widget=forms.TextInput(attrs={"autocomplete": "street-address"}),
    )


class DeclarationSignForm(forms.Form):
    """Sign one's declaration with one of one's signing keys and a one-time code, or
    (``phone=True``) with an approval on one's paired phone, which needs no code."""

    credential = forms.ChoiceField(label=_("Signing key"))
    otp = forms.CharField(
        label=_("One-time code from your authenticator app"),
        min_length=6,
        max_length=8,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )

    def __init__(self, *args, credentials=(), phone: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["otp"].required = not phone
        self.fields["credential"].choices = [
            (c.credential_id, c.label or c.subject or c.credential_id) for c in credentials
        ]
