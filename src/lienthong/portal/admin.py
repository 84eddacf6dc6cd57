"""The admin lists the citizens' ratings (per agency) and signed declarations; it
changes nothing: both are the citizen's own, written only through their services."""

from django.contrib import admin

from lienthong.portal.models import DeclarationSignature, Rating


class ReadOnly:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Rating)
class RatingAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["dossier", "agency", "score", "created_at", "updated_at"]
    list_filter = ["agency", "created_at"]
    search_fields = ["dossier__code", "agency__identifier", "agency__name", "comment"]
    list_select_related = ["dossier", "agency"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "dossier",
        "citizen",
        "agency",
        "answers",
        "score",
        "comment",
        "created_at",
        "updated_at",
    ]


@admin.register(DeclarationSignature)
class DeclarationSignatureAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["dossier", "signer", "level", "signed_at"]
    search_fields = ["dossier__code", "signer", "certificate_sha256"]
    list_select_related = ["dossier"]
    readonly_fields = [
        "dossier",
        "attachment",
        "signer",
        "certificate_sha256",
        "level",
        "signed_at",
    ]
