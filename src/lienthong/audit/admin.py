"""Audit in the admin: every change made through an AuditedModelAdmin is recorded,
and the trail itself is readable but never editable."""

from __future__ import annotations

from django.contrib import admin
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from lienthong.audit import services
from lienthong.audit.models import AuditRecord

ADMIN_SOURCE = "admin"


class AuditedModelAdmin(admin.ModelAdmin):
    """A ModelAdmin whose saves and deletes write audit records in the same transaction."""

    def save_model(self, request, obj, form, change):
        before = {}
        if change:
            stored = type(obj)._default_manager.filter(pk=obj.pk).first()
            before = services.snapshot(stored) if stored is not None else {}
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            changes = services.diff(before, services.snapshot(obj))
            if change and not changes:
                return  # saved unchanged: nothing happened worth a record
            services.record(
                actor=request.user,
                action=AuditRecord.Action.UPDATE if change else AuditRecord.Action.CREATE,
                obj=obj,
                changes=changes,
                source=ADMIN_SOURCE,
            )

    def delete_model(self, request, obj):
        with transaction.atomic():
            self._record_delete(request, obj)
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for obj in queryset:
                self._record_delete(request, obj)
            super().delete_queryset(request, queryset)

    def _record_delete(self, request, obj) -> None:
        services.record(
            actor=request.user,
            action=AuditRecord.Action.DELETE,
            obj=obj,
            changes=services.diff(services.snapshot(obj), {}),
            source=ADMIN_SOURCE,
        )


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """Records that are evidence (audit trail, message log): seen, never edited here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyModelAdmin):
    list_display = [
        "at",
        "actor_label",
        "action",
        "object_type",
        "object_repr",
        "source",
        "ip_address",
    ]
    list_filter = ["action", "source", "object_type"]
    search_fields = ["actor_label", "object_repr", "object_id", "request_id"]
    date_hierarchy = "at"
    readonly_fields = [f.name for f in AuditRecord._meta.fields]


admin.site.site_header = _("Liên Thông administration")
admin.site.site_title = _("Liên Thông")
