from django.apps import AppConfig


class RightsConfig(AppConfig):
    name = "pledge.rights"
    label = "rights"
    verbose_name = "Data-subject requests"
    default_auto_field = "django.db.models.BigAutoField"
