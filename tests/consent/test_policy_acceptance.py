"""Policy versions a customer accepted, and the prompt after a material change (P24)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from tests.consent.conftest import publish, variant_of_leman

from pledge.audit.models import AuditEvent
from pledge.consent import services
from pledge.consent.errors import ConsentError
from pledge.consent.models import PolicyAcceptance
from pledge.policy.services import today


def accept(customer: uuid.UUID, **kwargs: Any) -> PolicyAcceptance:
    arguments: dict[str, Any] = {
        "customer_id": customer,
        "method": "registration",
        "language": "vi",
        "actor": f"customer:{customer}",
        **kwargs,
    }
    return services.accept_policy(**arguments)


def test_accepting_records_the_version_in_force_once(leman: Any, customer: uuid.UUID) -> None:
    first = accept(customer)
    again = accept(customer, method="privacy_center")
    assert first.pk == again.pk and again.method == "registration"
    assert (first.policy_version, first.content_hash) == (leman.version, leman.content_hash)
    assert services.accepted_policies(customer) == [first]
    audit = AuditEvent.objects.get(type="consent:policy_accepted")
    assert audit.customer_id == customer
    assert f'"policy_version":"{leman.version}"' in audit.details


def test_a_material_change_asks_for_a_review_until_accepted(
    leman: Any, customer: uuid.UUID
) -> None:
    accept(customer)
    assert services.policy_review_needed(customer) is None
    # A minor change asks nothing.
    publish(variant_of_leman("1.1", name="Leman Jewelry Co."), effective_date=today())
    assert services.policy_review_needed(customer) is None
    # A material change announced for later: review it now, before it takes effect.
    announced = today() + dt.timedelta(days=30)
    publish(
        variant_of_leman("2", name="Leman Jewelry Ltd."), effective_date=announced, material=True
    )
    pending = services.policy_review_needed(customer)
    assert pending is not None and pending.version == "2"
    accepted = accept(customer, policy_version="2", method="privacy_center")
    assert accepted.policy_version == "2"
    assert services.policy_review_needed(customer) is None
    assert [a.policy_version for a in services.accepted_policies(customer)] == ["2", "1"]


def test_a_customer_who_accepted_a_later_version_is_not_asked_again(
    leman: Any, customer: uuid.UUID
) -> None:
    publish(variant_of_leman("2", name="Leman 2"), effective_date=today(), material=True)
    publish(variant_of_leman("3", name="Leman 3"), effective_date=today())
    accept(customer)  # the version in force: 3
    assert services.policy_review_needed(customer) is None


def test_a_never_accepted_material_version_in_force_is_asked(
    leman: Any, customer: uuid.UUID
) -> None:
    publish(variant_of_leman("2", name="Leman 2"), effective_date=today(), material=True)
    pending = services.policy_review_needed(customer)
    assert pending is not None and pending.version == "2"


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"policy_version": "no-such-version"}, "policy_version", "not_current"),
        ({"method": ""}, "method", "format"),
        ({"language": "fr"}, "language", "choice"),
        ({"customer_id": uuid.UUID(int=3)}, "customer_id", "not_found"),
    ],
)
def test_bad_acceptances_are_refused(
    leman: Any, customer: uuid.UUID, change: dict[str, Any], field: str, rule: str
) -> None:
    with pytest.raises(ConsentError) as refused:
        accept(customer, **change)
    assert (refused.value.field, refused.value.rule) == (field, rule)
    assert not PolicyAcceptance.objects.exists()


def test_an_old_version_cannot_be_accepted(leman: Any, customer: uuid.UUID) -> None:
    publish(variant_of_leman("2", name="Leman 2"), effective_date=today())
    with pytest.raises(ConsentError, match="neither in force nor announced"):
        accept(customer, policy_version="1")
    assert accept(customer).policy_version == "2"
