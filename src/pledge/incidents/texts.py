"""The free texts of an incident: the shop's own words about its systems (nature, actors, place,
consequences, measures, advice, timeline notes, reasons for a late report).

Decision (docs/incidents.md): these texts are stored in plain text, because the register must
outlive any customer's erasure (GDPR Art 33(5); Decree 356/2025 Art 28) and the texts go into the
report to the authority. So they must not hold personal data: a text in which the personal-data
hint of the complaints desk (`complaints/pii.py`) finds an email address, a phone, card or ID
number is refused, with no override, and staff are asked to describe roles and systems ("a sales
staff session", "an external attacker"), never people. Names cannot be detected; the form says so.
"""

from __future__ import annotations

import unicodedata

from pledge.complaints.pii import personal_data_hints
from pledge.vault.errors import Problem, VaultError

MAX_LENGTH = 5000


class IncidentInvalid(VaultError):
    status = 422
    code = "incident-invalid"
    title = "Invalid incident"


def clean_text(name: str, value: object, *, required: bool = False) -> str:
    """NFC, trimmed, within MAX_LENGTH, no control characters but newlines and tabs, and nothing
    that looks like personal data."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise IncidentInvalid(
            f"{name} must be text, not {type(value).__name__}",
            [Problem(name, "type", "not text")],
        )
    text = unicodedata.normalize("NFC", value).strip()
    if required and not text:
        raise IncidentInvalid(f"{name} is required", [Problem(name, "required", "write it")])
    if len(text) > MAX_LENGTH:
        raise IncidentInvalid(
            f"{name} is longer than {MAX_LENGTH} characters",
            [Problem(name, "too_long", f"at most {MAX_LENGTH} characters")],
        )
    if any(unicodedata.category(c) == "Cc" and c not in "\n\r\t" for c in text):
        raise IncidentInvalid(
            f"{name} contains control characters",
            [Problem(name, "control_characters", "remove control characters")],
        )
    hints = personal_data_hints(text)
    if hints:
        # The refusal names the kinds, never the match (it must not repeat the data).
        raise IncidentInvalid(
            f"{name} seems to hold personal data ({', '.join(hints)}): the register is kept in "
            "plain text; describe roles and systems, not people",
            [Problem(name, "personal_data", ", ".join(hints))],
        )
    return text
