"""The citizen's forms. The declaration form is built from the procedure's typed
fields; its values are checked by the dossiers intake (``clean_form_data``), so
the errors a citizen reads are the catalogue's own."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from lienthong.catalog.models import FieldKind, FormField, Procedure, RequiredDocument
from lienthong.dossiers import attachments
from lienthong.dossiers.intake import always_required, applicant_from_account, clean_form_data
from lienthong.portal import selectors

STREET = "__street"
COMMUNE = "__commune"
# Keys of the seeded applicant block, filled in from the account.
APPLICANT_KEYS = {
    "applicant_name": "name",
    "applicant_id": "id_number",
    "applicant_phone": "phone",
    "applicant_email": "email",
}
INPUT_ATTRS = {
    FieldKind.NUMBER: {"inputmode": "decimal"},
    FieldKind.PERSONAL_ID: {"inputmode": "numeric", "autocomplete": "off"},
    FieldKind.PHONE: {"type": "tel", "autocomplete": "tel"},
    FieldKind.EMAIL: {"type": "email", "autocomplete": "email"},
}


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (Django's documented pattern)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple) and not data:
            data = None
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)]


@dataclass
class Entry:
    """One declared item as the page shows it: a plain field, or an address (a fieldset)."""

    definition: FormField
    names: list[str] = field(default_factory=list)


def _commune_choices() -> list:
    groups: dict[str, list[tuple[str, str]]] = {}
    for commune in selectors.communes():
        groups.setdefault(commune.parent.full_name, []).append((commune.code, commune.full_name))
    return [("", _("— choose —")), *groups.items()]


class DossierForm(forms.Form):
    """The declaration and the documents of one procedure, for one receiving agency."""

    agency = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, procedure: Procedure, user: Any = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.procedure = procedure
        self.entries: list[Entry] = []
        self.documents: list[tuple[RequiredDocument, str]] = []
        applicant = applicant_from_account(user) if user is not None else None
        for definition in procedure.form_fields.all():
            self.entries.append(self._add_field(definition, applicant))
        needed = {d.pk for d in always_required(procedure)}
        for document in procedure.documents.all():
            name = f"document_{document.pk}"
            types = attachments.accepted_types(document)
            self.fields[name] = forms.FileField(
                label=document.localized_name,
                required=document.pk in needed,
                help_text=_("Accepted files: %(types)s.") % {"types": ", ".join(types)},
                widget=forms.ClearableFileInput(attrs={"accept": ",".join(f".{t}" for t in types)}),
            )
            self.documents.append((document, name))

    def _add_field(self, definition: FormField, applicant) -> Entry:
        key = definition.key
        label = definition.localized_label
        entry = Entry(definition)
        if definition.kind == FieldKind.ADDRESS:
            self.fields[key + STREET] = forms.CharField(
                label=_("House number, street"), required=False, max_length=255
            )
            self.fields[key + COMMUNE] = forms.ChoiceField(
                label=_("Commune or ward"), required=False, choices=_commune_choices
            )
            entry.names = [key + STREET, key + COMMUNE]
            return entry
        attrs = dict(INPUT_ATTRS.get(definition.kind, {}))
        if definition.required:
            attrs["aria-required"] = "true"
        help_text = _("Write it as dd/mm/yyyy.") if definition.kind == FieldKind.DATE else ""
        if definition.kind == FieldKind.CHOICE:
            widget: forms.Widget = forms.Select(
                attrs=attrs,
                choices=[("", _("— choose —"))]
                + [(c["value"], definition.choice_label(c["value"])) for c in definition.choices],
            )
        else:
            widget = forms.TextInput(attrs=attrs)
        initial = None
        if applicant is not None and key in APPLICANT_KEYS:
            initial = getattr(applicant, APPLICANT_KEYS[key]) or None
        # Not ``required`` here: the intake says what is missing, in the catalogue's words.
        self.fields[key] = forms.CharField(
            label=label, required=False, widget=widget, help_text=help_text, initial=initial
        )
        entry.names = [key]
        return entry

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for document, name in self.documents:
            upload = cleaned.get(name)
            if upload and attachments.extension(upload.name) not in attachments.accepted_types(
                document
            ):
                self.add_error(
                    name,
                    ValidationError(
                        _("This type of file is not accepted for this document."),
                        code="type_not_accepted",
                    ),
                )
        try:
            cleaned["declaration"] = clean_form_data(self.procedure, self.declaration())
        except ValidationError as exc:
            self.add_declaration_errors(exc)
        return cleaned

    def declaration(self) -> dict[str, Any]:
        """The values as the dossiers service takes them (an address as a mapping)."""
        data: dict[str, Any] = {}
        for entry in self.entries:
            definition = entry.definition
            if definition.kind == FieldKind.ADDRESS:
                street = self.cleaned_data.get(definition.key + STREET, "")
                commune = self.cleaned_data.get(definition.key + COMMUNE, "")
                if street or commune:
                    data[definition.key] = {
                        "street": street,
                        "commune_code": commune,
                        "province_code": _province_code(commune),
                    }
            else:
                value = self.cleaned_data.get(definition.key, "")
                if value:
                    data[definition.key] = value
        return data

    def add_declaration_errors(self, error: ValidationError) -> None:
        """Errors of the intake (keyed by field key) on the inputs that carry them."""
        names = {entry.definition.key: entry.names[0] for entry in self.entries}
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for key, errors in error.error_dict.items():
            self.add_error(names.get(key), errors)

    def documents_by_id(self) -> dict[int, list[Any]]:
        return {
            document.pk: [self.cleaned_data[name]]
            for document, name in self.documents
            if self.cleaned_data.get(name)
        }

    def declared(self) -> list[tuple[FormField, list[forms.BoundField]]]:
        """Each declared item with its inputs, in the procedure's order."""
        return [(entry.definition, [self[name] for name in entry.names]) for entry in self.entries]

    def document_inputs(self) -> list[forms.BoundField]:
        return [self[name] for _document, name in self.documents]

    def document_field(self, document_id: int) -> str | None:
        return next((name for d, name in self.documents if d.pk == document_id), None)


def _province_code(commune_code: str) -> str:
    if not commune_code:
        return ""
    commune = selectors.communes().filter(code=commune_code).first()
    return commune.parent.code if commune and commune.parent else ""


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
