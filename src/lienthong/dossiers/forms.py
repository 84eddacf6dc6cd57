"""The dossier form, built from a procedure's typed fields and required documents.

One form for every channel: the citizen's online submission (portal) and the
one-stop officer's counter intake (back office) show the same inputs, and
their values are checked by the dossiers intake (``clean_form_data``), so the
errors the citizen or the officer reads are the catalogue's own.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.db.models.signals import post_delete, post_save
from django.urls import reverse
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
PROVINCE = "__province"
COMMUNE = "__commune"
# The button that asks for the communes of the chosen province (without JavaScript).
PICK = "__pick"
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


# The communes of an address, read once per process: 3,321 of them cost a
# quarter of a second to read and name, on every form. Kept five minutes at most,
# and forgotten at once when this process changes a unit (the directory's import
# in another process is seen within those five minutes); the intake checks the
# address against the directory again on every submission (Address.validate).
_COMMUNES_SECONDS = 300
_communes_kept: dict[str, tuple[float, Any]] = {}


def _kept(key: str, build: Callable[[], Any]) -> Any:
    kept = _communes_kept.get(key)
    if kept and time.monotonic() - kept[0] < _COMMUNES_SECONDS:
        return kept[1]
    value = build()
    _communes_kept[key] = (time.monotonic(), value)
    return value


def _commune_index() -> dict[str, str]:
    """Each commune's code -> its province's code (the communes in force)."""
    return _kept("index", lambda: dict(communes().values_list("code", "parent__code")))


def _by_province() -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """Province code -> (its name, [(commune code, commune name)]), by name, in the
    active language."""

    def build() -> dict[str, tuple[str, list[tuple[str, str]]]]:
        table: dict[str, tuple[str, list[tuple[str, str]]]] = {}
        for commune in communes():
            province = commune.parent
            table.setdefault(province.code, (province.full_name, []))[1].append(
                (commune.code, commune.full_name)
            )
        return table

    return _kept("table:" + (get_language() or ""), build)


def province_choices() -> list:
    return [("", _("— choose —")), *((code, row[0]) for code, row in _by_province().items())]


def communes_of(province_code: str) -> list:
    """The commune choices of an address in ``province_code``: a hundred or so, not
    the country's 3,321; none before a province is chosen."""
    found = _by_province().get(province_code or "")
    if found is None:
        return [("", _("— choose the province first —"))]
    return [("", _("— choose —")), *found[1]]


def forget_communes(**_kwargs: Any) -> None:
    _communes_kept.clear()


post_save.connect(forget_communes, sender=AdministrativeUnit, dispatch_uid="dossiers.communes")
post_delete.connect(forget_communes, sender=AdministrativeUnit, dispatch_uid="dossiers.communes")


class CommuneField(forms.ChoiceField):
    """The commune of an address: any commune in force, checked by look-up (the
    list shown holds the chosen province's communes only; ``DossierForm.clean``
    checks that the two agree)."""

    def valid_value(self, value: Any) -> bool:
        return str(value) in _commune_index()


class ProvinceSelect(forms.Select):
    """The province of an address, then its communes. Without JavaScript the button
    next to it sends the form back with the commune list of that province (the
    dossier is not submitted); with htmx, choosing a province replaces the commune
    list at once (``portal:communes``)."""

    template_name = "dossiers/widgets/province_select.html"

    def get_context(self, name: str, value: Any, attrs: dict | None) -> dict:
        context = super().get_context(name, value, attrs)
        context["widget"]["pick_name"] = name.removesuffix(PROVINCE) + PICK
        return context


