"""State changes of the consent ledger (P04: withdrawal is as easy as giving; P07; P19; P24).

Every change appends `ConsentEvent` rows (never updated, never deleted), updates the derived
`ConsentState` (the latest event per subject and purpose) and writes an audit event, in one
transaction. What makes a consent provable (LAW.md, Consent) is on each event: the policy version
and content hash, the exact text shown (`ConsentNotice`, once per SHA-256), the method, channel,
language, time and the data types covered.

Event meanings: `given` — the purpose may be used from now on; `withdrawn` — it may not be used
from now on (a withdrawal, an objection to direct marketing, or a refusal as a first choice, e.g.
"Reject all" on the cookie banner); `expired` — a cookie consent reached PLEDGE_COOKIE_CONSENT_DAYS.

Cookie choices are purposes named `cookies:<category>`; a visitor is known only by an HMAC of the
random id kept in the banner's consent cookie (keyed from settings.SECRET_KEY, like the login
throttle), so the ledger can never be joined back to a browser without that cookie.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import override

from pledge.audit.events import EventType
from pledge.audit.services import EventSpec, record_event, record_events
from pledge.consent.errors import ConsentError, NoPolicy, UnknownPurpose
from pledge.consent.models import ConsentEvent, ConsentNotice, ConsentState, PolicyAcceptance
from pledge.consent.notices import (
    COOKIE_PREFIX,
    MAX_NOTICE_CHARS,
    normalise_notice,
    notice_hash,
    purpose_data_types,
    render_purpose_notice,
)
from pledge.policy.enforcement import EnforcedPolicy, NoPolicyInForce, enforced_policy
from pledge.policy.models import PolicyVersion
from pledge.policy.render import field_label
from pledge.policy.schema import CookieCategory, Purpose
from pledge.policy.services import active_version, today
from pledge.policy.vocabulary import LEGAL_BASES
from pledge.vault.models import Customer

Action = ConsentEvent.Action

LANGUAGES = ("vi", "en")
# Where a consent was given or withdrawn (ConsentEvent.channel).
CHANNELS = frozenset(
    {
        "web",
        "privacy_center",
        "banner",
        "email",
        "api",
        "phone",
        "in_store",
        "import",
        "staff",
        "system",
    }
)
MAX_METHOD_CHARS = 32
MAX_ACTOR_CHARS = 120
MAX_VISITOR_ID_CHARS = 100
EXPIRY_BATCH = 500
# Run inside each withdrawal's transaction with (customer_id, purpose, method): the disclosures
# register tells the recipients that received the data (issue 8; recipients must stop too).
WITHDRAWAL_HOOKS: list[Callable[[uuid.UUID, str, str], None]] = []


# -- input checks -----------------------------------------------------------------------------


def _text(value: object, field: str, max_chars: int) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= max_chars or not value.isprintable():
        raise ConsentError(
            f"{field} must be 1-{max_chars} printable characters", field=field, rule="format"
        )
    return value


def _language(language: object) -> str:
    if language not in LANGUAGES:
        raise ConsentError("language is one of vi, en", field="language", rule="choice")
    return str(language)


def _channel(channel: object) -> str:
    if channel not in CHANNELS:
        raise ConsentError(
            f"channel is one of {', '.join(sorted(CHANNELS))}", field="channel", rule="choice"
        )
    return str(channel)


def _customer_id(customer_id: object) -> uuid.UUID:
    if not isinstance(customer_id, uuid.UUID):
        raise ConsentError("customer_id must be a UUID", field="customer_id", rule="uuid")
    if not Customer.objects.filter(pk=customer_id).exists():
        raise ConsentError("no such customer", field="customer_id", rule="not_found")
    return customer_id


def _enforced() -> EnforcedPolicy:
    try:
        return enforced_policy()
    except NoPolicyInForce:
        raise NoPolicy() from None


def _consent_purpose(enforced: EnforcedPolicy, key: object) -> Purpose:
    """A purpose a person can consent to (basis consent) or object to (direct marketing)."""
    declared = enforced.purpose(key) if isinstance(key, str) else None
    if declared is None:
        raise UnknownPurpose(f"the policy in force declares no purpose {str(key)[:80]!r}")
    if declared.basis != "consent" and not declared.marketing:
        raise ConsentError(
            f"the purpose {declared.key!r} is based on {declared.basis}: it needs no consent",
            field="purpose",
            rule="not_consent_based",
        )
    return declared


def _version(enforced: EnforcedPolicy, policy_version: str | None) -> tuple[str, str]:
    """The (version label, content hash) an event refers to: the version in force by default."""
    if policy_version is None or policy_version == enforced.version:
        return enforced.version, enforced.content_hash
    label = _text(policy_version, "policy_version", 300)
    published = PolicyVersion.objects.filter(shop=enforced.policy.shop, version=label).first()
    return label, published.content_hash if published is not None else ""


def store_notice(
    text: object, *, language: str, policy_version: str, at: dt.datetime | None = None
) -> ConsentNotice:
    """The stored copy of the exact text shown, written once per SHA-256."""
    if not isinstance(text, str):
        raise ConsentError("the notice text must be text", field="notice_text", rule="format")
    clean = normalise_notice(text)
    if not clean or len(clean) > MAX_NOTICE_CHARS:
        raise ConsentError(
            f"the notice text must be 1-{MAX_NOTICE_CHARS:,} characters",
            field="notice_text",
            rule="length",
        )
    digest = notice_hash(clean)
    found = ConsentNotice.objects.filter(sha256=digest).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():  # a savepoint: another writer may store the same text first
            return ConsentNotice.objects.create(
                sha256=digest,
                text=clean,
                language=language,
                policy_version=policy_version,
                created_at=at or timezone.now(),
            )
    except IntegrityError:
        return ConsentNotice.objects.get(sha256=digest)


def _subject(customer_id: uuid.UUID | None, visitor: str | None) -> dict[str, Any]:
    return {"customer_id": customer_id} if customer_id is not None else {"visitor": visitor}


def _lock_subject(customer_id: uuid.UUID | None, visitor: str | None, purposes: list[str]) -> None:
    """Serialise writers of one subject's purposes until commit.

    Locking the state row is not enough: before a subject's first event on a purpose there is no
    row to lock, so two first choices at once (a double-clicked one-click unsubscribe, a give and
    a withdraw racing) would both append, and the state could end on the older event while the
    ledger's latest is the newer one (P04: the state must be what the ledger says). SQLite
    transactions already hold the write lock (IMMEDIATE); PostgreSQL takes one transaction-level
    advisory lock per purpose, in a fixed order so two writers never deadlock."""
    if connection.vendor != "postgresql":
        return
    subject = f"c:{customer_id}" if customer_id is not None else f"v:{visitor}"
    keys = sorted(
        int.from_bytes(
            hashlib.sha256(f"pledge.consent:{subject}:{purpose}".encode()).digest()[:8],
            "big",
            signed=True,
        )
        for purpose in set(purposes)
    )
    with connection.cursor() as cursor:
        for key in keys:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _locked_states(
    customer_id: uuid.UUID | None, visitor: str | None, purposes: Iterable[str]
) -> dict[str, ConsentState]:
    purposes = list(purposes)
    _lock_subject(customer_id, visitor, purposes)
    rows = (
        ConsentState.objects.select_for_update(of=("self",))
        .select_related("event")
        .filter(**_subject(customer_id, visitor), purpose__in=purposes)
    )
    return {row.purpose: row for row in rows}


def _append(
    *,
    customer_id: uuid.UUID | None,
    visitor: str | None,
    purpose: str,
    action: str,
    notice: ConsentNotice | None,
    policy_version: str,
    policy_hash: str,
    method: str,
    channel: str,
    language: str,
    data_types: Sequence[str],
    actor: str,
    at: dt.datetime,
    state: ConsentState | None,
) -> ConsentEvent:
    event = ConsentEvent.objects.create(
        customer_id=customer_id,
        visitor=visitor if customer_id is None else None,
        purpose=purpose,
        action=action,
        notice=notice,
        policy_version=policy_version,
        policy_hash=policy_hash,
        method=method,
        channel=channel,
        language=language,
        data_types=list(data_types),
        at=at,
        actor=actor,
    )
    live = action == Action.GIVEN
    if state is not None:
        state.live, state.event, state.updated_at = live, event, at
        state.save(update_fields=["live", "event", "updated_at"])
    else:
        ConsentState.objects.update_or_create(
            **_subject(customer_id, visitor),
            purpose=purpose,
            defaults={"live": live, "event": event, "updated_at": at},
        )
    return event


# -- consents of customers --------------------------------------------------------------------


@transaction.atomic
def give_consent(
    *,
    customer_id: uuid.UUID,
    purpose: str,
    method: str,
    actor: str,
    channel: str = "api",
    language: str = "vi",
    policy_version: str | None = None,
    notice_text: str | None = None,
    data_types: Sequence[str] | None = None,
) -> ConsentEvent:
    """Record that the customer consents to `purpose` (P04). Every giving is an event, also when
    a consent is live already (a re-confirmation under a newer notice is evidence too).

    Defaults: the policy version in force; the notice built from the policy
    (`notices.purpose_notice`) in `language`; the data types the purpose uses.
    Raises `ConsentError` (nothing written) for bad input or a purpose that needs no consent.
    """
    enforced = _enforced()
    declared = _consent_purpose(enforced, purpose)
    customer_id = _customer_id(customer_id)
    method = _text(method, "method", MAX_METHOD_CHARS)
    actor = _text(actor, "actor", MAX_ACTOR_CHARS)
    channel, language = _channel(channel), _language(language)
    version, version_hash = _version(enforced, policy_version)
    types = purpose_data_types(declared) if data_types is None else list(data_types)
    unknown = [t for t in types if t not in enforced.field_records]
    if unknown or not types:
        raise ConsentError(
            "data_types must name fields the policy declares", field="data_types", rule="field"
        )
    text = (
        render_purpose_notice(enforced.policy, declared, language)
        if notice_text is None
        else notice_text
    )
    now = timezone.now()
    notice = store_notice(text, language=language, policy_version=version, at=now)
    state = _locked_states(customer_id, None, [purpose]).get(purpose)
    event = _append(
        customer_id=customer_id,
        visitor=None,
        purpose=purpose,
        action=Action.GIVEN,
        notice=notice,
        policy_version=version,
        policy_hash=version_hash,
        method=method,
        channel=channel,
        language=language,
        data_types=types,
        actor=actor,
        at=now,
        state=state,
    )
    record_event(
        EventType.CONSENT_GIVEN,
        actor=actor,
        customer_id=customer_id,
        purpose=purpose,
        details={
            "method": method,
            "channel": channel,
            "policy_version": version,
            "receipt": str(event.receipt_id),
        },
    )
    return event


@transaction.atomic
def withdraw_consent(
    *,
    customer_id: uuid.UUID,
    purpose: str,
    method: str,
    actor: str,
    channel: str = "api",
    language: str = "vi",
    notice_text: str | None = None,
) -> ConsentEvent | None:
    """Withdraw a consent, or object to direct marketing (GDPR Art 21(3); P04, P19).

    Idempotent: returns None when nothing was live (a second click changes nothing). A marketing
    purpose the customer never chose is objected to all the same: an objection needs no prior
    consent. A live consent can always be withdrawn, even for a purpose a newer policy dropped.
    """
    method = _text(method, "method", MAX_METHOD_CHARS)
    actor = _text(actor, "actor", MAX_ACTOR_CHARS)
    channel, language = _channel(channel), _language(language)
    if not isinstance(customer_id, uuid.UUID):
        raise ConsentError("customer_id must be a UUID", field="customer_id", rule="uuid")
    enforced = _enforced()
    if not isinstance(purpose, str) or len(purpose) > 80:
        raise UnknownPurpose("purpose must be a purpose key")
    state = _locked_states(customer_id, None, [purpose]).get(purpose)
    declared = enforced.purpose(purpose)
    if state is not None and state.live:
        types = purpose_data_types(declared) if declared is not None else state.event.data_types
    else:
        declared = _consent_purpose(enforced, purpose)
        if state is not None or not declared.marketing:
            return None
        _customer_id(customer_id)
        types = purpose_data_types(declared)
    if notice_text is None:
        if declared is not None:
            notice_text = render_purpose_notice(enforced.policy, declared, language)
        elif state is not None and state.event.notice is not None:
            notice_text = state.event.notice.text  # the purpose left the policy: what was agreed
        else:
            notice_text = purpose
    now = timezone.now()
    notice = store_notice(notice_text, language=language, policy_version=enforced.version, at=now)
    event = _append(
        customer_id=customer_id,
        visitor=None,
        purpose=purpose,
        action=Action.WITHDRAWN,
        notice=notice,
        policy_version=enforced.version,
        policy_hash=enforced.content_hash,
        method=method,
        channel=channel,
        language=language,
        data_types=types,
        actor=actor,
        at=now,
        state=state,
    )
    record_event(
        EventType.CONSENT_WITHDRAWN,
        actor=actor,
        customer_id=customer_id,
        purpose=purpose,
        details={"method": method, "channel": channel, "receipt": str(event.receipt_id)},
    )
    for hook in WITHDRAWAL_HOOKS:
        hook(customer_id, purpose, method)
    return event


def has_live_consent(customer_id: uuid.UUID, purpose: str) -> bool:
    return ConsentState.objects.filter(customer_id=customer_id, purpose=purpose, live=True).exists()


def objection_stands(customer_id: uuid.UUID, purpose: str) -> bool:
    """The customer's last word on this purpose was a withdrawal: for direct marketing, on any
    legal basis, that objection is absolute until they opt in again (GDPR Art 21(3))."""
    return ConsentState.objects.filter(
        customer_id=customer_id, purpose=purpose, live=False, event__action=Action.WITHDRAWN
    ).exists()


@dataclass(frozen=True)
class LastEvent:
    action: str
    at: dt.datetime
    method: str
    channel: str
    language: str
    policy_version: str
    notice_text: str
    notice_sha256: str
    receipt_id: uuid.UUID


@dataclass(frozen=True)
class ConsentRow:
    """One purpose of the policy in force that the customer decides on (privacy center)."""

    key: str
    name: str
    description: str
    basis: str
    basis_label: str
    marketing: bool
    # The purpose may be used for this customer: a live consent where the basis is consent; no
    # objection standing for direct marketing on another basis.
    live: bool
    objected: bool
    data_types: list[str]  # labels of the data it uses, in the language asked for
    last: LastEvent | None


def _last_event(event: ConsentEvent) -> LastEvent:
    notice = event.notice
    return LastEvent(
        action=event.action,
        at=event.at,
        method=event.method,
        channel=event.channel,
        language=event.language,
        policy_version=event.policy_version,
        notice_text=notice.text if notice is not None else "",
        notice_sha256=notice.sha256 if notice is not None else "",
        receipt_id=event.receipt_id,
    )


def consent_overview(customer_id: uuid.UUID, language: str) -> list[ConsentRow]:
    """One row per purpose of the policy in force whose basis is consent or that is marketing."""
    enforced = _enforced()
    language = _language(language)
    purposes = [p for p in enforced.policy.purposes if p.basis == "consent" or p.marketing]
    states = {
        s.purpose: s
        for s in ConsentState.objects.filter(
            customer_id=customer_id, purpose__in=[p.key for p in purposes]
        ).select_related("event", "event__notice")
    }
    rows = []
    with override(language):
        for purpose in purposes:
            state = states.get(purpose.key)
            objected = (
                state is not None and not state.live and state.event.action == Action.WITHDRAWN
            )
            live = (state is not None and state.live) or (
                purpose.basis != "consent" and not objected
            )
            rows.append(
                ConsentRow(
                    key=purpose.key,
                    name=purpose.name.get(language),
                    description=purpose.description.get(language),
                    basis=purpose.basis,
                    basis_label=str(LEGAL_BASES[purpose.basis]),
                    marketing=purpose.marketing,
                    live=live,
                    objected=objected,
                    data_types=[
                        field_label(enforced.policy, f, language)
                        for f in purpose_data_types(purpose)
                    ],
                    last=_last_event(state.event) if state is not None else None,
                )
            )
    return rows


def consent_history(customer_id: uuid.UUID) -> list[ConsentEvent]:
    """Every ledger event of the customer, oldest first."""
    return list(
        ConsentEvent.objects.filter(customer_id=customer_id)
        .select_related("notice")
        .order_by("at", "id")
    )


# -- cookie choices (P07) -------------------------------------------------------------------


def visitor_key(visitor_id: str) -> str:
    """The only form in which a visitor id is stored: an HMAC keyed from SECRET_KEY."""
    _text(visitor_id, "visitor", MAX_VISITOR_ID_CHARS)
    return salted_hmac("pledge.consent.visitor", visitor_id, algorithm="sha256").hexdigest()


def _cookie_subject(
    visitor_id: str | None, customer_id: uuid.UUID | None
) -> tuple[uuid.UUID | None, str | None]:
    # A signed-in customer's choice is theirs; the visitor id is then not needed.
    if customer_id is not None:
        return _customer_id(customer_id), None
    if visitor_id is None:
        raise ConsentError("a visitor id or a customer is needed", field="visitor", rule="required")
    return None, visitor_key(visitor_id)


@transaction.atomic
def record_cookie_choice(
    *,
    visitor_id: str | None,
    customer_id: uuid.UUID | None,
    choices: Mapping[str, bool],
    method: str,
    language: str,
    actor: str,
    notice_text: str,
) -> list[ConsentEvent]:
    """Record a cookie-banner choice: one event per category whose state changes, whose first
    choice this is, or that is answered again under a new policy version or notice (a re-prompt),
    plus one `consent:cookie_choice` audit event. `necessary` needs no consent and is not
    recorded (LAW.md, Cookies). Returns the events written."""
    enforced = _enforced()
    cookies = enforced.policy.cookies
    if cookies is None:
        raise ConsentError("the policy declares no cookies", field="choices", rule="no_cookies")
    categories: dict[str, CookieCategory] = {c.key: c for c in cookies.categories}
    if not isinstance(choices, Mapping) or not choices:
        raise ConsentError("choices must map categories to true or false", field="choices")
    for key, accepted in choices.items():
        if key not in categories:
            raise UnknownPurpose(
                f"the policy declares no cookie category {str(key)[:40]!r}",
                field=f"choices.{str(key)[:40]}",
            )
        if not isinstance(accepted, bool):
            raise ConsentError(
                f"choices.{key} must be true or false", field=f"choices.{key}", rule="boolean"
            )
    method = _text(method, "method", MAX_METHOD_CHARS)
    actor = _text(actor, "actor", MAX_ACTOR_CHARS)
    language = _language(language)
    customer_id, visitor = _cookie_subject(visitor_id, customer_id)
    now = timezone.now()
    notice = store_notice(notice_text, language=language, policy_version=enforced.version, at=now)
    wanted = {f"{COOKIE_PREFIX}{k}": v for k, v in sorted(choices.items()) if k != "necessary"}
    states = _locked_states(customer_id, visitor, wanted)
    events = []
    for purpose, accepted in wanted.items():
        state = states.get(purpose)
        if (
            state is not None
            and state.live == accepted
            and state.event.policy_hash == enforced.content_hash
            and state.event.notice_id == notice.pk
        ):
            continue
        category = categories[purpose.removeprefix(COOKIE_PREFIX)]
        events.append(
            _append(
                customer_id=customer_id,
                visitor=visitor,
                purpose=purpose,
                action=Action.GIVEN if accepted else Action.WITHDRAWN,
                notice=notice,
                policy_version=enforced.version,
                policy_hash=enforced.content_hash,
                method=method,
                channel="banner",
                language=language,
                # The services (and so the cookies and beacons) the category allows.
                data_types=[s.key for s in category.services],
                actor=actor,
                at=now,
                state=state,
            )
        )
    record_event(
        EventType.COOKIE_CHOICE,
        actor=actor,
        customer_id=customer_id,
        purpose="cookies",
        details={
            "method": method,
            "accepted": sorted(k for k, v in choices.items() if v),
            "refused": sorted(k for k, v in choices.items() if not v),
            "policy_version": enforced.version,
        },
    )
    return events


def cookie_state(
    *, visitor_id: str | None = None, customer_id: uuid.UUID | None = None
) -> dict[str, bool]:
    """category -> live, for the categories this visitor (or customer) has chosen on."""
    if customer_id is not None:
        subject: dict[str, Any] = {"customer_id": customer_id}
    elif visitor_id is not None:
        subject = {"visitor": visitor_key(visitor_id)}
    else:
        return {}
    rows = ConsentState.objects.filter(**subject, purpose__startswith=COOKIE_PREFIX)
    return {r.purpose.removeprefix(COOKIE_PREFIX): r.live for r in rows}


def expire_due(now: dt.datetime | None = None) -> int:
    """Worker job: cookie consents given more than PLEDGE_COOKIE_CONSENT_DAYS ago expire (the
    banner then asks again). Safe with several workers: rows are claimed with SKIP LOCKED on
    PostgreSQL; SQLite serialises writers. Returns how many expired."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=int(settings.PLEDGE_COOKIE_CONSENT_DAYS))
    total = 0
    while True:
        with transaction.atomic():
            due = list(
                ConsentState.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("event")
                .filter(live=True, purpose__startswith=COOKIE_PREFIX, updated_at__lt=cutoff)
                .order_by("updated_at")[:EXPIRY_BATCH]
            )
            if not due:
                return total
            specs = []
            for state in due:
                given = state.event
                event = _append(
                    customer_id=state.customer_id,
                    visitor=state.visitor,
                    purpose=state.purpose,
                    action=Action.EXPIRED,
                    notice=given.notice,
                    policy_version=given.policy_version,
                    policy_hash=given.policy_hash,
                    method="expiry",
                    channel="system",
                    language=given.language,
                    data_types=given.data_types,
                    actor="system:worker",
                    at=now,
                    state=state,
                )
                specs.append(
                    EventSpec(
                        EventType.CONSENT_EXPIRED,
                        actor="system:worker",
                        customer_id=state.customer_id,
                        purpose=state.purpose,
                        details={"receipt": str(event.receipt_id)},
                    )
                )
            record_events(specs)
            total += len(due)


