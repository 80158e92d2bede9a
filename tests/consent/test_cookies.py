"""Cookie choices in the ledger (P07): a visitor is stored only as an HMAC, one event per category
whose state changes, the refusal recorded like the consent, and consents that expire."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.db import connection
from tests.consent.conftest import publish, variant_of_leman

from pledge.audit.models import AuditEvent
from pledge.consent import services
from pledge.consent.errors import ConsentError, UnknownPurpose
from pledge.consent.models import ConsentEvent, ConsentState

VISITOR = str(uuid.UUID("6f1c2d9e-4b7a-4c1e-9a55-0c3b8e2f1d77"))
NOTICE = "We use cookies for statistics and advertising. Accept all · Reject all · Preferences"


def choose(choices: dict[str, Any], method: str = "banner_custom", **kwargs: Any) -> list[Any]:
    arguments: dict[str, Any] = {
        "visitor_id": VISITOR,
        "customer_id": None,
        "choices": choices,
        "method": method,
        "language": "en",
        "actor": "visitor:abc",
        "notice_text": NOTICE,
        **kwargs,
    }
    return services.record_cookie_choice(**arguments)


def every_text_in_the_database() -> str:
    """All text the consent and audit tables hold, to look for what must not be there."""
    chunks = []
    with connection.cursor() as cursor:
        for table in ("consent_consentevent", "consent_consentstate", "audit_auditevent"):
            cursor.execute(f"SELECT * FROM {table}")
            chunks += [str(value) for row in cursor.fetchall() for value in row]
    return "\n".join(chunks)


def test_the_visitor_is_stored_only_as_an_hmac(leman: Any) -> None:
    events = choose({"analytics": True, "advertising": False}, method="banner_custom")
    assert len(events) == 2
    digest = services.visitor_key(VISITOR)
    assert len(digest) == 64 and digest != VISITOR
    assert {e.visitor for e in events} == {digest}
    assert {e.customer_id for e in events} == {None}
    stored = every_text_in_the_database()
    assert VISITOR not in stored and VISITOR.replace("-", "") not in stored
    assert services.cookie_state(visitor_id=VISITOR) == {"analytics": True, "advertising": False}
    assert services.cookie_state(visitor_id=str(uuid.uuid4())) == {}
    assert services.cookie_state() == {}


def test_a_refusal_is_recorded_and_necessary_needs_no_consent(leman: Any) -> None:
    events = choose(
        {"necessary": True, "preferences": False, "analytics": False, "advertising": False},
        method="banner_reject_all",
    )
    assert sorted(e.purpose for e in events) == [
        "cookies:advertising",
        "cookies:analytics",
        "cookies:preferences",
    ]
    assert {(e.action, e.method, e.channel) for e in events} == {
        ("withdrawn", "banner_reject_all", "banner")
    }
    assert events[0].notice is not None and events[0].notice.text == NOTICE
    audit = AuditEvent.objects.get(type="consent:cookie_choice")
    assert audit.actor == "visitor:abc" and audit.customer_id is None
    assert '"refused":["advertising","analytics","preferences"]' in audit.details
    assert '"accepted":["necessary"]' in audit.details
    assert '"method":"banner_reject_all"' in audit.details


def test_only_changes_are_written(leman: Any) -> None:
    first = choose({"analytics": True, "advertising": True}, method="banner_accept_all")
    assert len(first) == 2
    same = choose({"analytics": True, "advertising": True}, method="banner_accept_all")
    assert same == []
    changed = choose({"analytics": True, "advertising": False})
    assert [(e.purpose, e.action) for e in changed] == [("cookies:advertising", "withdrawn")]
    assert ConsentEvent.objects.count() == 3
    # Every choice is audited, also one that changed nothing.
    assert AuditEvent.objects.filter(type="consent:cookie_choice").count() == 3
    assert services.cookie_state(visitor_id=VISITOR) == {"analytics": True, "advertising": False}


def test_a_new_policy_version_answered_again_is_recorded_against_it(leman: Any) -> None:
    choose({"analytics": True})
    publish(variant_of_leman("2099-cookies", name="Leman Jewelry (new cookies)"))
    again = choose({"analytics": True})
    assert [(e.action, e.policy_version) for e in again] == [("given", "2099-cookies")]
    state = ConsentState.objects.get(purpose="cookies:analytics")
    assert state.event_id == again[0].pk


def test_a_signed_in_customer_chooses_for_themselves(leman: Any, customer: uuid.UUID) -> None:
    events = choose({"analytics": False}, customer_id=customer, actor=f"customer:{customer}")
    assert [(e.customer_id, e.visitor) for e in events] == [(customer, None)]
    assert services.cookie_state(customer_id=customer) == {"analytics": False}
    assert services.cookie_state(visitor_id=VISITOR) == {}
    audit = AuditEvent.objects.get(type="consent:cookie_choice")
    assert audit.customer_id == customer


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"choices": {"tracking": True}}, "choices.tracking", "purpose_undeclared"),
        ({"choices": {"analytics": "yes"}}, "choices.analytics", "boolean"),
        ({"choices": {"analytics": 1}}, "choices.analytics", "boolean"),
        ({"choices": {}}, "choices", "invalid"),
        ({"choices": ["analytics"]}, "choices", "invalid"),
        ({"visitor_id": None}, "visitor", "required"),
        ({"visitor_id": "x" * 101}, "visitor", "format"),
        ({"customer_id": uuid.UUID(int=1)}, "customer_id", "not_found"),
        ({"language": "de"}, "language", "choice"),
        ({"notice_text": ""}, "notice_text", "length"),
        ({"method": "a" * 40}, "method", "format"),
    ],
)
def test_bad_choices_are_refused_and_write_nothing(
    leman: Any, change: dict[str, Any], field: str, rule: str
) -> None:
    choices = change.pop("choices", {"analytics": True})
    with pytest.raises(ConsentError) as refused:
        choose(choices, **change)
    assert (refused.value.field, refused.value.rule) == (field, rule)
    assert not ConsentEvent.objects.exists()
    assert not AuditEvent.objects.filter(type="consent:cookie_choice").exists()


def test_unknown_category_error_is_an_unknown_purpose(leman: Any) -> None:
    with pytest.raises(UnknownPurpose):
        choose({"analytics": True, "fingerprinting": True})
    assert not ConsentEvent.objects.exists()


def test_cookie_consents_expire_after_the_configured_days(leman: Any, settings: Any) -> None:
    settings.PLEDGE_COOKIE_CONSENT_DAYS = 30
    given = choose({"analytics": True, "advertising": False})
    at = given[0].at
    assert services.expire_due(at + dt.timedelta(days=29)) == 0
    assert services.expire_due(at + dt.timedelta(days=31)) == 1  # the refusal does not expire
    expired = ConsentEvent.objects.get(action="expired")
    assert (expired.purpose, expired.method, expired.channel) == (
        "cookies:analytics",
        "expiry",
        "system",
    )
    assert expired.visitor == services.visitor_key(VISITOR)
    assert expired.notice_id == given[0].notice_id  # what had been agreed to
    assert services.cookie_state(visitor_id=VISITOR) == {"analytics": False, "advertising": False}
    assert AuditEvent.objects.filter(type="consent:expired").count() == 1
    assert services.expire_due(at + dt.timedelta(days=400)) == 0  # nothing left to expire
    # Accepted again: a new consent, live again.
    again = choose({"analytics": True})
    assert [e.action for e in again] == ["given"]


def test_customer_consents_to_purposes_never_expire_by_the_cookie_rule(
    leman: Any, customer: uuid.UUID, settings: Any
) -> None:
    settings.PLEDGE_COOKIE_CONSENT_DAYS = 1
    event = services.give_consent(
        customer_id=customer, purpose="customer_database", method="m", actor="t"
    )
    assert services.expire_due(event.at + dt.timedelta(days=10)) == 0
    assert services.has_live_consent(customer, "customer_database")
