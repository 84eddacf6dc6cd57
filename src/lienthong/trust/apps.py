from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrustConfig(AppConfig):
    name = "lienthong.trust"
    label = "trust"
    verbose_name = _("Trust: certificates and signatures")

    def ready(self) -> None:
        from lienthong.trust import signals  # noqa: F401  (connects the receivers)
