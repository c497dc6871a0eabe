from django.apps import AppConfig


class DistillConfig(AppConfig):
    name = "distill"
