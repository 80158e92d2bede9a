"""The pydantic schema of a shop's privacy policy (one YAML file per shop).

Strict by design: an unknown key is an error (so a typo never passes silently), types are not
coerced (a quoted number is not a number), and every cross-reference (a purpose naming a field, a
recipient naming a purpose, a role…) is checked by `references.check_references` with the location
of the offending entry. Texts shown to customers are given in Vietnamese and English.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    model_validator,
)

from pledge.policy.vocabulary import (
    ChannelKind,
    ConsoleCapability,
    CookieCategoryKey,
    DisclosureBasis,
    FieldSource,
    FieldStorage,
    LegalBasis,
    PeriodStart,
    RecipientKind,
    RecordKind,
    RightKind,
    SlaClock,
    Weekday,
)

Key = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$"),
]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
NonEmpty = Annotated[str, StringConstraints(min_length=1, max_length=20_000, strip_whitespace=True)]
Short = Annotated[str, StringConstraints(min_length=1, max_length=300, strip_whitespace=True)]
# YAML gives dates as `date` objects; a quoted ISO date is accepted too.
Date = Annotated[dt.date, Strict(False)]


def _hhmm(value: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError(f"{value!r} is not a time of day as HH:MM (24-hour clock)")
    return value


ClockTime = Annotated[str, AfterValidator(_hhmm)]


class Strict_(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Text(Strict_):
    """A text shown to customers, in each language of the policy page."""

    vi: NonEmpty
    en: NonEmpty

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.vi


class Interval(Strict_):
    start: ClockTime
    end: ClockTime

    @model_validator(mode="after")
    def _ordered(self) -> Interval:
        if self.end <= self.start:
            raise ValueError(f"end {self.end} must be after start {self.start}")
        return self


class OpeningHours(Strict_):
    """Weekly opening hours (hotline hours, P26; working hours of complaint SLAs, P21)."""

    days: list[Weekday] = Field(min_length=1)
    open: ClockTime
    close: ClockTime
    breaks: list[Interval] = Field(default_factory=list)
    # Vietnamese public holidays (including the lunar Tết days) are not working time.
    closed_on_public_holidays: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> OpeningHours:
        if self.close <= self.open:
            raise ValueError(f"close {self.close} must be after open {self.open}")
        if len(set(self.days)) != len(self.days):
            raise ValueError("a day is listed twice")
        for br in self.breaks:
            if br.start < self.open or br.end > self.close:
                raise ValueError(f"break {br.start}-{br.end} lies outside opening hours")
        return self


class Contact(Strict_):
    phone: Short | None = None
    email: Short | None = None
    hotline_hours: OpeningHours | None = None


class Controller(Strict_):
    """Who is responsible for the data and how to reach them (P26; notice item)."""

    legal_name: Short
    trade_name: Short | None = None
    website: Short
    # Optional so a preset can say exactly what its seed says; a missing address is linted.
    address: Text | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    tax_code: Short | None = None
    contact: Contact
    data_protection_contact: Contact | None = None


class PersonalField(Strict_):
    """One kind of personal data the shop collects (P02)."""

    key: Key
    # Required for fields outside the standard vocabulary; defaults from it otherwise.
    category: Short | None = None
    label: Text | None = None
    sensitive: bool | None = None
    source: FieldSource = "customer"
    storage: FieldStorage = "stored"
    records: list[RecordKind] = Field(default_factory=list)
    # Explicit access rule for sensitive data (Decree 356 Art 4): the only staff roles that may
    # ever see this field, whatever their purposes say.
    access_roles: list[Key] | None = None
    note: Text | None = None


class Purpose(Strict_):
    """A purpose of processing with its legal basis (P05, P06)."""

    key: Key
    name: Text
    description: Text
    basis: LegalBasis
    # The fields this purpose may collect (and read).
    fields: list[Key] = Field(default_factory=list)
    # Fields this purpose may read but never collect (collected under another purpose), e.g.
    # answering a state agency's request discloses what was collected for the order.
    read_only: list[Key] = Field(default_factory=list)
    # Fields shown whole for this purpose; everything else is masked (P09).
    unmasked: list[Key] = Field(default_factory=list)
    roles: list[Key] = Field(default_factory=list)
    # Direct marketing: needs consent (PDPL Art 28) and an objection to it is absolute.
    marketing: bool = False
    # What happens if the customer does not give the data (notice item: consequences).
    consequences: Text | None = None

    @model_validator(mode="after")
    def _uses_some_data(self) -> Purpose:
        if not self.fields and not self.read_only:
            raise ValueError("a purpose must collect (`fields`) or read (`read_only`) some data")
        return self


class Role(Strict_):
    key: Key
    name: Text
    description: Text | None = None
    # Console capabilities beyond the role's purposes (P09): who manages staff, who reads the
    # audit log, who may break the glass. Empty: the role only reads for its purposes.
    console: list[ConsoleCapability] = Field(default_factory=list)


class PeriodDuration(Strict_):
    kind: Literal["duration"]
    amount: Annotated[int, Field(gt=0, le=100_000)]
    unit: Literal["days", "months", "years"]
    start: PeriodStart = "collection"


class PeriodUntilCancellation(Strict_):
    """Kept until the customer asks for it to be cancelled or closes the account (seeds B, E)."""

    kind: Literal["until_cancellation"]


class PeriodUntilPurposeEnds(Strict_):
    """'As long as necessary' for the purpose (seed C)."""

    kind: Literal["until_purpose_ends"]


class PeriodPermanent(Strict_):
    """Kept without limit (seed D). Allowed so a preset can say what a seed says; linted."""

    kind: Literal["permanent"]


Period = Annotated[
    PeriodDuration | PeriodUntilCancellation | PeriodUntilPurposeEnds | PeriodPermanent,
    Field(discriminator="kind"),
]


class LegalHold(Strict_):
    """Data the law makes us keep: erasure requests restrict it instead of deleting it."""

    reason: Text
    article: Text


class RetentionRule(Strict_):
    key: Key
    records: list[RecordKind] = Field(min_length=1)
    # Empty: every field held on those records.
    fields: list[Key] = Field(default_factory=list)
    period: Period
    legal_hold: LegalHold | None = None
    description: Text | None = None


class Recipient(Strict_):
    """Someone who may receive customer data (P10, P11)."""

    key: Key
    name: Text
    kind: RecipientKind
    purposes: list[Key] = Field(min_length=1)
    fields: list[Key] = Field(min_length=1)
    basis: DisclosureBasis
    # ISO country code where the recipient processes the data; None when the policy does not say.
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    # Processors act only on the shop's written instructions (seed C, 3.A).
    written_instructions: bool = False
    description: Text | None = None
    # Where the recipient is told that a customer who received data erased it or withdrew consent
    # (GDPR Art 19; PDPL: recipients must stop too). Without an email, staff are given the task.
    contact: Contact | None = None


class CookieService(Strict_):
    key: Key
    name: Text
    provider: Text
    description: Text
    cookies: list[Short] = Field(default_factory=list)
    # How long the cookies live: to the end of the browser session, a number of days, or (when
    # the policy does not say, as seed B) neither, which the page states plainly.
    session: bool = False
    max_age_days: Annotated[int, Field(ge=1, le=3650)] | None = None
    # A web beacon or tracking pixel rather than a cookie (P08).
    beacon: bool = False
    # Whether what it collects can identify a person (P07: ad cookies "completely anonymous").
    identifies_person: bool = False

    @model_validator(mode="after")
    def _one_lifetime(self) -> CookieService:
        if self.session and self.max_age_days is not None:
            raise ValueError("a cookie lives either for the session or max_age_days, not both")
        return self


class CookieCategory(Strict_):
    key: CookieCategoryKey
    description: Text
    # Non-essential cookies need prior consent (LAW.md, Cookies); `false` means they are set
    # until the visitor refuses, which the linter flags.
    prior_consent: bool = True
    services: list[CookieService] = Field(default_factory=list)


class Cookies(Strict_):
    categories: list[CookieCategory] = Field(min_length=1)
    # Global Privacy Control is treated as a refusal of advertising where no choice was made.
    honour_gpc: bool = True
    # Whether the site still works when cookies are refused (no cookie walls).
    refusal_consequences: Text | None = None


class ComplaintSla(Strict_):
    hours: Annotated[int, Field(gt=0, le=10_000)]
    clock: SlaClock


class Channel(Strict_):
    kind: ChannelKind
    value: Short | None = None
    hours: OpeningHours | None = None


class Complaints(Strict_):
    """How complaints are received and how fast they are answered (P21, P22)."""

    channels: list[Channel] = Field(min_length=1)
    # The shop's promise for a first answer (seed A: 24 h; seed B: 24 working hours).
    # None when the policy promises no time (seed D: "quickly"); the law's deadline then applies.
    response: ComplaintSla | None = None
    # Acknowledgement of receipt; defaults to the law's (3 working days, Consumer Protection Law).
    acknowledgement: ComplaintSla | None = None
    # Evidence the customer may attach (seed A: "provide evidence related to the case").
    evidence_accepted: bool = True
    # Compensation according to the damage (seed D).
    compensation: Text | None = None
    # What the shop does after a disclosure complaint: confirm, explain, re-secure (P20).
    remedy: Text | None = None


class RightsChannel(Strict_):
    kind: ChannelKind
    value: Short | None = None
    rights: list[RightKind] = Field(min_length=1)


class Rights(Strict_):
    """How customers check, correct and delete their data (P18)."""

    offered: list[RightKind] = Field(min_length=1)
    channels: list[RightsChannel] = Field(min_length=1)
    identity_verification: Text


class Breach(Strict_):
    """What the shop does if its systems are attacked and data is lost (P23)."""

    notify_authority: bool
    notify_customers: bool
    cooperate_with_investigation: bool = True
    description: Text | None = None


class Changes(Strict_):
    """How policy changes are announced (P24)."""

    advance_notice_days: Annotated[int, Field(ge=0, le=365)]
    channels: list[Literal["website", "email", "account_notice"]] = Field(min_length=1)
    description: Text | None = None


class Policy(Strict_):
    """One shop's privacy policy: what the page says and what Pledge enforces."""

    schema_version: Literal[1]
    shop: Slug
    name: Short
    version: Short
    effective_date: Date
    languages: list[Literal["vi", "en"]] = Field(min_length=1)
    default_language: Literal["vi", "en"]
    jurisdictions: list[Slug] = Field(min_length=1)
    timezone: Short = "Asia/Ho_Chi_Minh"
    phone_region: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = "VN"
    summary: Text | None = None
    controller: Controller
    business_hours: OpeningHours | None = None
    fields: list[PersonalField] = Field(min_length=1)
    roles: list[Role] = Field(min_length=1)
    purposes: list[Purpose] = Field(min_length=1)
    retention: list[RetentionRule] = Field(default_factory=list)
    recipients: list[Recipient] = Field(default_factory=list)
    cookies: Cookies | None = None
    complaints: Complaints | None = None
    rights: Rights | None = None
    breach: Breach | None = None
    changes: Changes | None = None
    # How data is processed (notice item: processing method) and how it is protected (P13, P14).
    processing_methods: Text | None = None
    security_measures: Text | None = None

    def field(self, key: str) -> PersonalField:
        for f in self.fields:
            if f.key == key:
                return f
        raise KeyError(key)

    def purpose(self, key: str) -> Purpose:
        for p in self.purposes:
            if p.key == key:
                return p
        raise KeyError(key)

    def role(self, key: str) -> Role:
        for r in self.roles:
            if r.key == key:
                return r
        raise KeyError(key)
