"""What the portal's own services refuse, with a stable code (messages follow the language)."""

from __future__ import annotations

from django.utils import translation
from django.utils.translation import gettext_lazy as _

from lienthong.dossiers.errors import DossierConflict

MESSAGES = {
    "rating_not_open": _("A dossier can be rated once its result is out."),
    "rating_final": _("This rating can no longer be changed."),
    "rating_incomplete": _("Answer every question."),
    "delivery_closed": _("How the result is delivered can no longer be changed."),
    "declaration_closed": _("The declaration of this dossier can no longer be signed."),
    "no_signing_credential": _("Choose one of your signing keys that is ready to sign."),
    "no_receiving_agency": _(
        "This portal cannot receive dossiers for that agency: choose another agency."
    ),
    "withdrawal_pending": _(
        "Your request to withdraw this dossier was sent; wait for the agency's answer."
    ),
}


class PortalConflict(DossierConflict):
    """The dossier's state refuses the citizen's request (HTTP 409)."""

    @property
    def message(self) -> str:
        return str(MESSAGES[self.code]) if self.code in MESSAGES else super().message

    @property
    def message_vi(self) -> str:
        with translation.override("vi"):
            return self.message

    @property
    def message_en(self) -> str:
        with translation.override("en"):
            return self.message
