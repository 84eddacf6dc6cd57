"""The catalogue and the holiday table in the Django admin. Every change is audited."""

from django.contrib import admin

from lienthong.audit.admin import AuditedModelAdmin
from lienthong.catalog.models import (
    Fee,
    FormField,
    Holiday,
    HolidaySource,
    InterconnectedProcedure,
    InterconnectedStep,
    Procedure,
    ProcedureField,
    RequiredDocument,
)


@admin.register(ProcedureField)
class ProcedureFieldAdmin(AuditedModelAdmin):
    list_display = ["code", "name", "name_en"]
    search_fields = ["code", "name", "name_en"]


class FormFieldInline(admin.TabularInline):
    model = FormField
    extra = 0


class DocumentInline(admin.TabularInline):
    model = RequiredDocument
    extra = 0


class FeeInline(admin.TabularInline):
    model = Fee
    extra = 0


@admin.register(Procedure)
class ProcedureAdmin(AuditedModelAdmin):
    list_display = [
        "code",
        "name",
        "field",
        "level",
        "authority_kind",
        "online_level",
        "time_limit",
    ]
    list_filter = ["field", "level", "authority_kind", "online_level", "is_active"]
    search_fields = ["code", "name", "search_text"]
    raw_id_fields = ["agencies"]
    inlines = [FormFieldInline, DocumentInline, FeeInline]


class StepInline(admin.TabularInline):
    model = InterconnectedStep
    extra = 0
    raw_id_fields = ["procedure"]


@admin.register(InterconnectedProcedure)
class InterconnectedProcedureAdmin(AuditedModelAdmin):
    list_display = ["code", "name", "online_level", "is_active"]
    search_fields = ["code", "name", "search_text"]
    inlines = [StepInline]


@admin.register(Holiday)
class HolidayAdmin(AuditedModelAdmin):
    """Operators amend the year's days off here (the Government announces them yearly)."""

    list_display = ["date", "name", "kind", "source"]
    list_filter = ["kind", "source"]
    date_hierarchy = "date"
    search_fields = ["name", "name_en"]
    readonly_fields = ["source"]

    def save_model(self, request, obj, form, change):
        # An amended row is the operator's from now on: a reload keeps it.
        obj.source = HolidaySource.OPERATOR
        super().save_model(request, obj, form, change)
