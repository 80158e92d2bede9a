"""Jurisdiction profiles: the legal rules Pledge applies, as data files that cite their articles.

The rules change over time and between countries (LAW.md), so they live in
`policy/jurisdictions/*.yaml`, where a lawyer can correct a deadline or a citation without touching
code. A shop's policy names the profiles it is subject to; where several apply, the strictest rule
wins, and where the shop promises more than the law (a 24-hour complaint answer), the promise wins.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Annotated, Literal

from pydantic import Field, ValidationError, model_validator

from pledge.policy.schema import Date, Short, Slug, Strict_, Text
from pledge.policy.vocabulary import PeriodStart, RecordKind
from pledge.policy.yamlio import parse_yaml

DeadlineUnit = Literal[
    "hours", "working_hours", "days", "working_days", "months", "without_undue_delay"
]


class Citation(Strict_):
    """A rule that is a duty rather than a deadline; `article` says where it comes from."""

    article: Text
    summary: Text


class Deadline(Strict_):
    amount: Annotated[int, Field(gt=0, le=10_000)] | None = None
    unit: DeadlineUnit
    # A longer deadline when a processor is involved (Decree 356 Art 5).
    with_processor: Annotated[int, Field(gt=0, le=10_000)] | None = None
    # One extension of this length may be taken, with a reason sent to the customer.
    extension: Annotated[int, Field(gt=0, le=10_000)] | None = None
    starts: Literal["receipt", "detection", "awareness"] = "receipt"
    article: Text
    summary: Text

    @model_validator(mode="after")
    def _amount(self) -> Deadline:
        if (self.amount is None) != (self.unit == "without_undue_delay"):
            raise ValueError("give an amount, unless the unit is without_undue_delay")
        return self


class RequestDeadlines(Strict_):
    acknowledge: Deadline | None = None
    access: Deadline
    rectification: Deadline
    portability: Deadline
    erasure: Deadline
    restriction: Deadline
    objection: Deadline
    withdraw_consent: Deadline


class BreachDeadlines(Strict_):
    authority: Deadline
    data_subjects: Deadline | None = None
    # Consumer Protection Law: a shop whose system is attacked tells the authority within 24 h.
    system_attack_authority: Deadline | None = None
    record_every_breach: Citation | None = None
    report_contents: Citation | None = None


class ComplaintDeadlines(Strict_):
    acknowledge: Deadline
    negotiate: Deadline | None = None


class RetentionHold(Strict_):
    """Data the law makes the shop keep, e.g. invoices for 10 years (Accounting Law Art 41)."""

    key: Slug
    records: list[RecordKind] = Field(min_length=1)
    amount: Annotated[int, Field(gt=0, le=100)]
    unit: Literal["years", "months"]
    start: PeriodStart
    article: Text
    summary: Text


NoticeItem = Literal[
    "purposes",
    "data_types",
    "processing_methods",
    "recipients",
    "consequences",
    "retention",
    "controller",
    "rights",
    "complaints",
]


class NoticeRule(Strict_):
    items: list[NoticeItem] = Field(min_length=1)
    article: Text
    summary: Text


class SensitiveRule(Strict_):
    categories: list[Short] = Field(min_length=1)
    article: Text
    summary: Text


class ConsentRules(Strict_):
    per_purpose: Citation
    withdrawal: Citation
    marketing_requires_consent: Citation | None = None
    cookies_prior_consent: Citation | None = None
    proof: Citation | None = None


class ErasureRules(Strict_):
    refusal_grounds: Citation
    identity_verification: Citation


class Profile(Strict_):
    """One jurisdiction's rules, each citing its article."""

    key: Slug
    name: Text
    status: Literal["current", "historic"]
    in_force_from: Date
    in_force_until: Date | None = None
    authority: Text
    note: Text | None = None
    requests: RequestDeadlines
    breach: BreachDeadlines
    complaints: ComplaintDeadlines | None = None
    retention_holds: list[RetentionHold] = Field(default_factory=list)
    storage_limitation: Citation
    consent: ConsentRules
    sensitive_data: SensitiveRule | None = None
    notice: NoticeRule
    erasure: ErasureRules
    portability: Citation | None = None


class ProfileError(Exception):
    pass


def profile_names() -> list[str]:
    folder = resources.files("pledge.policy") / "jurisdictions"
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


@cache
def load_profile(key: str) -> Profile:
    if key not in profile_names():
        raise ProfileError(
            f"unknown jurisdiction profile {key!r}; known: {', '.join(profile_names())}"
        )
    raw = (resources.files("pledge.policy") / "jurisdictions" / f"{key}.yaml").read_bytes()
    try:
        profile = Profile.model_validate(parse_yaml(raw, what="jurisdiction profile").data)
    except ValidationError as exc:  # a broken bundled profile is a bug in Pledge, say so plainly
        raise ProfileError(f"jurisdiction profile {key!r} is invalid: {exc}") from None
    if profile.key != key:
        raise ProfileError(f"jurisdiction profile file {key}.yaml declares key {profile.key!r}")
    return profile
