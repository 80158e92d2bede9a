from django.apps import AppConfig


class RightsConfig(AppConfig):
    name = "pledge.rights"
    label = "rights"
    verbose_name = "Data-subject requests"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from pledge.rights.services import forget_request_texts
        from pledge.vault.erasure import ERASURE_HOOKS

        if forget_request_texts not in ERASURE_HOOKS:
            ERASURE_HOOKS.append(forget_request_texts)