@transaction.atomic
def rebuild_state() -> int:
    """Rebuild `ConsentState` from the ledger (the latest event, in append order, per subject
    and purpose); returns how many state rows there are. The incremental state must equal it."""
    if connection.vendor == "postgresql":
        # Writers update the state after appending: holding this lock until commit makes them
        # wait, so no event is appended between reading the ledger and writing the state.
        with connection.cursor() as cursor:
            table = connection.ops.quote_name(ConsentState._meta.db_table)
            cursor.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
    latest: dict[tuple[Any, Any, str], tuple[int, str, dt.datetime]] = {}
    rows = ConsentEvent.objects.order_by("id").values_list(
        "id", "customer_id", "visitor", "purpose", "action", "at"
    )
    for event_id, customer_id, visitor, purpose, action, at in rows.iterator(chunk_size=5000):
        latest[(customer_id, visitor, purpose)] = (event_id, action, at)
    ConsentState.objects.all().delete()
    ConsentState.objects.bulk_create(
        (
            ConsentState(
                customer_id=customer_id,
                visitor=visitor,
                purpose=purpose,
                live=action == Action.GIVEN,
                event_id=event_id,
                updated_at=at,
            )
            for (customer_id, visitor, purpose), (event_id, action, at) in latest.items()
        ),
        batch_size=1000,
    )
    return len(latest)


