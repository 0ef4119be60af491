from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads from photo galleries"

    def ready(self) -> None:
        from audit import naming

        from . import signals  # noqa: F401  (forget the menu's links when grants change)
        from .naming import gallery_names, photo_names, search_names

        naming.register("gallery", gallery_names)
        naming.register("galleryphoto", photo_names)
        naming.register("leadsearch", search_names)
