from django.apps import AppConfig


class ComplaintsConfig(AppConfig):
    name = "pledge.complaints"
    label = "complaints"
    verbose_name = "Complaints"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Evidence files are encrypted under the customer's key but live outside the vault's
        # tables: erasing the customer deletes them (P18), re-keying re-encrypts them (P20).
        from pledge.complaints.evidence import erase_evidence, rekey_evidence
        from pledge.vault.erasure import ERASURE_HOOKS
        from pledge.vault.rekey import REKEY_HOOKS

        if erase_evidence not in ERASURE_HOOKS:
            ERASURE_HOOKS.append(erase_evidence)
        if rekey_evidence not in REKEY_HOOKS:
            REKEY_HOOKS.append(rekey_evidence)
