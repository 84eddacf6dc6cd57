"""The dossier (hồ sơ) a citizen or business submits, its history, attachments and deadline.

A dossier belongs to one procedure and one receiving agency; the agency that
holds it now (``current_agency``) decides who may see and act on it. Its
status is one of the ten national statuses; the allowed moves between them are
in ``workflow.py``. The deadline is computed from the procedure's time limit
and the working-day calendar, never typed (see ``Dossier.compute_due_at``).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from lienthong.catalog import working_days


class Channel(models.IntegerChoices):
    """How the dossier reached the agency (national channel codes)."""

    COUNTER = 1, _("At the counter")
    ONLINE = 2, _("Online")
    POST = 3, _("By public post")


class ResultDelivery(models.IntegerChoices):
    """How the result reaches the applicant: picked up at the counter, or sent by
    the public postal service (Decision 45/2016/QĐ-TTg). Numbered as the channels."""

    COUNTER = 1, _("Picked up at the counter")
    POST = 3, _("Sent by public post")


class Status(models.IntegerChoices):
    """The ten national dossier statuses, with their national numbers."""

    NEW = 1, _("New")
    ACCEPTED = 2, _("Accepted")
    REJECTED = 3, _("Rejected")
    PROCESSING = 4, _("Processing")
    SUPPLEMENT_REQUESTED = 5, _("Supplement requested")
    PAYMENT_REQUESTED = 6, _("Payment requested")
    WITHDRAWN = 7, _("Withdrawn")
    STOPPED = 8, _("Stopped")
    DONE = 9, _("Done")
    RESULT_RETURNED = 10, _("Result returned")


# The agency has decided (the clock stops): done, rejected or stopped.
DECIDED = frozenset({Status.REJECTED, Status.STOPPED, Status.DONE})
# Nothing can happen to the dossier any more.
CLOSED = frozenset({Status.REJECTED, Status.WITHDRAWN, Status.STOPPED, Status.RESULT_RETURNED})
# The deadline runs: accepted and not yet decided, and not waiting for the citizen.
CLOCK_RUNNING = frozenset({Status.ACCEPTED, Status.PROCESSING, Status.PAYMENT_REQUESTED})


def format_code(agency_identifier: str, day: dt.date, number: int) -> str:
    """``{agency code}-{yymmdd}-{NNNN}``: the agency's electronic identifier, the
    day of submission (Vietnam time) and that agency's running number of the day.
    The number has at least four digits (a 10,000th dossier of a day gets five)."""
    return f"{agency_identifier}-{day:%y%m%d}-{number:04d}"


class Dossier(models.Model):
    code = models.CharField(_("code"), max_length=60, unique=True)
    procedure = models.ForeignKey(
        "catalog.Procedure",
        verbose_name=_("procedure"),
        on_delete=models.PROTECT,
        related_name="dossiers",
    )
    receiving_agency = models.ForeignKey(
        "directory.Agency",
        verbose_name=_("receiving agency"),
        on_delete=models.PROTECT,
        related_name="received_dossiers",
    )
    current_agency = models.ForeignKey(
        "directory.Agency",
        verbose_name=_("agency holding it"),
        on_delete=models.PROTECT,
        related_name="held_dossiers",
    )
    # Empty for a paper dossier taken at the counter for someone without an account.
    applicant = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("applicant account"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="dossiers",
    )
    # What the applicant declared, kept as submitted: an account may change later.
    applicant_name = models.CharField(_("applicant name"), max_length=255)
    applicant_id_number = models.CharField(
        _("personal ID number or tax code"), max_length=14, blank=True
    )
    applicant_phone = models.CharField(_("applicant phone"), max_length=20, blank=True)
    applicant_email = models.EmailField(_("applicant email"), blank=True)
    applicant_address = models.CharField(_("applicant address"), max_length=400, blank=True)
    channel = models.PositiveSmallIntegerField(_("channel"), choices=Channel.choices)
    status = models.PositiveSmallIntegerField(
        _("status"), choices=Status.choices, default=Status.NEW
    )
    form_data = models.JSONField(_("declaration"), default=dict, blank=True)
    submitted_at = models.DateTimeField(_("submitted at"))
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    due_at = models.DateTimeField(_("due at"), null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    returned_at = models.DateTimeField(_("result returned at"), null=True, blank=True)
    # Optimistic concurrency: every change is UPDATE ... WHERE version = expected.
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    interconnected = models.ForeignKey(
        "catalog.InterconnectedProcedure",
        verbose_name=_("interconnected procedure"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="dossiers",
    )
    step = models.ForeignKey(
        "catalog.InterconnectedStep",
        verbose_name=_("current step"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    # For a step handed over by another agency: the citizen's dossier it belongs to
    # and where its statuses are reported (VN:GOV:{agency}:dossiers).
    origin_code = models.CharField(_("originating dossier"), max_length=60, blank=True)
    origin_member = models.CharField(_("reports to"), max_length=120, blank=True)
    # On the originating side: the agency of the later step, and the status it last reported.
    remote_agency = models.ForeignKey(
        "directory.Agency",
        verbose_name=_("agency of the later step"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    remote_status = models.PositiveSmallIntegerField(
        _("status at the later step"), choices=Status.choices, null=True, blank=True
    )
    result_delivery = models.PositiveSmallIntegerField(
        _("result delivery"), choices=ResultDelivery.choices, default=ResultDelivery.COUNTER
    )
    # Where the postal service delivers the result; empty for a counter pickup.
    delivery_address = models.CharField(_("delivery address"), max_length=400, blank=True)
    # The signed result the applicant receives (ResultDocument keeps the original beside it).
    result = models.ForeignKey(
        "dossiers.Attachment",
        verbose_name=_("result"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("dossier")
        verbose_name_plural = _("dossiers")
        ordering = ["-submitted_at", "-id"]
        indexes = [
            # The officer's queue: one agency's dossiers in a status, by deadline. The
            # queues keep only what the agency also received (officer_queue): with
            # receiving_agency in the index, counting a queue reads the index alone
            # (on 1,000,000 dossiers: 0.1-1.5 ms instead of 11-38 ms).
            models.Index(
                fields=["current_agency", "status", "due_at", "receiving_agency"],
                name="dossiers_queue_idx",
            ),
            models.Index(
                fields=["current_agency", "status", "submitted_at", "receiving_agency"],
                name="dossiers_new_idx",
            ),
            # The citizen's "my dossiers", newest first.
            # The officer's "open", "overdue" and "due soon" queues: one agency's dossiers
            # not yet final, in deadline order, read in index order and stopped after a
            # page (on 1,000,000 dossiers: 0.3 ms instead of 277-512 ms).
            models.Index(
                fields=["current_agency", "due_at", "submitted_at", "id", "receiving_agency"],
                condition=models.Q(status__in=[1, 2, 4, 5, 6, 9]),
                name="dossiers_open_queue_idx",
            ),
            models.Index(fields=["applicant", "-submitted_at"], name="dossiers_mine_idx"),
            models.Index(fields=["origin_code"], name="dossiers_origin_idx"),
        ]

    def __str__(self) -> str:
        return self.code

    # --- Deadline rules -------------------------------------------------------------

    def pauses(self, now: dt.datetime | None = None) -> list[tuple[dt.datetime, dt.datetime]]:
        """The periods the clock stood still: each supplement request until it was
        answered (an unanswered one until ``now``)."""
        now = now or timezone.now()
        return [
            (request.requested_at, request.answered_at or now)
            for request in self.supplement_requests.all()
        ]

    def compute_due_at(
        self, *, now: dt.datetime | None = None, calendar=None
    ) -> dt.datetime | None:
        """The deadline: the procedure's time limit counted from acceptance on the
        working-day calendar, pushed later by every pause; None before acceptance
        or when the procedure records no time limit. An unanswered supplement
        request counts until ``now``: the deadline keeps moving while it waits."""
        if self.accepted_at is None:
            return None
        return self.procedure.deadline(self.accepted_at, paused=self.pauses(now), calendar=calendar)

    @property
    def is_paused(self) -> bool:
        """The agency waits for the citizen: the clock stands still."""
        return self.status == Status.SUPPLEMENT_REQUESTED

    @property
    def is_decided(self) -> bool:
        return self.finished_at is not None

    def is_overdue(self, now: dt.datetime | None = None) -> bool:
        """Past the deadline: decided after it, or undecided and still open after it.
        While a supplement is awaited the deadline moves with the clock, so a paused
        dossier is overdue only if it already was when the pause began."""
        if self.due_at is None:
            return False
        if self.finished_at is not None:
            return self.finished_at > self.due_at
        if self.status in CLOSED:
            return False
        now = now or timezone.now()
        if self.is_paused:
            return self.compute_due_at(now=now) < now
        return self.due_at < now

    def is_due_soon(self, now: dt.datetime | None = None, *, calendar=None) -> bool:
        """The clock runs and the deadline falls before the end of the next working day."""
        if self.due_at is None or self.status not in CLOCK_RUNNING:
            return False
        now = now or timezone.now()
        return now <= self.due_at <= due_soon_limit(now, calendar=calendar)

    @property
    def payment_due(self) -> Payment | None:
        """The fee the agency asked for and that is not paid yet (one at most)."""
        return self.payments.filter(paid_at__isnull=True).first()

    def timeliness(self) -> str | None:
        """``on_time`` or ``overdue`` once decided (decision time against the deadline);
        None while undecided or when there is no deadline."""
        if self.finished_at is None or self.due_at is None:
            return None
        return "overdue" if self.finished_at > self.due_at else "on_time"


def due_soon_limit(now: dt.datetime, *, calendar=None) -> dt.datetime:
    """Deadlines up to this moment are "due soon": the end of the next working day."""
    return working_days.add_working_days(now, 1, calendar=calendar)


class DossierCounter(models.Model):
    """The last number given to a dossier of ``agency`` on ``day``.

    In its own table so that allocating a code locks one small row (one per
    agency and day), not the dossiers, and two submissions never get the same
    number (codes.allocate_code)."""

    agency = models.ForeignKey("directory.Agency", on_delete=models.PROTECT, related_name="+")
    day = models.DateField(_("day"))
    last = models.PositiveIntegerField(_("last number"), default=0)

    class Meta:
        verbose_name = _("dossier counter")
        verbose_name_plural = _("dossier counters")
        constraints = [
            models.UniqueConstraint(fields=["agency", "day"], name="dossiers_one_counter_per_day")
        ]

    def __str__(self) -> str:
        return f"{self.agency_id} {self.day} {self.last}"


class AppendOnlyError(Exception):
    """Raised when code tries to rewrite a dossier's history."""