# -- policy versions (P24) ------------------------------------------------------------------


def _acceptable_version(enforced: EnforcedPolicy, label: str | None) -> PolicyVersion:
    shop = enforced.policy.shop
    current = active_version(shop)
    if current is None:
        raise NoPolicy()
    if label is None:
        return current
    wanted = PolicyVersion.objects.filter(shop=shop, version=label).first()
    if wanted is None or (wanted.pk != current.pk and wanted.effective_date <= today()):
        # Only the version in force or one announced for later can be accepted now.
        raise ConsentError(
            f"version {label[:60]!r} is neither in force nor announced",
            field="policy_version",
            rule="not_current",
        )
    return wanted


@transaction.atomic
def accept_policy(
    *,
    customer_id: uuid.UUID,
    method: str,
    language: str,
    actor: str,
    policy_version: str | None = None,
) -> PolicyAcceptance:
    """Record that the customer accepted the policy version in force (or an announced one, when
    reviewing a change before it takes effect, P24). Idempotent: accepting twice is one record."""
    enforced = _enforced()
    customer_id = _customer_id(customer_id)
    method = _text(method, "method", MAX_METHOD_CHARS)
    actor = _text(actor, "actor", MAX_ACTOR_CHARS)
    language = _language(language)
    version = _acceptable_version(enforced, policy_version)
    existing = PolicyAcceptance.objects.filter(
        customer_id=customer_id, content_hash=version.content_hash
    ).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            acceptance = PolicyAcceptance.objects.create(
                customer_id=customer_id,
                policy_version=version.version,
                content_hash=version.content_hash,
                accepted_at=timezone.now(),
                method=method,
                language=language,
            )
    except IntegrityError:  # accepted at the same moment elsewhere
        return PolicyAcceptance.objects.get(
            customer_id=customer_id, content_hash=version.content_hash
        )
    record_event(
        EventType.POLICY_ACCEPTED,
        actor=actor,
        customer_id=customer_id,
        details={"policy_version": version.version, "method": method},
    )
    return acceptance


