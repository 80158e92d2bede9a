from django.apps import AppConfig


class APIConfig(AppConfig):
    name = "pledge.api"
    label = "api"
    verbose_name = "API"
    default_auto_field = "django.db.models.BigAutoField"
