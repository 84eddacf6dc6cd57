from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IdentityConfig(AppConfig):
    name = "lienthong.identity"
    label = "identity"
    verbose_name = _("Identity")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib import admin

        from lienthong.identity import checks  # noqa: F401  (registers the system checks)
        from lienthong.identity.sessions import admin_login

        # One sign-in for everyone: the admin's password-only form would let
        # staff around the second factor.
        admin.site.login = admin_login
