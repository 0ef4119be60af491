from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = "Cases and evidence"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects the login/logout audit receivers)
