from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lienthong.audit.admin import ADMIN_SOURCE, AuditedModelAdmin
from lienthong.identity import notify, recovery, sessions
from lienthong.identity.forms import ResetFactorsForm
from lienthong.identity.models import Account, OfficerRole, Passkey, TotpDevice


@admin.register(Account)
class AccountAdmin(AuditedModelAdmin):
    list_display = ["display_name", "kind", "personal_id", "tax_code", "user", "sms_enabled"]
    list_filter = ["kind", "sms_enabled"]
    search_fields = ["display_name", "personal_id", "tax_code", "user__username", "email"]
    raw_id_fields = ["user"]
    # Second factors are the user's own to set up, never an administrator's.
    readonly_fields = ["sms_enabled", "created_at"]
    actions = ["reset_second_factors"]

    @admin.action(
        description=gettext_lazy("Reset the second factors (the holder lost them all)"),
        permissions=["change"],
    )
    def reset_second_factors(self, request, queryset):
        """Operator-assisted recovery (lienthong.identity.recovery): a fresh step-up,
        then a confirmation page that asks how the holder's identity was checked."""
        if not sessions.recently_verified(request):
            self.message_user(
                request,
                _("Confirm it is you, then choose the action again."),
                messages.WARNING,
            )
            back = reverse("admin:identity_account_changelist")
            return redirect(f"{reverse('identity:step-up')}?{urlencode({'next': back})}")
        form = ResetFactorsForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            for account in queryset.select_related("user"):
                try:
                    removed = recovery.reset_factors(
                        actor=request.user,
                        user=account.user,
                        reason=form.cleaned_data["reason"],
                        source=ADMIN_SOURCE,
                    )
                except recovery.RecoveryRefused as exc:
                    self.message_user(request, f"{account}: {exc.message}", messages.ERROR)
                else:
                    self.message_user(
                        request,
                        _("%(account)s: removed %(factors)s.")
                        % {"account": account, "factors": ", ".join(removed) or "—"},
                        messages.SUCCESS,
                    )
            notify.wait(timeout=5)
            return None
        return TemplateResponse(
            request,
            "admin/identity/account/reset_factors.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Reset the second factors"),
                "opts": self.model._meta,
                "accounts": [(a, recovery.factors_of(a.user)) for a in queryset],
                "form": form,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            },
        )


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
