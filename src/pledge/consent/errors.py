"""What the consent services refuse, with the field and rule a 4xx answer names."""

from __future__ import annotations


class ConsentError(Exception):
    """Bad input to a consent service: nothing was written. `field` and `rule` say what."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None, rule: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.rule = rule


class UnknownPurpose(ConsentError):
    """The purpose is not declared by the policy in force (or not a cookie category of it)."""

    def __init__(self, message: str, *, field: str | None = "purpose") -> None:
        super().__init__(message, field=field, rule="purpose_undeclared")


class NoPolicy(ConsentError):
    """No policy is in force: there is nothing to consent to."""

    status = 409

    def __init__(self) -> None:
        super().__init__(
            "no privacy policy is in force: publish one with `pledge policy publish`",
            rule="no_policy",
        )