def accepted_policies(customer_id: uuid.UUID) -> list[PolicyAcceptance]:
    return list(PolicyAcceptance.objects.filter(customer_id=customer_id).order_by("-accepted_at"))


def policy_review_needed(customer_id: uuid.UUID) -> PolicyVersion | None:
    """P24: the newest material version (in force, or announced with a future effective date)
    that the customer has not accepted, nor any version after it; None when there is none."""
    try:
        shop = enforced_policy().policy.shop
    except NoPolicyInForce:
        return None
    current = active_version(shop)
    if current is None:
        return None
    newest = (
        PolicyVersion.objects.filter(shop=shop, material=True)
        .filter(Q(pk=current.pk) | Q(effective_date__gt=today()))
        .order_by("-effective_date", "-published_at")
        .first()
    )
    if newest is None:
        return None
    accepted = PolicyAcceptance.objects.filter(customer_id=customer_id).values("content_hash")
    covered = (
        PolicyVersion.objects.filter(shop=shop, content_hash__in=accepted)
        .filter(
            Q(effective_date__gt=newest.effective_date)
            | Q(effective_date=newest.effective_date, published_at__gte=newest.published_at)
        )
        .exists()
    )
    return None if covered else newest


def withdrawal_label(language: str) -> str:
    """How a consent ends, for receipts (Kantara `termination`)."""
    with override(_language(language)):
        return _(
            "Until you withdraw it, at any time, in the privacy center or with the unsubscribe "
            "link of any marketing email; withdrawing is as easy as giving."
        )
