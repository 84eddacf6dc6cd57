"""The officers' action forms. Each carries the dossier version the officer read,
so that of two officers acting at once only the first changes the dossier."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from lienthong.dossiers.forms import (
    COMMUNE,
    PICK,
    PROVINCE,
    STREET,
    add_address,
    check_address,
    commune_names,
    picking,
    show_communes,
)
from lienthong.dossiers.intake import Applicant
from lienthong.dossiers.models import ResultDelivery
from lienthong.identity import numbers


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
    """The leader's approval, with the result document if there is one, and how it
    is signed: the agency's seal, or the leader's own signature approved on their
    phone, with a one-time code, or — a key at an external signing service that
    authorises by OAuth (CSC ``oauth2code``) — approved at that service."""

    SEAL, PHONE, CODE, SERVICE = "seal", "phone", "code", "service"

    result = forms.FileField(
        label=_("Result document (PDF, optional)"),
        required=False,
        help_text=_(
            "Signed on approval. Empty: the specialist's draft result is signed, if there is one."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,.pdf"}),
    )
    signature = forms.ChoiceField(
        label=_("Sign with"),
        choices=[
            (SEAL, _("The agency's seal")),
            (PHONE, _("My signature, approved on my phone")),
            (CODE, _("My signature, with a one-time code")),
            (SERVICE, _("My signature, approved at the signing service")),
        ],
        required=False,
        initial=SEAL,
        widget=forms.RadioSelect,
    )
    otp = forms.CharField(
        label=_("One-time code (for my signature with a code)"),
        required=False,
        max_length=10,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "size": 8}
        ),
    )
    otp_method = forms.ChoiceField(
        label=_("The code comes from"),
        choices=[("totp", _("My authenticator app")), ("sms", _("An SMS"))],
        required=False,
        initial="totp",
    )

    def clean_signature(self) -> str:
        return self.cleaned_data.get("signature") or self.SEAL

    def offer(self, choices: list[str], *, external: bool = False) -> None:
        """Show only the ways of signing open to this leader (``choices``); with an
        external signing service, which says itself where its codes come from,
        no choice of the code's source."""
        field = self.fields["signature"]
        field.choices = [c for c in field.choices if c[0] in choices]
        if self.CODE not in choices:
            self.fields.pop("otp", None)
        if external or self.CODE not in choices:
            self.fields.pop("otp_method", None)

    def clean(self):
        data = super().clean()
        if data.get("signature") == self.CODE and not (data.get("otp") or "").strip():
            self.add_error("otp", _("Enter the code of your authenticator app or of the SMS."))
        return data


class ProcessForm(ActionForm):
    """The specialist starts processing, with the draft result if it is ready."""

    draft_result = forms.FileField(
        label=_("Draft result (PDF, optional)"),
        required=False,
        help_text=_("The leader signs it on approval; you may attach it later."),
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,.pdf"}),
    )


class DraftForm(ActionForm):
    """The specialist attaches (or replaces) the draft result while processing."""

    draft_result = forms.FileField(
        label=_("Draft result (PDF)"),
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,.pdf"}),
        error_messages={"required": _("Choose the PDF of the draft result.")},
    )


class ReturnForm(ActionForm):
    """The one-stop officer hands the result over: at the counter, or by public post."""

    # Not required: without a choice, the way chosen when the dossier was received.
    delivery = forms.TypedChoiceField(
        label=_("How the result is returned"),
        choices=ResultDelivery.choices,
        coerce=int,
        required=False,
        empty_value=None,
        widget=forms.RadioSelect,
    )
    delivery_address = forms.CharField(
        label=_("Postal address (for a result sent by post)"),
        required=False,
        max_length=400,
        help_text=_("Empty: the address given with the dossier."),
    )


