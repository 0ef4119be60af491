from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = "Cases and evidence"

    def ready(self) -> None:
        from audit import naming

        from . import signals  # noqa: F401  (forget a case's cached page when it changes)
        from .naming import candidate_names, composite_names, membership_names, sketch_names

        naming.register("witnesssketch", sketch_names)
        naming.register("composite", composite_names)
        naming.register("candidatephoto", candidate_names)
        naming.register("casemembership", membership_names)
