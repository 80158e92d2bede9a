from django.apps import AppConfig


class VaultConfig(AppConfig):
    name = "pledge.vault"
    label = "vault"
    verbose_name = "Vault"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from pledge.notify.sealing import register_customer_keys
        from pledge.vault import checks  # noqa: F401 - registers the system checks
        from pledge.vault.store import OutboxCustomerKeys

        # Outbox messages about a customer are sealed under that customer's data key, so an
        # erasure makes them unreadable in database backups too (notify/sealing.py).
        register_customer_keys(OutboxCustomerKeys())
