"""The admin shows dossiers and their history; it changes nothing.

Every change to a dossier goes through a service (a state-machine move, an
event, an audit record), so the admin pages here are read-only.
"""

from django.contrib import admin

from lienthong.dossiers.models import (
    AppliedEnvelope,
    Attachment,
    Dossier,
    DossierCounter,
    DossierEvent,
    Payment,
    PaymentAttempt,
    SupplementRequest,
)


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class EventInline(ReadOnlyMixin, admin.TabularInline):
    model = DossierEvent
    fields = ["at", "action", "status_from", "status_to", "actor_label", "agency", "step", "reason"]
    readonly_fields = fields
    extra = 0


class SupplementInline(ReadOnlyMixin, admin.TabularInline):
    model = SupplementRequest
    fields = ["requested_at", "reason", "answered_at"]
    readonly_fields = fields
    extra = 0


class PaymentInline(ReadOnlyMixin, admin.TabularInline):
    model = Payment
    fields = ["requested_at", "amount", "reason", "backend", "reference", "paid_at", "receipt"]
    readonly_fields = fields
    extra = 0


class AttachmentInline(ReadOnlyMixin, admin.TabularInline):
    model = Attachment
    fk_name = "dossier"
    fields = ["kind", "original_name", "media_type", "size", "sha256", "uploaded_at"]
    readonly_fields = fields
    extra = 0


@admin.register(Dossier)
class DossierAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "code",
        "procedure",
        "applicant_name",
        "status",
        "channel",
        "current_agency",
        "due_at",
    ]
    list_filter = ["status", "channel"]
    search_fields = ["code", "applicant_name", "origin_code"]
    list_select_related = ["procedure", "current_agency"]
    show_full_result_count = False
    raw_id_fields = [
        "procedure",
        "receiving_agency",
        "current_agency",
        "applicant",
        "remote_agency",
    ]
    inlines = [EventInline, SupplementInline, PaymentInline, AttachmentInline]


@admin.register(DossierCounter)
class DossierCounterAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["agency", "day", "last"]
    list_select_related = ["agency"]


@admin.register(AppliedEnvelope)
class AppliedEnvelopeAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["envelope_id", "type", "outcome", "dossier", "applied_at"]
    list_filter = ["type", "outcome"]
    search_fields = ["envelope_id"]


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Online payment attempts; ``surplus`` ones are money taken twice, to refund
    (``refunded`` once given back: the back office's "Payments to refund")."""

    list_display = [
        "reference",
        "backend",
        "state",
        "payment",
        "started_at",
        "closed_at",
        "receipt",
        "refunded_at",
        "refund_reference",
    ]
    list_filter = ["state", "backend"]
    list_select_related = ["payment"]
    search_fields = ["reference", "receipt", "payment__dossier__code", "refund_reference"]
