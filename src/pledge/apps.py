from django.apps import AppConfig


class PledgeConfig(AppConfig):
    """The project itself, registered so its cross-app commands (`pledge demo`) are found."""

    name = "pledge"
    label = "pledge"
    verbose_name = "Pledge"
