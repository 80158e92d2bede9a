from django.apps import AppConfig


class DisclosuresConfig(AppConfig):
    name = "pledge.disclosures"
    label = "disclosures"
    verbose_name = "Disclosures"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Recipients that received a customer's data are told of an erasure (GDPR Art 19) and of
        # a consent withdrawal (recipients must stop too): disclosures/notices.py.
        from pledge.consent.services import WITHDRAWAL_HOOKS
        from pledge.disclosures.notices import (
            tell_recipients_of_erasure,
            tell_recipients_of_withdrawal,
        )
        from pledge.vault.erasure import ERASURE_HOOKS

        if tell_recipients_of_erasure not in ERASURE_HOOKS:
            ERASURE_HOOKS.append(tell_recipients_of_erasure)
        if tell_recipients_of_withdrawal not in WITHDRAWAL_HOOKS:
            WITHDRAWAL_HOOKS.append(tell_recipients_of_withdrawal)