def add_address(form: forms.Form, key: str) -> list[str]:
    """Add the inputs of the address ``key`` to ``form``: the street, the province,
    then that province's communes (the picker). The province's list replaces the
    commune list through ``portal:communes`` with htmx, or through its button
    without JavaScript. The dossier form and the counter's applicant form both
    use it; the names end in ``STREET``, ``PROVINCE`` and ``COMMUNE``, as the
    picker's endpoint expects. Returns the inputs' names."""
    form.fields[key + STREET] = forms.CharField(
        label=_("House number, street"), required=False, max_length=255
    )
    commune_name = form.add_prefix(key + COMMUNE)
    province_name = form.add_prefix(key + PROVINCE)
    source = form.data if form.is_bound else form.initial
    commune = source.get(commune_name if form.is_bound else key + COMMUNE) or ""
    province = source.get(province_name if form.is_bound else key + PROVINCE) or ""
    province = province or _commune_index().get(str(commune), "")
    form.fields[key + PROVINCE] = forms.ChoiceField(
        label=_("Province or city"),
        required=False,
        choices=province_choices,
        initial=province or None,
        widget=ProvinceSelect(
            attrs={
                "hx-get": reverse("portal:communes"),
                "hx-trigger": "change",
                "hx-target": "#" + (form.auto_id or "id_%s") % commune_name,
                "hx-swap": "outerHTML",
                "hx-vals": json.dumps({"commune": commune_name}),
            }
        ),
    )
    # Callables: the lists are built when the form is shown, not to check a POST.
    form.fields[key + COMMUNE] = CommuneField(
        label=_("Commune or ward"),
        required=False,
        choices=functools.partial(communes_of, str(province)),
    )
    return [key + STREET, key + PROVINCE, key + COMMUNE]


def picking(data: Any) -> bool:
    """Whether the POST is a "Show its communes" button of any address of the page
    (without JavaScript): not a submission, only the form back with the communes."""
    return any(str(name).endswith(PICK) for name in (data or {}))


def check_address(form: forms.Form, key: str, cleaned: dict[str, Any]) -> None:
    """A commune chosen must be in the province chosen (when one is)."""
    commune = cleaned.get(key + COMMUNE) or ""
    province = cleaned.get(key + PROVINCE) or ""
    if commune and province and _commune_index().get(commune) != province:
        form.add_error(
            key + COMMUNE,
            ValidationError(
                _("This commune or ward is not in the chosen province or city."),
                code="commune_not_in_province",
            ),
        )


def show_communes(form: forms.Form, keys: list[str]) -> None:
    """The form comes back with the communes of the province chosen for each
    address in ``keys``; nothing else is judged yet."""
    form._errors.clear()
    for key in keys:
        form.add_error(
            key + COMMUNE,
            ValidationError(
                _("Now choose the commune or ward in the list of this province."),
                code="choose_commune",
            ),
        )


def commune_names(code: str) -> tuple[str, str]:
    """A commune's full name and its province's, for an address written out."""
    row = _by_province().get(_commune_index().get(code or "", ""))
    if row is None:
        return "", ""
    return next((name for found, name in row[1] if found == code), ""), row[0]


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
        self._ask_files_again()

    def _ask_files_again(self) -> None:
        """A page sent back (the communes of a province without JavaScript, or an
        error) cannot keep the files chosen: no browser fills a file input in again.
        Next to each such input the applicant reads which file to choose again."""
        if not self.is_bound or not self.files:
            return
        for _document, name in self.documents:
            upload = self.files.get(self.add_prefix(name))
            if upload is None:
                continue
            field = self.fields[name]
            again = _("Choose “%(name)s” again: files are not kept when the page comes back.") % {
                "name": upload.name
            }
            field.help_text = f"{again} {field.help_text}"

    def _add_field(self, definition: FormField, applicant: Applicant | None) -> Entry:
        key = definition.key
        label = definition.localized_label
        entry = Entry(definition)
        if definition.kind == FieldKind.ADDRESS:
            entry.names = add_address(self, key)
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
        picks = [
            entry.definition.key
            for entry in self.entries
            if self.add_prefix(entry.definition.key + PICK) in self.data
        ]
        if picks or picking(self.data):
            # Not a submission: the form comes back with the chosen province's
            # communes (of this form's address, or of another form of the page),
            # and nothing else is judged yet.
            show_communes(self, picks)
            return cleaned
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
        for entry in self.entries:
            if entry.definition.kind == FieldKind.ADDRESS:
                check_address(self, entry.definition.key, cleaned)
        declaration = self.declaration()
        cleaned["declaration"] = declaration
        if self.errors:
            # The dossier will not be submitted: its declaration's errors are shown
            # with the others now. A form without other errors leaves the check to
            # the service (submit, counter_intake), which makes it once, in its
            # transaction, and whose ValidationError the views put on these inputs
            # (add_declaration_errors): the directory is not asked twice per dossier.
            try:
                clean_form_data(self.procedure, declaration)
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
    return _commune_index().get(commune_code) or ""
