"""What the exchange keeps: messages sent and received, access rights, the message log."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class AccessRight(models.Model):
    """Which agencies may send which message types to an agency hosted by this node.

    Deny by default: an envelope is accepted only if a right matches its
    recipient agency, its type (exactly, or ``prefix.*``) and its sender
    agency (or every agency, when ``consumer`` is empty).
    """

    provider = models.ForeignKey(
        "directory.Agency",
        verbose_name=_("providing agency"),
        on_delete=models.CASCADE,
        related_name="exchange_rights_given",
    )
    message_type = models.CharField(
        _("message type"),
        max_length=80,
        help_text=_('An envelope type such as "dossier.status", or "dossier.*" for a family.'),
    )
    consumer = models.ForeignKey(
        "directory.Agency",
        verbose_name=_("sending agency"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="exchange_rights_held",
        help_text=_("Empty: every agency of the directory."),
    )
    is_enabled = models.BooleanField(_("enabled"), default=True)
    from_snapshot = models.BooleanField(
        _("from the directory snapshot"),
        default=False,
        editable=False,
        help_text=_("Set by the directory authority's snapshot; replaced by the next one."),
    )

    class Meta:
        verbose_name = _("access right")
        verbose_name_plural = _("access rights")
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "message_type", "consumer"], name="exchange_right_unique"
            )
        ]

    def __str__(self) -> str:
        who = self.consumer.identifier if self.consumer_id else "*"
        return f"{who} → {self.provider.identifier}: {self.message_type}"


class Receipt(models.Model):
    """A signed batch receipt, stored once: every message of the batch refers to it.

    A batch of 100 envelopes gets one receipt (tens of kilobytes, naming each
    envelope); the sent and received messages hold a reference to it rather than
    a copy each. Unique on its SHA-256, so a receipt a node both gives and gets
    (one node hosting both agencies) is one row. The message log records it too
    (one record per receipt given or received: log.py), which is what evidence
    and archives rely on."""

    token = models.TextField(_("receipt (JWS)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64, unique=True)
    stored_at = models.DateTimeField(_("time stored"))

    class Meta:
        verbose_name = _("exchange receipt")
        verbose_name_plural = _("exchange receipts")
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.sha256[:16]}… ({self.stored_at:%Y-%m-%d %H:%M:%S})"


class OutboundMessage(models.Model):
    """An envelope this node sends: queued in the transaction that caused it (the outbox)."""

    class State(models.TextChoices):
        QUEUED = "queued", _("queued")
        DELIVERED = "delivered", _("delivered (receipt received)")
        REFUSED = "refused", _("refused by the receiver")
        DEAD = "dead", _("dead letter (attempts exhausted)")

    envelope_id = models.CharField(_("envelope id"), max_length=36, unique=True)
    type = models.CharField(_("type"), max_length=80)
    sender = models.CharField(_("sender"), max_length=120)
    recipient = models.CharField(_("recipient"), max_length=120, db_index=True)
    correlation_id = models.CharField(_("correlation id"), max_length=100, db_index=True)
    created_at = models.DateTimeField(_("created at"))
    token = models.TextField(_("signed envelope (JWS)"))
    token_sha256 = models.CharField(max_length=64)
    endpoint = models.URLField(_("receiving node"), max_length=300)
    state = models.CharField(
        _("state"), max_length=12, choices=State.choices, default=State.QUEUED, db_index=True
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), db_index=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    receipt = models.ForeignKey(
        Receipt,
        verbose_name=_("receipt (JWS)"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="outbound_messages",
    )
    refusal_code = models.CharField(_("refusal code"), max_length=60, blank=True)
    # SHA-256 digests of the attachments, space-separated (the files: attachments.py).
    attachment_digests = models.TextField(blank=True, default="", editable=False)

    class Meta:
        verbose_name = _("sent message")
        verbose_name_plural = _("sent messages")
        ordering = ["pk"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="exchange_out_due"),
            # The queue in order (delivery.claim): only the queued rows, by id, so that
            # a claim reads the oldest few instead of every queued row and sorting them.
            models.Index(
                fields=["id"], condition=models.Q(state="queued"), name="exchange_out_queued"
            ),
            # Which messages of a dossier wait before another (delivery.claim).
            models.Index(
                fields=["correlation_id", "recipient", "state", "next_attempt_at"],
                name="exchange_out_line",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.envelope_id} → {self.recipient}"


class InboundMessage(models.Model):
    """An envelope this node accepted, with the receipt it gave; at most once per id."""

    envelope_id = models.CharField(_("envelope id"), max_length=36, unique=True)
    type = models.CharField(_("type"), max_length=80)
    sender = models.CharField(_("sender"), max_length=120, db_index=True)
    recipient = models.CharField(_("recipient"), max_length=120, db_index=True)
    correlation_id = models.CharField(_("correlation id"), max_length=100, db_index=True)
    created_at = models.DateTimeField(_("created at"))
    received_at = models.DateTimeField(_("received at"))
    token = models.TextField(_("signed envelope (JWS)"))
    token_sha256 = models.CharField(max_length=64)
    payload = models.JSONField(_("payload"))
    receipt = models.ForeignKey(
        Receipt,
        verbose_name=_("receipt (JWS)"),
        on_delete=models.PROTECT,
        related_name="inbound_messages",
    )
    attachment_digests = models.TextField(blank=True, default="", editable=False)
    acknowledged_at = models.DateTimeField(
        _("acknowledged by the recipient system"), null=True, blank=True
    )
    # Applied by this node's own apps (settings.EXCHANGE_INBOUND_CONSUMERS): a consumer
    # sets it in the transaction that applies the envelope, and looks for the rows of
    # its types still unset, through the index below, instead of comparing every
    # received row with what it applied (a cost that grew with the inbox).
    applied = models.BooleanField(_("applied on this node"), default=False, editable=False)

    class Meta:
        verbose_name = _("received message")
        verbose_name_plural = _("received messages")
        ordering = ["pk"]
        indexes = [
            models.Index(fields=["applied", "type", "id"], name="exchange_in_to_apply"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.envelope_id} ← {self.sender}"


class LogHead(models.Model):
    """The single row locked to append to the message log, so records form one chain."""

    sequence = models.BigIntegerField(default=0)
    digest = models.CharField(max_length=64, default="0" * 64)
    # Records up to this one were moved to archive files (log.archive); the chain
    # kept in the database starts after it, linked to its digest.
    archived_sequence = models.BigIntegerField(default=0)
    archived_digest = models.CharField(max_length=64, default="0" * 64)
    # The time-stamping authority's failures since the last timestamp (log.stamp_if_due
    # retries with a growing pause; the admin and /metrics show them).
    stamp_failures = models.PositiveIntegerField(_("failed timestamp attempts"), default=0)
    stamp_error = models.CharField(_("last timestamp error"), max_length=500, blank=True)
    stamp_attempted_at = models.DateTimeField(_("last timestamp attempt"), null=True, blank=True)

    class Meta:
        verbose_name = _("message log head")
        verbose_name_plural = _("message log head")

    def __str__(self) -> str:
        return f"#{self.sequence} {self.digest}"


class LogRecord(models.Model):
    """One link of the message log: every envelope and receipt sent or received.

    ``leaf_hash`` = SHA-256 over this record's fields alone, ``digest`` (its link) =
    SHA-256 over the previous record's link and this leaf hash (verify_evidence.py
    has the rules); editing or removing any record breaks every link after it,
    which ``lienthong exchange verify-log`` finds. Version-1 records (written
    before leaf hashes) keep their own rule and have no leaf hash.
    """

    class Kind(models.TextChoices):
        ENVELOPE_SENT = "envelope-sent", _("envelope sent")
        ENVELOPE_RECEIVED = "envelope-received", _("envelope received")
        RECEIPT_SENT = "receipt-sent", _("receipt given")
        RECEIPT_RECEIVED = "receipt-received", _("receipt received")
        QUERY_SENT = "query-sent", _("query sent")
        QUERY_RECEIVED = "query-received", _("query received")
        RESPONSE_SENT = "response-sent", _("query response given")
        RESPONSE_RECEIVED = "response-received", _("query response received")

    sequence = models.BigIntegerField(_("sequence"), unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    envelope_id = models.CharField(_("envelope id"), max_length=36, db_index=True)
    correlation_id = models.CharField(_("correlation id"), max_length=100, db_index=True)
    recorded_at = models.DateTimeField(_("recorded at"))
    content = models.TextField(_("content (JWS)"))
    content_sha256 = models.CharField(max_length=64)
    previous_digest = models.CharField(max_length=64)
    digest = models.CharField(max_length=64)
    version = models.PositiveSmallIntegerField(_("hash rule version"), default=2)
    leaf_hash = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        verbose_name = _("message log record")
        verbose_name_plural = _("message log")
        ordering = ["sequence"]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.kind} {self.envelope_id}"


class LogTimestamp(models.Model):
    """An RFC 3161 timestamp over the message log's head: proof that every record up to
    ``sequence`` existed, as it is, at ``time``."""

    sequence = models.BigIntegerField(_("sequence"), db_index=True)
    digest = models.CharField(max_length=64)
    time = models.DateTimeField(_("time"))
    authority = models.CharField(_("time-stamping authority"), max_length=300)
    token = models.BinaryField(_("timestamp token (DER)"))
    # The certificate that signed the token (DER), as found in it when it was verified.
    tsa_certificate = models.BinaryField(_("authority's certificate (DER)"), default=b"")

    class Meta:
        verbose_name = _("message log timestamp")
        verbose_name_plural = _("message log timestamps")
        ordering = ["sequence"]

    def __str__(self) -> str:
        return f"#{self.sequence} @ {self.time:%Y-%m-%d %H:%M:%S}"


class SystemClient(models.Model):
    """An information system that is not built on Liên Thông (a province's one-stop
    system, say) and uses the exchange through this node's adapter API, as one
    subsystem of one agency. Only the SHA-256 of its token is stored."""

    agency = models.ForeignKey(
        "directory.Agency",
        verbose_name=_("agency"),
        on_delete=models.PROTECT,
        related_name="exchange_systems",
    )
    subsystem = models.CharField(_("subsystem"), max_length=40)
    name = models.CharField(_("name"), max_length=200)
    token_sha256 = models.CharField(max_length=64, unique=True, editable=False)
    is_enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    webhook_url = models.URLField(
        _("webhook URL"),
        max_length=300,
        blank=True,
        help_text=_("Envelopes addressed to the system are posted here, signed (webhooks.py)."),
    )
    # The webhook secret is derived from the node's key-encryption key and this
    # number (webhooks.secret): nothing secret is stored; a new secret, a new number.
    webhook_generation = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = _("connected system")
        verbose_name_plural = _("connected systems")
        constraints = [
            models.UniqueConstraint(fields=["agency", "subsystem"], name="exchange_system_once")
        ]

    def __str__(self) -> str:
        return f"{self.name} (VN:GOV:{self.agency.identifier}:{self.subsystem})"

    @property
    def member(self) -> str:
        return f"VN:GOV:{self.agency.identifier}:{self.subsystem}"


class QueryService(models.Model):
    """A synchronous service that a subsystem of an agency hosted here provides:
    queries for ``VN:GOV:{agency}:{subsystem}`` / ``code`` are forwarded to
    ``backend_url`` (queries.py). Who may call it: access rights of type
    ``query.{code}`` (or ``query.*``)."""

    agency = models.ForeignKey(
        "directory.Agency",
        verbose_name=_("agency"),
        on_delete=models.PROTECT,
        related_name="query_services",
    )
    subsystem = models.CharField(_("subsystem"), max_length=40)
    code = models.CharField(_("service code"), max_length=40)
    backend_url = models.URLField(_("backend URL"), max_length=300)
    timeout_seconds = models.PositiveIntegerField(_("timeout (seconds)"), default=20)
    is_enabled = models.BooleanField(_("enabled"), default=True)

    class Meta:
        verbose_name = _("query service")
        verbose_name_plural = _("query services")
        constraints = [
            models.UniqueConstraint(
                fields=["agency", "subsystem", "code"], name="exchange_query_service_once"
            )
        ]

    def __str__(self) -> str:
        return f"VN:GOV:{self.agency.identifier}:{self.subsystem}/{self.code}"


class QueryRecord(models.Model):
    """One synchronous query as one side saw it: the client's node ("sent") or the
    provider's ("received"). Unique per side, so a replayed request is refused
    before it reaches the provider's backend. The signed request and response
    themselves are in the message log."""

    class Side(models.TextChoices):
        SENT = "sent", _("sent")
        RECEIVED = "received", _("received")

    query_id = models.CharField(_("query id"), max_length=36)
    side = models.CharField(_("side"), max_length=8, choices=Side.choices)
    client = models.CharField(_("client"), max_length=120, db_index=True)
    provider = models.CharField(_("provider"), max_length=120, db_index=True)
    service = models.CharField(_("service code"), max_length=40)
    method = models.CharField(_("method"), max_length=8)
    path = models.CharField(_("path"), max_length=500)
    correlation_id = models.CharField(_("correlation id"), max_length=100, blank=True)
    started_at = models.DateTimeField(_("started at"), db_index=True)
    duration_ms = models.FloatField(_("duration (ms)"), null=True, blank=True)
    status = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    error = models.CharField(_("error code"), max_length=60, blank=True)
    request_sha256 = models.CharField(max_length=64)
    response_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("query")
        verbose_name_plural = _("queries")
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["query_id", "side"], name="exchange_query_once")
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.provider}/{self.service}{self.path} ({self.query_id})"


class WebhookDelivery(models.Model):
    """An accepted envelope to post to its recipient system's webhook (an outbox of
    its own, filled in the transaction that stores the envelope)."""

    class State(models.TextChoices):
        QUEUED = "queued", _("queued")
        DELIVERED = "delivered", _("delivered")
        DEAD = "dead", _("dead letter (attempts exhausted)")

    system = models.ForeignKey(
        SystemClient, verbose_name=_("connected system"), on_delete=models.CASCADE
    )
    message = models.ForeignKey(
        InboundMessage, verbose_name=_("received message"), on_delete=models.CASCADE
    )
    state = models.CharField(
        _("state"), max_length=12, choices=State.choices, default=State.QUEUED, db_index=True
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), db_index=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["system", "message"], name="exchange_webhook_once")
        ]

    def __str__(self) -> str:
        return f"{self.message.envelope_id} → {self.system}"
