"""Validation and normalisation of field values before they are encrypted or indexed.

Vietnamese text arrives in both NFC and NFD (a precomposed "ễ" or "e" + two combining marks):
every value is NFC-normalised before it is stored, hashed or compared (STYLE.md), so both
spellings of a name or an email find the same customer.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import unicodedata
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

# Fields that get a blind index for exact lookup, and how each is normalised.
INDEXED_FIELDS = ("email", "phone", "guarantee_number", "full_name")

# Fields whose values are not given as text in a collect call: they come from their own service.
DERIVED_FIELDS = {
    "purchase_history": "place an order (POST /api/v1/orders) to record purchases",
    "payment_history": "record a payment through the payment call",
    "card": "send the card through the payment call; it is stored truncated and encrypted",
    "id_document": "upload the document image as a file",
    "password": "passwords are set through the account service, never stored in the vault",
    "complaint_details": "complaints are filed through the complaints desk",
    "staff_notes": "add a staff note through the staff note service",
}

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Half of a UTF-16 pair: not a character, and not encodable as UTF-8.
_E164 = re.compile(r"\+[1-9]\d{6,14}")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_email_validator = EmailValidator()

MAX_TEXT = {
    "full_name": 200,
    "address": 500,
    "delivery_address": 500,
    "company": 200,
    "gender": 50,
    "interests": 2000,
    "marketing_preferences": 2000,
    "device_info": 500,
    "browsing_activity": 10_000,
    "staff_notes": 5000,
    "cookie_id": 200,
}
DEFAULT_MAX_TEXT = 2000


class ValueInvalid(ValueError):
    """A value does not fit its field; the message says what is wrong, never the value."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def clean_text(field: str, value: Any) -> str:
    """A free-text value: NFC, trimmed, within the field's length, no control characters."""
    return _text(field, value)


def _text(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueInvalid("type", f"{field} must be text, not {type(value).__name__}")
    text = nfc(value).strip()
    if not text:
        raise ValueInvalid("required", f"{field} is empty")
    limit = MAX_TEXT.get(field, DEFAULT_MAX_TEXT)
    if len(text) > limit:
        raise ValueInvalid("max_length", f"{field} is longer than {limit} characters")
    if _CONTROL.search(text):
        raise ValueInvalid("control_characters", f"{field} contains control characters")
    if _SURROGATE.search(text):
        raise ValueInvalid("encoding", f"{field} contains an invalid character (lone surrogate)")
    return text


def normalise_email(value: str) -> str:
    return nfc(value).strip().casefold()


def normalise_phone(value: str, region: str) -> str:
    """E.164 (+84912345678); raises ValueInvalid when it is not a valid number."""
    try:
        number = phonenumbers.parse(nfc(value).strip(), region)
    except phonenumbers.NumberParseException:
        raise ValueInvalid("phone_format", "phone is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueInvalid("phone_format", f"phone is not a valid number (region {region})")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_guarantee_number(value: str) -> str:
    return re.sub(r"[\s\-./]", "", nfc(value).strip()).upper()


def normalise_name(value: str) -> str:
    return " ".join(nfc(value).casefold().split())


def plain_text(field: str, value: Any, max_length: int, *, required: bool = True) -> str:
    """A non-personal text column (order number, product, reference): same hygiene as values."""
    if not isinstance(value, str):
        raise ValueInvalid("type", f"{field} must be text")
    text = nfc(value).strip()
    if required and not text:
        raise ValueInvalid("required", f"{field} is empty")
    if len(text) > max_length:
        raise ValueInvalid("max_length", f"{field} is longer than {max_length} characters")
    if _CONTROL.search(text) or "\n" in text or "\r" in text or _SURROGATE.search(text):
        raise ValueInvalid("control_characters", f"{field} contains control characters")
    return text


def index_value(field: str, value: str, region: str) -> str:
    """The normalised form of a (cleaned) value that its blind index is computed from."""
    if field == "email":
        return normalise_email(value)
    if field == "phone":
        # Stored phones are already E.164 (clean_value): no second parse on the write path.
        if _E164.fullmatch(value):
            return value
        return normalise_phone(value, region)
    if field == "guarantee_number":
        return normalise_guarantee_number(value)
    if field == "full_name":
        return normalise_name(value)
    raise KeyError(field)


def clean_value(field: str, value: Any, *, region: str) -> Any:
    """Validate and normalise one value; the stored form is what this returns."""
    if field in DERIVED_FIELDS:
        raise ValueInvalid(
            "derived_field", f"{field} cannot be set directly: {DERIVED_FIELDS[field]}"
        )
    if field == "email":
        text = _text(field, value)
        if len(text) > 254:
            raise ValueInvalid("max_length", "email is longer than 254 characters")
        try:
            _email_validator(text)
        except ValidationError:
            raise ValueInvalid("email_format", "email is not an email address") from None
        return text
    if field == "phone":
        return normalise_phone(_text(field, value), region)
    if field == "date_of_birth":
        text = _text(field, value)
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise ValueInvalid(
                "date_format", "date_of_birth must be a date as YYYY-MM-DD"
            ) from None
        if not dt.date(1900, 1, 1) <= day <= dt.date.today():  # noqa: DTZ011 - a calendar date
            raise ValueInvalid("date_range", "date_of_birth must be between 1900 and today")
        return day.isoformat()
    if field == "ip_address":
        text = _text(field, value)
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            raise ValueInvalid("ip_format", "ip_address is not an IP address") from None
    if field == "guarantee_number":
        text = _text(field, value)
        if not re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z\s\-./]{0,63}", text):
            raise ValueInvalid(
                "guarantee_format", "guarantee_number must be 1-64 letters, digits, - . /"
            )
        return text
    return _text(field, value)
