from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApprovalsConfig(AppConfig):
    name = "lienthong.approvals"
    label = "approvals"
    verbose_name = _("Approvals on the phone")
    default_auto_field = "django.db.models.BigAutoField"
