"""The admin shows credentials and tokens; it never shows or changes key material.

Credentials are created and certified through the services (the account
page, ``lienthong signing``), so every change is audited there.
"""

from django.contrib import admin

from lienthong.signing.models import AccessToken, ProviderLink, SigningCredential


@admin.register(SigningCredential)
class SigningCredentialAdmin(admin.ModelAdmin):
    list_display = ("credential_id", "user", "status", "subject", "not_after")
    list_filter = ("status",)
    search_fields = ("credential_id", "subject", "fingerprint_sha256", "user__username")
    fields = (
        "credential_id",
        "user",
        "label",
        "status",
        "key_algorithm",
        "subject",
        "issuer",
        "serial_number",
        "fingerprint_sha256",
        "not_before",
        "not_after",
        "created_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AccessToken)
class AccessTokenAdmin(admin.ModelAdmin):
    list_display = ("client_name", "user", "created_at", "expires_at", "revoked_at", "last_used_at")
    fields = ("client_name", "user", "created_at", "expires_at", "revoked_at", "last_used_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ProviderLink)
class ProviderLinkAdmin(admin.ModelAdmin):
    """Who linked their account at the external signing service; never the tokens."""

    list_display = ("user", "service_url", "method", "created_at", "expires_at", "revoked_at")
    list_filter = ("method",)
    fields = (
        "user",
        "service_url",
        "method",
        "created_at",
        "expires_at",
        "refreshed_at",
        "revoked_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
