from django.apps import AppConfig


class DemoShopConfig(AppConfig):
    name = "pledge.demoshop"
    label = "demoshop"
    verbose_name = "DemoShop"
    default_auto_field = "django.db.models.BigAutoField"
