"""The directory in the Django admin, for node operators. Every change is audited."""

from django.contrib import admin

from lienthong.audit.admin import AuditedModelAdmin
from lienthong.directory.models import AdministrativeUnit, Agency, Node, PostalCode


@admin.register(AdministrativeUnit)
class AdministrativeUnitAdmin(AuditedModelAdmin):
    list_display = ["code", "name", "level", "division_type", "parent", "valid_from", "valid_to"]
    list_filter = ["level", "division_type", "valid_to"]
    search_fields = ["code", "name", "search_name"]
    raw_id_fields = ["parent"]
    list_select_related = ["parent"]


@admin.register(Node)
class NodeAdmin(AuditedModelAdmin):
    list_display = ["identifier", "name", "role", "base_url", "is_active"]
    list_filter = ["role", "is_active"]
    search_fields = ["identifier", "name"]


@admin.register(Agency)
class AgencyAdmin(AuditedModelAdmin):
    list_display = [
        "identifier",
        "name",
        "kind",
        "identifier_generated",
        "unit",
        "node",
        "is_active",
    ]
    list_filter = ["kind", "identifier_generated", "is_active", "node"]
    search_fields = ["identifier", "name", "search_name"]
    raw_id_fields = ["parent", "unit"]
    list_select_related = ["unit", "node"]


@admin.register(PostalCode)
class PostalCodeAdmin(AuditedModelAdmin):
    list_display = ["code", "unit", "label"]
    search_fields = ["code", "label", "unit__name"]
    raw_id_fields = ["unit"]
    list_select_related = ["unit"]
