from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AnnotateConfig(AppConfig):
    name = "annotate"

    def ready(self):
        from .roles import on_post_migrate

        # After annotate's own migrations (and after a test database flush), with its permissions.
        post_migrate.connect(on_post_migrate, sender=self, dispatch_uid="annotate.roles_ensure")
