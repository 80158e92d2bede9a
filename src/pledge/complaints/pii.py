"""Does a staff note look like it holds personal data? (issue 7 item 3; P02, P09)

Internal notes are encrypted under the customer's key like everything else, but a note is free
text that travels: copied into a handover, read aloud, pasted into a chat. Staff are asked to
write "called the customer back" rather than the number they called. The check is a nudge, not a
filter: it returns what it saw, and the form asks the staff member to confirm or rewrite. It never
echoes the match itself (the warning must not repeat the data).
"""

from __future__ import annotations

import re

from pledge.vault.payments import luhn_valid

# An email address, loosely: anything@anything.tld.
_EMAIL = re.compile(r"[^\s@<>()\[\],;:\"']+@[^\s@<>()\[\],;:\"']+\.[A-Za-z]{2,}")
# A run of 9 or more digits, allowing the separators people type in numbers.
_DIGITS = re.compile(r"(?<![\d])\+?\d[\d .\-()]{7,}\d(?![\d])")


def _kinds_of(run: str) -> set[str]:
    digits = re.sub(r"\D", "", run)
    international = run.strip().startswith("+")
    if len(digits) < (8 if international else 9):
        return set()  # dates, times, amounts, order numbers
    if 13 <= len(digits) <= 19 and luhn_valid(digits):
        return {"card"}  # a payment card number (PCI DSS: never in free text)
    if international or (len(digits) == 10 and digits.startswith("0")):
        return {"phone"}  # 0 + 9 digits in Vietnam; +84 … and other countries
    if len(digits) == 11 and digits.startswith("84"):
        return {"phone"}
    if len(digits) in (9, 12):
        return {"id_number"}  # CMND (9 digits) or CCCD (12 digits)
    return {"phone"} if len(digits) <= 15 else set()


def personal_data_hints(text: str) -> list[str]:
    """The kinds of personal data the text seems to hold: "email", "phone", "card",
    "id_number"; sorted, each once. Empty when nothing looks personal."""
    found: set[str] = set()
    if _EMAIL.search(text):
        found.add("email")
    for match in _DIGITS.finditer(text):
        found |= _kinds_of(match.group(0))
    return sorted(found)
