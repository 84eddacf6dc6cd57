from django.contrib import admin

from lienthong.audit.admin import AuditedModelAdmin
from lienthong.identity.models import Account, OfficerRole, Passkey, TotpDevice


@admin.register(Account)
class AccountAdmin(AuditedModelAdmin):
    list_display = ["display_name", "kind", "personal_id", "tax_code", "user", "sms_enabled"]
    list_filter = ["kind", "sms_enabled"]
    search_fields = ["display_name", "personal_id", "tax_code", "user__username", "email"]
    raw_id_fields = ["user"]
    # Second factors are the user's own to set up, never an administrator's.
    readonly_fields = ["sms_enabled", "created_at"]


@admin.register(OfficerRole)
class OfficerRoleAdmin(AuditedModelAdmin):
    list_display = ["user", "role", "agency", "granted_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "agency__identifier", "agency__name"]
    raw_id_fields = ["user"]
    autocomplete_fields = ["agency"]


@admin.register(Passkey)
class PasskeyAdmin(AuditedModelAdmin):
    """Seen and revoked (a lost device) here; registered only by their owner."""

    list_display = ["name", "user", "created_at", "last_used_at"]
    search_fields = ["name", "user__username"]
    readonly_fields = ["user", "name", "created_at", "last_used_at", "sign_count"]

    def has_add_permission(self, request):
        return False


@admin.register(TotpDevice)
class TotpDeviceAdmin(AuditedModelAdmin):
    """Seen and removed (a user who lost the device and every backup code); never set here."""

    list_display = ["user", "confirmed", "created_at"]
    search_fields = ["user__username"]
    readonly_fields = ["user", "confirmed", "created_at"]

    def has_add_permission(self, request):
        return False
