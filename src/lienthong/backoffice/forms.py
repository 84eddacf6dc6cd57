"""The officers' action forms. Each carries the dossier version the officer read,
so that of two officers acting at once only the first changes the dossier."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class ActionForm(forms.Form):
    """A move that needs nothing but the officer's decision (and an optional note)."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    note = forms.CharField(
        label=_("Note (optional)"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class ReasonForm(forms.Form):
    """A move the applicant must be told the reason for (rejection, supplement, stop)."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    reason = forms.CharField(
        label=_("Reason"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": _("Give the reason for this decision.")},
    )


class ApproveForm(ActionForm):
    """The leader's approval, with the result document if there is one."""

    result = forms.FileField(
        label=_("Result document (PDF, optional)"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,.pdf"}),
    )
