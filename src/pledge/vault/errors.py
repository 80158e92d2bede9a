"""What the vault says when it refuses. Each error names the field and the rule; the API turns it
into an RFC 9457 problem document, the console into a message. Never a personal value inside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    field: str | None
    rule: str
    message: str

    def as_dict(self) -> dict[str, str | None]:
        return {"field": self.field, "rule": self.rule, "message": self.message}


class VaultError(Exception):
    status = 400
    code = "vault-error"
    title = "The vault refused the request"

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems)


class NotFound(VaultError):
    status = 404
    code = "not-found"
    title = "Not found"


class AccessRefused(VaultError):
    """The actor may not use this purpose, or may not see these fields (P06, P09)."""

    status = 403
    code = "access-refused"
    title = "Access refused by the privacy policy"


class FieldsRefused(VaultError):
    """Fields the policy does not declare for the purpose (P01)."""

    status = 422
    code = "field-not-declared"
    title = "Field not declared for this purpose"


class ValuesInvalid(VaultError):
    status = 422
    code = "invalid-value"
    title = "Invalid value"


class ConsentRequired(VaultError):
    """The purpose's legal basis is consent and there is no live consent (P04)."""

    status = 403
    code = "consent-required"
    title = "Consent required"


class PolicyNotInForce(VaultError):
    status = 503
    code = "no-policy"
    title = "No privacy policy in force"


class ProcessingRestricted(VaultError):
    """Processing of this customer's data is restricted (GDPR Art 18; Decree 356 Art 5), or the
    customer was erased and only what a legal hold keeps may be used, for that hold's purpose."""

    status = 403
    code = "processing-restricted"
    title = "Processing of this customer's data is restricted"
