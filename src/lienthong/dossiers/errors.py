"""What the dossier services refuse, with a stable code and a message in Vietnamese and English.

The API maps ``DossierConflict`` (the dossier's state refuses the change) to
409, ``AttachmentRefused`` to 413 (``too_large``) or 415 (the others), and
``ResultRefused`` (the node cannot sign the result) to 503.
"""

from __future__ import annotations

from django.utils import translation
from django.utils.translation import gettext_lazy as _

MESSAGES = {
    # The state machine (workflow.py)
    "illegal_transition": _("A dossier cannot go from this status to that one."),
    "not_allowed": _("You may not make this change to the dossier."),
    "stale_dossier": _(
        "Someone else changed the dossier in the meantime: reload it and try again."
    ),
    "reason_required": _("Give the reason for this decision."),
    "use_answer_supplement": _("A supplement request is answered with the missing documents."),
    "use_confirm_payment": _(
        "A dossier waiting for a payment goes on once the payment is recorded."
    ),
    "amount_required": _(
        "Give the amount to pay: the catalogue lists no fee with an amount for this procedure."
    ),
    "payment_not_requested": _("No payment is awaited for this dossier, or not this one."),
    "payment_mismatch": _("The amount paid is not the amount asked for."),
    "payment_unverified": _("The payment could not be verified; nothing was recorded."),
    "payment_unavailable": _("The payment service cannot be reached now: try again later."),
    "payment_failed": _("The payment was not made: nothing was charged. You may try again."),
    "payment_attempt_cancelled": _(
        "This payment attempt was cancelled when a new one was started: use the latest one."
    ),
    "payment_query_refused": _(
        "The payment gateway did not answer the question about this payment: it is left as it "
        "was, to be asked again later."
    ),
    # Refunds of money taken twice (payments.py)
    "refund_refused": _("The payment gateway refused the refund; nothing was refunded."),
    "refund_not_due": _("This payment is not one to refund, or it was refunded already."),
    "refund_under_way": _("A refund of this payment is under way: wait for its outcome."),
    "refund_reference_required": _(
        "Give the reference of the refund (the bank transfer's, or the receipt's at the counter)."
    ),
    "refund_other_backend": _(
        "This payment was taken through another payment service than the one in use now: "
        "refund it otherwise, then record the refund here."
    ),
    "documents_missing": _("A required document is missing."),
    "no_next_agency": _("No agency of the directory can take the next step of this dossier."),
    "attachment_unavailable": _(
        "A file of the dossier is missing or damaged on this node: it cannot be handed on."
    ),
    # Results (results.py)
    "no_signing_key": _(
        "This node holds no usable signing key of the agency: the result cannot be signed, "
        "so the dossier was not approved. Ask the agency administrator to import one."
    ),
    "signing_failed": _("The result could not be signed; the dossier was not approved."),
    "not_a_pdf": _("The result must be a PDF document."),
    "no_result": _("The dossier has no signed result."),
    "delivery_address_required": _("Give the address the result is to be posted to."),
    # Attachments (attachments.py)
    "too_large": _("The file is larger than allowed."),
    "empty_file": _("The file is empty."),
    "type_not_accepted": _("This type of file is not accepted for this document."),
    "content_mismatch": _("The file's content does not match its type."),
}


class DossierError(Exception):
    """Base of the refusals: ``code`` is stable, the messages follow the language."""

    def __init__(self, code: str, **details) -> None:
        self.code = code
        self.details = details
        super().__init__(code)

    @property
    def message(self) -> str:
        return str(MESSAGES[self.code])

    @property
    def message_vi(self) -> str:
        with translation.override("vi"):
            return str(MESSAGES[self.code])

    @property
    def message_en(self) -> str:
        with translation.override("en"):
            return str(MESSAGES[self.code])


class DossierConflict(DossierError):
    """The dossier's present state refuses the change (HTTP 409)."""


class IllegalTransition(DossierConflict):
    """The state machine has no such move (``illegal_transition``)."""


class AttachmentRefused(DossierError):
    """A file refused before anything was stored."""


class ResultRefused(DossierError):
    """The result could not be signed (``no_signing_key``, ``signing_failed``):
    nothing was written and the dossier keeps its status (HTTP 503, the node
    lacks what it needs). ``detail_vi``/``detail_en`` carry the signer's reason."""
