from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """Holds the project-wide commands (serve, load_demo) and the health check."""

    name = "config"
    label = "assessor"