class DossierEvent(models.Model):
    """One entry of a dossier's history, as the citizen's timeline shows it. Append-only."""

    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(_("time"), default=timezone.now)
    action = models.CharField(_("action"), max_length=40)
    status_from = models.PositiveSmallIntegerField(
        _("status before"), choices=Status.choices, null=True, blank=True
    )
    status_to = models.PositiveSmallIntegerField(
        _("status after"), choices=Status.choices, null=True, blank=True
    )
    # No database constraint: removing an account must not rewrite history.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_label = models.CharField(_("actor"), max_length=150)
    agency = models.ForeignKey(
        "directory.Agency",
        verbose_name=_("agency"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    step = models.PositiveSmallIntegerField(_("step"), null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("dossier event")
        verbose_name_plural = _("dossier events")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.dossier_id} {self.action} {self.status_from}→{self.status_to}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AppendOnlyError("dossier events cannot be changed")
        super().save(*args, **kwargs)


class SupplementRequest(models.Model):
    """The agency asked for missing documents; the deadline's clock stands still
    from ``requested_at`` until ``answered_at``."""

    dossier = models.ForeignKey(
        Dossier, on_delete=models.CASCADE, related_name="supplement_requests"
    )
    requested_at = models.DateTimeField(_("requested at"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    reason = models.TextField(_("what is missing"))
    # The status the dossier goes back to once answered (new or processing).
    resume_status = models.PositiveSmallIntegerField(choices=Status.choices)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("supplement request")
        verbose_name_plural = _("supplement requests")
        ordering = ["requested_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dossier"],
                condition=models.Q(answered_at__isnull=True),
                name="dossiers_one_open_supplement_request",
            )
        ]

    def __str__(self) -> str:
        return f"{self.dossier_id} {self.requested_at:%d/%m/%Y}"


class Payment(models.Model):
    """A fee the agency asked the applicant to pay (status 6, "payment requested"),
    and how it was paid: online through a payment backend (``payments.py``), or at
    the counter, recorded by a one-stop officer. At most one is unpaid per dossier.

    ``backend`` and ``reference`` name the payment at the backend: while the
    applicant pays, the attempt under way (a new attempt replaces it); once paid,
    the one that was confirmed, with the backend's own ``receipt`` number."""

    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="payments")
    amount = models.PositiveBigIntegerField(_("amount (VND)"))
    reason = models.TextField(_("what it is for"))
    requested_at = models.DateTimeField(_("requested at"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    backend = models.CharField(_("payment backend"), max_length=60, blank=True)
    reference = models.CharField(_("payment reference"), max_length=100, blank=True)
    started_at = models.DateTimeField(_("payment started at"), null=True, blank=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    receipt = models.CharField(_("receipt number"), max_length=100, blank=True)
    # The one-stop officer who took a payment at the counter (empty for one made online).
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # A fee asked by the agency holding a routed dossier on another node: that
    # agency's request ("<step dossier code>#<its payment id>"), which the payment
    # made here answers (``interconnection.relay_payment``). Empty for a fee asked here.
    remote_request = models.CharField(_("fee asked on another node"), max_length=120, blank=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["requested_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dossier"],
                condition=models.Q(paid_at__isnull=True),
                name="dossiers_one_unpaid_payment",
            ),
            models.UniqueConstraint(
                fields=["backend", "reference"],
                condition=~models.Q(reference=""),
                name="dossiers_payment_reference_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dossier_id} {self.amount} VND"

    @property
    def is_paid(self) -> bool:
        return self.paid_at is not None


class AttemptState(models.TextChoices):
    OPEN = "open", _("under way")
    CANCELLED = "cancelled", _("cancelled by a later attempt")
    FAILED = "failed", _("not paid")
    PAID = "paid", _("paid")
    # Paid at the gateway after the fee had been paid otherwise: the money is kept
    # on record, never a second payment of the dossier, and is to be refunded.
    SURPLUS = "surplus", _("paid twice: to refund")
    # A surplus given back: through the gateway (``payments.refund_surplus``) or
    # otherwise, recorded by an officer (``payments.mark_refunded``).
    REFUNDED = "refunded", _("refunded")


class PaymentAttempt(models.Model):
    """One try at paying a ``Payment`` online (``payments.start``): the backend's
    reference, and how it ended. A new attempt cancels the open one; a gateway's
    late confirmation of a cancelled attempt is judged by ``payments.settle``; one
    whose confirmation never came is asked of the gateway (``payments.reconcile``).

    A ``surplus`` (money taken for a fee paid otherwise) is refunded once
    (``payments.refund_surplus``, ``payments.mark_refunded``): ``refunded`` with the
    refund's reference, time and way; while the gateway fails, it stays ``surplus``
    with the last error, to try again. ``refund_started_at`` is the claim of a
    refund under way at the gateway (none is started twice)."""

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="attempts")
    backend = models.CharField(_("payment backend"), max_length=60)
    reference = models.CharField(_("payment reference"), max_length=100)
    state = models.CharField(
        _("state"), max_length=12, choices=AttemptState.choices, default=AttemptState.OPEN
    )
    started_at = models.DateTimeField(_("started at"))
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    receipt = models.CharField(_("receipt number"), max_length=100, blank=True)
    # When the gateway's payment was created, as sent to it (VNPAY's vnp_CreateDate,
    # which its transaction query and refund name the transaction by).
    gateway_created_at = models.DateTimeField(_("created at the gateway"), null=True, blank=True)
    # When the gateway was last asked about it (``payments.reconcile``).
    checked_at = models.DateTimeField(_("last asked of the gateway at"), null=True, blank=True)
    refund_started_at = models.DateTimeField(_("refund under way since"), null=True, blank=True)
    refund_tried_at = models.DateTimeField(_("refund last tried at"), null=True, blank=True)
    refund_error = models.CharField(_("refund's last error"), max_length=60, blank=True)
    refunded_at = models.DateTimeField(_("refunded at"), null=True, blank=True)
    # The backend's name for a refund through the gateway, "other" for one made otherwise.
    refunded_through = models.CharField(_("refunded through"), max_length=60, blank=True)
    refund_reference = models.CharField(_("refund reference"), max_length=100, blank=True)
    refund_note = models.CharField(_("refund note"), max_length=500, blank=True)
    refunded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("refunded by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("payment attempt")
        verbose_name_plural = _("payment attempts")
        ordering = ["started_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["backend", "reference"], name="dossiers_payment_attempt_unique"
            ),
            models.UniqueConstraint(
                fields=["payment"],
                condition=models.Q(state="open"),
                name="dossiers_one_open_payment_attempt",
            ),
        ]
        # Housekeeping reads attempts by state: open ones to reconcile, surpluses to refund.
        indexes = [models.Index(fields=["state", "started_at"], name="dossiers_attempt_state")]

    def __str__(self) -> str:
        return f"{self.backend} {self.reference} ({self.state})"


class StagedUpload(models.Model):
    """A file chosen on a dossier form that came back without being submitted (the
    address picker without JavaScript, an error): stored content-addressed as a
    submission stores it, bound to the browser session and the form, and used by the
    final submission unless replaced. Expires (``attachments.STAGED_FOR``) and is
    cleaned by ``attachments.sweep``; the blob it names is not swept while it lives."""

    session_key = models.CharField(_("session"), max_length=64)
    form_key = models.CharField(_("form"), max_length=200)
    field = models.CharField(_("input"), max_length=120)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    media_type = models.CharField(_("media type"), max_length=100)
    original_name = models.CharField(_("file name"), max_length=255)
    path = models.CharField(_("stored at"), max_length=200)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    staged_at = models.DateTimeField(_("staged at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"), db_index=True)

    class Meta:
        verbose_name = _("staged upload")
        verbose_name_plural = _("staged uploads")
        ordering = ["field", "position", "id"]
        indexes = [models.Index(fields=["session_key", "form_key"], name="dossiers_staged_form")]

    def __str__(self) -> str:
        return self.original_name


class AttachmentKind(models.TextChoices):
    DOCUMENT = "document", _("Required document")
    SUPPLEMENT = "supplement", _("Supplement")
    # The unsigned result a specialist prepares; the signed copy is a RESULT.
    DRAFT = "draft", _("Draft result")
    RESULT = "result", _("Result")


class Attachment(models.Model):
    """A file of a dossier. The content is stored once per SHA-256 digest
    (``attachments.py``); several rows may name the same content."""

    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="attachments")
    kind = models.CharField(_("kind"), max_length=12, choices=AttachmentKind.choices)
    document = models.ForeignKey(
        "catalog.RequiredDocument",
        verbose_name=_("required document"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    supplement = models.ForeignKey(
        SupplementRequest,
        verbose_name=_("supplement request"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="attachments",
    )
    sha256 = models.CharField(_("SHA-256"), max_length=64, db_index=True)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    media_type = models.CharField(_("media type"), max_length=100)
    original_name = models.CharField(_("file name"), max_length=255)
    # Relative to settings.DOSSIERS_STORAGE_DIR: blobs/ab/abcdef….
    path = models.CharField(_("stored at"), max_length=200)
    uploaded_at = models.DateTimeField(_("uploaded at"), default=timezone.now)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return self.original_name


class ResultMethod(models.TextChoices):
    AGENCY_SEAL = "agency_seal", _("Agency's signing key held by the node")
    PERSONAL_REMOTE = "personal_remote", _("Leader's personal remote signature")


class ResultDocument(models.Model):
    """The result of a dossier as a signed PDF: the document the specialist or the
    leader uploaded (``original``, kept unchanged) and the signed copy
    (``signed``, what the applicant receives and anyone can verify)."""

    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="result_documents")
    original = models.ForeignKey(
        Attachment, verbose_name=_("original"), on_delete=models.CASCADE, related_name="+"
    )
    signed = models.OneToOneField(
        Attachment, verbose_name=_("signed copy"), on_delete=models.CASCADE, related_name="+"
    )
    method = models.CharField(_("signature"), max_length=20, choices=ResultMethod.choices)
    level = models.CharField(_("PAdES level"), max_length=8)
    # Kept (PROTECT): keys are disabled, never deleted, so this always says which key signed.
    signing_key = models.ForeignKey(
        "trust.SigningKey",
        verbose_name=_("signing key"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    certificate_sha256 = models.CharField(_("certificate SHA-256"), max_length=64)
    signer = models.CharField(_("signed by"), max_length=255)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("approved by"),
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    approved_by_label = models.CharField(_("approved by"), max_length=150)
    signed_at = models.DateTimeField(_("signed at"))

    class Meta:
        verbose_name = _("signed result")
        verbose_name_plural = _("signed results")
        ordering = ["signed_at", "id"]

    def __str__(self) -> str:
        return f"{self.dossier_id} {self.signed.original_name}"


class AppliedEnvelope(models.Model):
    """A received dossier envelope already applied: applying it again changes nothing."""

    envelope_id = models.CharField(_("envelope id"), max_length=36, unique=True)
    type = models.CharField(_("type"), max_length=80)
    dossier = models.ForeignKey(
        Dossier, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    outcome = models.CharField(_("outcome"), max_length=40)
    applied_at = models.DateTimeField(_("applied at"), default=timezone.now)

    class Meta:
        verbose_name = _("applied envelope")
        verbose_name_plural = _("applied envelopes")

    def __str__(self) -> str:
        return f"{self.type} {self.envelope_id}"
