from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SigningConfig(AppConfig):
    name = "lienthong.signing"
    label = "signing"
    verbose_name = _("Remote signing")

    def ready(self) -> None:
        from lienthong.signing import checks  # noqa: F401  (registers the system checks)
