"""The dossier form, built from a procedure's typed fields and required documents.

One form for every channel: the citizen's online submission (portal) and the
one-stop officer's counter intake (back office) show the same inputs, and
their values are checked by the dossiers intake (``clean_form_data``), so the
errors the citizen or the officer reads are the catalogue's own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Count, Max, QuerySet
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from lienthong.catalog.models import FieldKind, FormField, Procedure, RequiredDocument
from lienthong.directory.models import AdministrativeUnit, UnitLevel
from lienthong.dossiers import attachments
from lienthong.dossiers.intake import (
    Applicant,
    always_required,
    applicant_from_account,
    clean_form_data,
)

STREET = "__street"
COMMUNE = "__commune"
# Keys of the seeded applicant block, filled in from the account (or the counter's record).
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


def communes() -> QuerySet[AdministrativeUnit]:
    """Every commune in force, by province, for an address."""
    return (
        AdministrativeUnit.objects.current()
        .filter(level=UnitLevel.COMMUNE)
        .select_related("parent")
        .order_by("parent__name", "name")
    )


# The choices of an address's commune, built once per process and language:
# 3,321 communes cost a quarter of a second to read and name, on every form.
# Kept while the units' count and newest row are the same, and five minutes at most.
_COMMUNE_CHOICES: dict[str, tuple[tuple[int, int | None], float, list]] = {}
_COMMUNE_CHOICES_SECONDS = 300


def commune_choices() -> list:
    stamp = AdministrativeUnit.objects.aggregate(n=Count("pk"), last=Max("pk"))
    key = (stamp["n"], stamp["last"])
    language = get_language() or ""
    kept = _COMMUNE_CHOICES.get(language)
    if kept and kept[0] == key and time.monotonic() - kept[1] < _COMMUNE_CHOICES_SECONDS:
        return kept[2]
    groups: dict[str, list[tuple[str, str]]] = {}
    for commune in communes():
        groups.setdefault(commune.parent.full_name, []).append((commune.code, commune.full_name))
    choices = [("", _("— choose —")), *groups.items()]
    _COMMUNE_CHOICES[language] = (key, time.monotonic(), choices)
    return choices


class DossierForm(forms.Form):
    """The declaration and the documents of one procedure, for one receiving agency.

    ``user`` (the signed-in applicant) or ``applicant`` (whom the officer takes
    the dossier for at the counter) fills in the seeded applicant block."""

    agency = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(
        self,
        *args,
        procedure: Procedure,
        user: Any = None,
        applicant: Applicant | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.procedure = procedure
        self.entries: list[Entry] = []
        self.documents: list[tuple[RequiredDocument, str]] = []
        if applicant is None and user is not None:
            applicant = applicant_from_account(user)
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

    def _add_field(self, definition: FormField, applicant: Applicant | None) -> Entry:
        key = definition.key
        label = definition.localized_label
        entry = Entry(definition)
        if definition.kind == FieldKind.ADDRESS:
            self.fields[key + STREET] = forms.CharField(
                label=_("House number, street"), required=False, max_length=255
            )
            self.fields[key + COMMUNE] = forms.ChoiceField(
                label=_("Commune or ward"), required=False, choices=commune_choices
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

    def add_service_error(self, error: Any) -> None:
        """A refusal of the dossiers service (missing documents, a refused file) on
        the inputs it concerns, or on the whole form."""
        missing = (getattr(error, "details", None) or {}).get("documents") or []
        for document_id in missing:
            self.add_error(self.document_field(document_id), error.message)
        if not missing:
            self.add_error(None, error.message)

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
    commune = communes().filter(code=commune_code).first()
    return commune.parent.code if commune and commune.parent else ""
