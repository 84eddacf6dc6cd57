from django.apps import AppConfig


class LienThongConfig(AppConfig):
    """The project package itself: base templates, static files, translations, checks."""

    name = "lienthong"
    verbose_name = "Liên Thông"

    def ready(self) -> None:
        from lienthong import checks  # noqa: F401  (registers the system checks)
