"""Masks for values a purpose may see but does not need whole (P09: masked by default).

A mask keeps just enough to recognise the value when talking to its owner ("is your number the one
ending in 979?") and never enough to use it.
"""

from __future__ import annotations

from typing import Any

DOT = "•"


def mask_text(text: str) -> str:
    """Keep the first letter of each word: "Nguyễn Văn An" -> "N••• V•• A•"."""
    return " ".join(w[0] + DOT * max(1, min(len(w) - 1, 3)) for w in text.split())


def mask_email(text: str) -> str:
    local, _, domain = text.partition("@")
    head, _, tld = domain.rpartition(".")
    masked_domain = (head[:1] + DOT * 3 + "." + tld) if head else DOT * 3
    return f"{local[:1]}{DOT * 3}@{masked_domain}"


def mask_phone(text: str) -> str:
    return DOT * max(0, len(text) - 3) + text[-3:]


def mask_address(text: str) -> str:
    # The last part of an address is usually the city or province: enough to confirm a delivery
    # area, useless for finding a house.
    parts = [p.strip() for p in text.split(",") if p.strip()]
    return (DOT * 3 + ", " + parts[-1]) if len(parts) > 1 else DOT * 3


def mask_tail(text: str, keep: int = 4) -> str:
    return DOT * max(0, len(text) - keep) + text[-keep:]


def card_display(card: dict[str, Any], *, whole: bool) -> str:
    """PCI DSS 3.4.1: at most BIN + last 4 are ever displayed, whole or not."""
    brand = str(card.get("brand", "")).upper()
    last4 = str(card.get("last4", ""))
    if whole:
        return f"{brand} {card.get('bin', '')}{DOT * 2} {DOT * 4} {last4}".strip()
    return f"{brand} {DOT * 4} {last4}".strip()


def mask_value(field: str, value: Any) -> Any:
    if field == "card" and isinstance(value, dict):
        return card_display(value, whole=False)
    if not isinstance(value, str):
        return DOT * 3
    if field == "email":
        return mask_email(value)
    if field == "phone":
        return mask_phone(value)
    if field in ("address", "delivery_address"):
        return mask_address(value)
    if field == "date_of_birth":
        return value[:4] + "-" + DOT * 2 + "-" + DOT * 2
    if field in ("guarantee_number", "id_number", "bank_account"):
        return mask_tail(value)
    if field in ("full_name", "company"):
        return mask_text(value)
    return DOT * 3