class PaymentForm(ActionForm):
    """The specialist asks for the fee: the catalogue's, or an amount with its reason."""

    note = None  # the reason says it
    amount = forms.IntegerField(
        label=_("Amount (VND)"),
        required=False,
        min_value=1,
        max_value=10**12,
        help_text=_("Empty: the procedure's fee from the catalogue."),
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    reason = forms.CharField(
        label=_("What it is for"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Required with an amount; empty: the fee's description in the catalogue."),
    )

    def clean(self):
        data = super().clean()
        if data.get("amount") and not (data.get("reason") or "").strip():
            self.add_error("reason", _("Say what the amount is for."))
        return data


class PaidForm(ActionForm):
    """The one-stop officer records the fee paid at the counter."""

    receipt = forms.CharField(
        label=_("Receipt number"),
        required=False,
        max_length=100,
        help_text=_("The number of the receipt given to the applicant."),
    )


class CounterForm(forms.Form):
    """Who the paper dossier is for, as the one-stop officer records it from the
    applicant's identity card, and what happens to it now."""

    name = forms.CharField(label=_("Full name"), max_length=255)
    id_number = forms.CharField(
        label=_("Personal ID number (12 digits) or tax code"),
        required=False,
        max_length=14,
        help_text=_("From the citizen identity card; the dossier is linked to their account."),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    phone = forms.CharField(
        label=_("Phone"),
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )
    email = forms.EmailField(label=_("Email"), required=False)
    create_account = forms.BooleanField(
        label=_("Create an account for the applicant (without a password) if they have none"),
        required=False,
    )
    delivery = forms.TypedChoiceField(
        label=_("How the result will be returned"),
        choices=ResultDelivery.choices,
        coerce=int,
        initial=ResultDelivery.COUNTER,
        widget=forms.RadioSelect,
    )
    accept_now = forms.BooleanField(
        label=_("The papers are complete: accept the dossier now"), required=False
    )

    # The applicant's address: the province, then its communes (the dossier form's picker).
    ADDRESS = "address"
    STREET_KEY, PROVINCE_KEY, COMMUNE_KEY = ADDRESS + STREET, ADDRESS + PROVINCE, ADDRESS + COMMUNE
    # How the page groups the inputs: who, where (a fieldset), what happens to the dossier.
    BEFORE_ADDRESS = ("name", "id_number", "phone", "email")
    AFTER_ADDRESS = ("create_account", "delivery")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = add_address(self, self.ADDRESS)
        # After the email, before what happens to the dossier.
        self.order_fields([*self.BEFORE_ADDRESS, *names])

    def address_inputs(self) -> list:
        return [self[name] for name in (self.STREET_KEY, self.PROVINCE_KEY, self.COMMUNE_KEY)]

    def clean_id_number(self) -> str:
        value = self.cleaned_data["id_number"].strip()
        if value and numbers.identifier_kind(value) == "tax_code":
            numbers.validate_tax_code(value)
        elif value:
            numbers.validate_personal_id(value)
        return value

    def clean(self):
        cleaned = super().clean()
        if picking(self.data):
            # "Show its communes" (without JavaScript): not a submission.
            mine = self.add_prefix(self.ADDRESS + PICK) in self.data
            show_communes(self, [self.ADDRESS] if mine else [])
            return cleaned
        if cleaned.get("create_account") and not cleaned.get("id_number"):
            self.add_error("id_number", _("An account needs the personal ID number."))
        check_address(self, self.ADDRESS, cleaned)
        if cleaned.get("delivery") == ResultDelivery.POST and not (
            cleaned.get(self.STREET_KEY) and cleaned.get(self.COMMUNE_KEY)
        ):
            self.add_error(self.STREET_KEY, _("Give the address the result is to be posted to."))
        return cleaned

    def address(self) -> str:
        """The address written out: street, commune, province."""
        street = self.cleaned_data.get(self.STREET_KEY, "")
        commune, province = commune_names(self.cleaned_data.get(self.COMMUNE_KEY) or "")
        return ", ".join(part for part in (street, commune, province) if part)

    def applicant(self) -> Applicant:
        data = self.cleaned_data
        return Applicant(
            name=data["name"].strip(),
            id_number=data.get("id_number", ""),
            phone=data.get("phone", ""),
            email=data.get("email", ""),
            address=self.address(),
        )

    def declaration_defaults(self) -> dict[str, str]:
        """The applicant block of the procedure's form, as recorded here: the officer
        does not type the same details twice."""
        data = self.cleaned_data
        return {
            "applicant_name": data.get("name", ""),
            "applicant_id": data.get("id_number", ""),
            "applicant_phone": data.get("phone", ""),
            "applicant_email": data.get("email", ""),
            "applicant_address" + STREET: data.get(self.STREET_KEY, ""),
            "applicant_address" + PROVINCE: data.get(self.PROVINCE_KEY, ""),
            "applicant_address" + COMMUNE: data.get(self.COMMUNE_KEY, ""),
        }


class RefundedOtherwiseForm(forms.Form):
    """The one-stop officer records money taken twice as given back otherwise than
    through the gateway: a bank transfer, or cash at the counter."""

    reference = forms.CharField(
        label=_("Refund reference"),
        max_length=100,
        help_text=_(
            "The bank transfer's reference, or the number of the receipt signed at the counter."
        ),
    )
    note = forms.CharField(label=_("Note (optional)"), required=False, max_length=500)
