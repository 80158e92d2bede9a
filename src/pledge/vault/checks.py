"""System checks of the vault's deployment settings (`pledge check --deploy`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register


@register(Tags.security, deploy=True)
def check_payment_gateway(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    if settings.PLEDGE_PAYMENT_GATEWAY:
        return []
    return [
        Warning(
            "PLEDGE_PAYMENT_GATEWAY is not set: card payments go to the offline test gateway, "
            "which approves valid cards and charges nothing.",
            hint="Set it to the dotted path of your payment provider's adapter.",
            id="pledge.W001",
        )
    ]
