from django.contrib import admin

from lienthong.approvals.models import ApprovalRequest, PairedDevice


@admin.register(PairedDevice)
class PairedDeviceAdmin(admin.ModelAdmin):
    """Read-only: a phone is paired and unpaired by its owner, with their passkey."""

    list_display = ["name", "user", "created_at", "last_used_at", "revoked_at"]
    search_fields = ["name", "user__username"]
    fields = ["user", "name", "aaguid", "sign_count", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(admin.ModelAdmin):
    """Read-only: the record of what was asked and answered."""

    list_display = ["id", "user", "kind", "state", "created_at", "expires_at", "consumed_at"]
    list_filter = ["kind", "state"]
    search_fields = ["id", "user__username"]
    fields = [
        "id", "user", "kind", "summary", "hashes", "state", "source", "requesting_ip",
        "requesting_user_agent", "created_at", "expires_at", "answered_at", "consumed_at",
        "device",
    ]  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
