"""The operator's view of the exchange: messages by state, dead letters to replay, rights, log.

Messages and log records are evidence: read-only here (the log is verified by
``lienthong exchange verify-log``). Access rights are edited, audited.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from lienthong.audit.admin import AuditedModelAdmin, ReadOnlyModelAdmin
from lienthong.exchange import delivery, webhooks
from lienthong.exchange.models import (
    AccessRight,
    InboundMessage,
    LogHead,
    LogRecord,
    LogTimestamp,
    OutboundMessage,
    QueryRecord,
    QueryService,
    Receipt,
    SystemClient,
    WebhookDelivery,
)


@admin.register(OutboundMessage)
class OutboundMessageAdmin(ReadOnlyModelAdmin):
    list_display = (
        "envelope_id",
        "type",
        "correlation_id",
        "recipient",
        "state",
        "attempts",
        "next_attempt_at",
        "last_error",
    )
    list_filter = ("state", "type")
    search_fields = ("envelope_id", "correlation_id", "recipient")
    date_hierarchy = "created_at"
    actions = ["replay"]
    readonly_fields = [f.name for f in OutboundMessage._meta.fields]

    def get_actions(self, request):
        # The replay action changes state: it needs the view-and-change right,
        # which the read-only admin otherwise withholds.
        actions = super().get_actions(request)
        if not request.user.has_perm("exchange.change_outboundmessage"):
            actions.pop("replay", None)
        return actions

    @admin.action(description=_("Queue the selected dead or refused messages again"))
    def replay(self, request, queryset):
        count = delivery.replay(
            actor=request.user, envelope_ids=list(queryset.values_list("envelope_id", flat=True))
        )
        self.message_user(
            request,
            ngettext("%(count)d message queued again.", "%(count)d messages queued again.", count)
            % {"count": count},
            messages.SUCCESS if count else messages.WARNING,
        )


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyModelAdmin):
    list_display = ("envelope_id", "type", "correlation_id", "sender", "received_at")
    list_filter = ("type",)
    search_fields = ("envelope_id", "correlation_id", "sender")
    date_hierarchy = "received_at"
    readonly_fields = [f.name for f in InboundMessage._meta.fields]


@admin.register(Receipt)
class ReceiptAdmin(ReadOnlyModelAdmin):
    """A signed batch receipt, stored once; the messages of its batch point to it."""

    list_display = ("sha256", "stored_at")
    search_fields = ("sha256",)
    date_hierarchy = "stored_at"
    readonly_fields = [f.name for f in Receipt._meta.fields]


@admin.register(LogRecord)
class LogRecordAdmin(ReadOnlyModelAdmin):
    list_display = ("sequence", "kind", "envelope_id", "correlation_id", "recorded_at")
    list_filter = ("kind",)
    search_fields = ("envelope_id", "correlation_id")
    readonly_fields = [f.name for f in LogRecord._meta.fields]


@admin.register(LogTimestamp)
class LogTimestampAdmin(ReadOnlyModelAdmin):
    list_display = ("sequence", "time", "authority", "digest")
    readonly_fields = ("sequence", "digest", "time", "authority")
    exclude = ("token", "tsa_certificate")


@admin.register(LogHead)
class LogHeadAdmin(ReadOnlyModelAdmin):
    """Where the chain stands: its head, the archive checkpoint, and whether the
    time-stamping authority is failing (the worker retries; /metrics has the same)."""

    list_display = (
        "sequence",
        "digest",
        "archived_sequence",
        "stamp_failures",
        "stamp_error",
        "stamp_attempted_at",
    )
    readonly_fields = [f.name for f in LogHead._meta.fields]


@admin.register(AccessRight)
class AccessRightAdmin(AuditedModelAdmin):
    list_display = ("provider", "message_type", "consumer", "is_enabled")
    list_filter = ("is_enabled",)
    search_fields = ("provider__identifier", "provider__name", "message_type")
    autocomplete_fields = ("provider", "consumer")


@admin.register(SystemClient)
class SystemClientAdmin(AuditedModelAdmin):
    """Connected systems are added with ``lienthong exchange add-system`` (which shows the
    token once); here they are seen and disabled."""

    list_display = ("name", "agency", "subsystem", "is_enabled", "last_used_at")
    list_filter = ("is_enabled",)
    search_fields = ("name", "agency__identifier", "subsystem")
    fields = ("name", "agency", "subsystem", "is_enabled", "created_at", "last_used_at")
    readonly_fields = ("agency", "subsystem", "created_at", "last_used_at")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(QueryService)
class QueryServiceAdmin(AuditedModelAdmin):
    """Services this node's agencies provide to synchronous queries; who may call one
    is an access right of type ``query.{code}``."""

    list_display = ("code", "agency", "subsystem", "backend_url", "timeout_seconds", "is_enabled")
    list_filter = ("is_enabled",)
    search_fields = ("code", "agency__identifier", "subsystem")
    autocomplete_fields = ("agency",)


@admin.register(QueryRecord)
class QueryRecordAdmin(ReadOnlyModelAdmin):
    list_display = (
        "started_at",
        "side",
        "method",
        "client",
        "provider",
        "service",
        "status",
        "error",
        "duration_ms",
    )
    list_filter = ("side", "error", "service")
    search_fields = ("query_id", "correlation_id", "client", "provider")
    date_hierarchy = "started_at"
    readonly_fields = [f.name for f in QueryRecord._meta.fields]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyModelAdmin):
    list_display = ("message", "system", "state", "attempts", "next_attempt_at", "last_error")
    list_filter = ("state",)
    search_fields = ("message__envelope_id", "message__correlation_id", "system__name")
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    actions = ["replay"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm("exchange.change_webhookdelivery"):
            actions.pop("replay", None)
        return actions

    @admin.action(description=_("Post the selected dead webhook deliveries again"))
    def replay(self, request, queryset):
        count = webhooks.replay(
            actor=request.user,
            deliveries=list(queryset.filter(state=WebhookDelivery.State.DEAD)),
        )
        self.message_user(
            request,
            ngettext(
                "%(count)d delivery queued again.", "%(count)d deliveries queued again.", count
            )
            % {"count": count},
            messages.SUCCESS if count else messages.WARNING,
        )
