"""The citizen's forms. The declaration form is built from the procedure's typed
fields; its values are checked by the dossiers intake (``clean_form_data``), so
the errors a citizen reads are the catalogue's own."""

from __future__ import annotations

from typing import Any

from django import forms
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from lienthong.dossiers import attachments
from lienthong.dossiers.errors import AttachmentRefused

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
    ProvinceSelect,
)
from lienthong.dossiers.models import ResultDelivery
from lienthong.portal import ratings


class KeepingProvinceSelect(ProvinceSelect):
    """The province picker of a form that keeps its files when it comes back: the
    button's hint says so instead of asking to pick the address first."""

    template_name = "portal/widgets/province_select.html"


# The session's list of the forms (``form_key``) that kept files; an abandoned form's
# entry goes when the form is opened anew, and the list keeps the latest few.
KEPT_FORMS = "portal_kept_forms"
KEPT_FORMS_AT_MOST = 20


class SubmissionForm(DossierForm):
    """The citizen's dossier form, keeping the files already chosen when the page
    comes back (the address picker without JavaScript, an error).

    Bound to a POST with the ``session`` and ``form_key``, it offers every file an
    earlier page of this form kept (staged): such an input is no longer required,
    says which file is attached (name, size) and takes another file only to
    replace it. A submission that goes through uses the files chosen now and the
    kept ones (``documents_to_submit``), without keeping anything itself; a page
    that comes back first keeps the files chosen now (``keep_uploads``:
    ``dossiers.attachments.stage``, checked and stored as a submission stores
    them). A file refused when kept is an error on its input and must be chosen
    again."""

    def __init__(self, *args: Any, session: Any = None, form_key: str = "", **kwargs: Any) -> None:
        self.staged: dict[str, Any] = {}
        self.refused: dict[str, str] = {}
        self._opened: list[Any] = []
        self._session, self._form_key = session, form_key
        self._session_key = (session.session_key if session is not None else None) or ""
        super().__init__(*args, **kwargs)
        self._help = {name: self.fields[name].help_text for _document, name in self.documents}
        # The session names the forms that kept files: the others (nearly every
        # submission) need not look for them.
        if self._session_key and form_key and form_key in self._kept_forms():
            if self.is_bound:
                self.staged = attachments.staged(self._session_key, form_key)
            else:  # a new form: what an abandoned one kept is dropped
                attachments.discard_staged(self._session_key, form_key)
                self._mark_kept(False)
        self._tell_files()
        for name, field in self.fields.items():
            if isinstance(field.widget, ProvinceSelect):
                widget = KeepingProvinceSelect(attrs=field.widget.attrs)
                widget.choices = field.widget.choices
                self.fields[name].widget = widget

    def _kept_forms(self) -> list[str]:
        return list(self._session.get(KEPT_FORMS, ()))

    def _mark_kept(self, kept: bool) -> None:
        forms_ = [key for key in self._kept_forms() if key != self._form_key]
        if kept:
            forms_.append(self._form_key)
        if forms_:
            self._session[KEPT_FORMS] = forms_[-KEPT_FORMS_AT_MOST:]
        else:
            self._session.pop(KEPT_FORMS, None)

    def _ask_files_again(self) -> None:
        """Replaced by ``_tell_files``: the files are kept when the page comes back."""

    def _tell_files(self) -> None:
        for _document, name in self.documents:
            field = self.fields[name]
            row = self.staged.get(name)
            field.help_text = self._help[name]
            if row is not None and name not in self.refused:
                field.required = False
                note = _(
                    "Already attached: “%(name)s” (%(size)s). "
                    "Choose another file only to replace it."
                ) % {"name": row.original_name, "size": filesizeformat(row.size)}
            elif name in self.refused and self.files.get(self.add_prefix(name)) is not None:
                note = _(
                    "Choose “%(name)s” again: files are not kept when the page comes back."
                ) % {"name": self.files[self.add_prefix(name)].name}
            else:
                continue
            field.help_text = f"{note} {field.help_text}"
        # A bound field copies its help text when made (validation makes them).
        for name, bound in self._bound_fields_cache.items():
            bound.help_text = self.fields[name].help_text or ""

    def keep_uploads(self) -> None:
        """The page comes back: keep each file chosen this time for the form (staged,
        replacing what its input kept before), so the applicant need not choose it
        again; a file refused is an error on its input."""
        if not (self.is_bound and self._session_key and self._form_key and self.files):
            return
        for document, name in self.documents:
            upload = self.files.get(self.add_prefix(name))
            if upload is None:
                continue
            try:
                upload.seek(0)
                attachments.stage(
                    upload,
                    session_key=self._session_key,
                    form_key=self._form_key,
                    field=name,
                    accepted=attachments.accepted_types(document),
                )
            except AttachmentRefused as exc:
                self.refused[name] = exc.message
                if name not in self.errors:
                    self.add_error(name, exc.message)
        self.staged = attachments.staged(self._session_key, self._form_key)
        if self.staged and self._form_key not in self._kept_forms():
            self._mark_kept(True)
        self._tell_files()

    def documents_to_submit(self) -> dict[int, list[Any]]:
        """{document id: [file]} for a valid form: the file chosen now for an input, else
        the one an earlier page kept for it (``attachments.staged_file``)."""
        chosen = self.documents_by_id()
        for document, name in self.documents:
            if document.pk not in chosen and name in self.staged:
                opened = attachments.staged_file(self.staged[name])
                self._opened.append(opened)
                chosen[document.pk] = [opened]
        return chosen

    def close_kept_files(self) -> None:
        """Close the kept files ``documents_to_submit`` opened (the uploads of the
        request are Django's to close)."""
        while self._opened:
            self._opened.pop().close()

    def forget_kept(self) -> None:
        """After the submission: what the form kept is no longer needed."""
        if self.staged:
            attachments.discard_staged(self._session_key, self._form_key)
        if self._session is not None and self._form_key in self._kept_forms():
            self._mark_kept(False)


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
        # Keys at the external service authorised there by OAuth (CSC oauth2code).
        self.at_service = any(getattr(c, "auth_mode", "") == "oauth2code" for c in credentials)
