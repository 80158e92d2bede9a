from django.apps import AppConfig


class ComplaintsConfig(AppConfig):
    name = "pledge.complaints"
    label = "complaints"
    verbose_name = "Complaints"
    default_auto_field = "django.db.models.BigAutoField"
