from django.apps import AppConfig


class VaultConfig(AppConfig):
    name = "pledge.vault"
    label = "vault"
    verbose_name = "Vault"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from pledge.vault import checks  # noqa: F401 - registers the system checks
