from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def create_cache_table(using: str = "default", **kwargs) -> None:
    """Make the database cache's table (LIENTHONG_CACHE_URL=database, the default).

    Run after every ``lienthong migrate``: the table is not a model, so no
    migration makes it, and a node switched from Redis back to the database
    gets it on its next migrate. ``createcachetable`` skips existing tables.
    Lockout and rate limits count in this cache, hence its home here.
    """
    from django.core.management import call_command

    call_command("createcachetable", database=using, verbosity=0)


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
        post_migrate.connect(create_cache_table, sender=self)
