"""The ten national dossier statuses and the text a citizen reads for each.

The numbers are the national ones (DESIGN.md, "dossiers"); a procedure may
word a status for its own case (``Procedure.status_texts``).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

NATIONAL_STATUSES = {
    1: _("Your dossier has been submitted and awaits checking."),
    2: _("Your dossier has been accepted."),
    3: _("Your dossier has been refused; the reason is given."),
    4: _("Your dossier is being processed."),
    5: _("Documents are missing: please supplement your dossier."),
    6: _("A fee is due: please pay to continue."),
    7: _("You have withdrawn your dossier."),
    8: _("Processing of your dossier has stopped."),
    9: _("The result is ready."),
    10: _("The result has been returned to you."),
}


def status_text(number: int, overrides: dict[str, str] | None = None) -> str:
    """The citizen-facing text of status ``number``: the procedure's wording, else the national one."""
    if overrides and str(number) in overrides:
        return overrides[str(number)]
    return str(NATIONAL_STATUSES[number])
