"""The emails of a request (issue 6): acknowledgement with the due date, extension with its
reason (Decree 356/2025 Art 5; GDPR Art 12(3)), denial with ground and article, and the answer,
which for an erasure lists what was deleted, what is kept, why and until when. Delivered by the
real outbox worker to a real SMTP server (`mailbox`), in the customer's language.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction

from pledge.audit.models import AuditEvent
from pledge.notify.delivery import deliver_due
from pledge.notify.models import OutboxMessage
from pledge.policy.enforcement import EnforcedPolicy, clear_policy_cache, enforced_policy
from pledge.policy.loader import load_policy
from pledge.policy.services import publish_policy
from pledge.rights import services
from pledge.vault import services as vault
from pledge.vault.access import Actor
from pledge.vault.invoices import issue_invoice
from tests.rights.test_lifecycle import (
    EMAIL,
    NAME,
    STAFF,
    approved,
    me,
    new_customer,
    verified,
)
from tests.smtp import Mailbox, body_of

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
# Lunar New Year's Eve, a Friday evening: Decree 356 Art 5 deadlines count working days after it.
TET_EVE = dt.datetime(2027, 2, 5, 19, 30, tzinfo=HCM)


def one_message(mailbox: Mailbox, count: int = 1) -> Any:
    deliver_due()
    return mailbox.wait_for(count)[count - 1]


@pytest.fixture
def customer(leman: Any, shop_api: Actor) -> uuid.UUID:
    return new_customer(shop_api, language="en")


@pytest.fixture
def james(db: None) -> Iterator[EnforcedPolicy]:
    """Preset A (James Jewelry): the buyer's name is kept on invoices, under the Accounting Law's
    10-year hold (Art 41), so an erasure keeps something and must say so."""
    clear_policy_cache()
    loaded = load_policy("james-jewelry")
    publish_policy(loaded, actor="test", effective_date=loaded.policy.effective_date)
    clear_policy_cache()
    yield enforced_policy()
    clear_policy_cache()


def test_the_acknowledgement_gives_the_due_date_in_english(
    customer: uuid.UUID, mailbox: Mailbox
) -> None:
    services.file_request(
        actor=me(customer),
        customer_id=customer,
        kind="erasure",
        channel="privacy_center",
        received_at=TET_EVE,
    )
    message = one_message(mailbox)
    assert message["To"] == EMAIL
    assert message["Subject"] == "We have received your request: erasure of my data"
    body = body_of(message)
    assert "of 5 February 2027" in body
    # 20 working days after Tết: Thursday 25 February (tests/rights/test_requests.py).
    assert "until 25 February 2027 to answer" in body
    read = AuditEvent.objects.get(type="vault:read", purpose="data_subject_rights")
    assert read.actor == "system:rights" and read.customer_id == customer
    assert "example.vn" not in read.canonical


def test_the_acknowledgement_speaks_the_customers_language(
    leman: Any, shop_api: Actor, mailbox: Mailbox
) -> None:
    customer = new_customer(shop_api, language="vi")
    services.file_request(
        actor=me(customer),
        customer_id=customer,
        kind="access",
        channel="privacy_center",
        received_at=TET_EVE,
    )
    message = one_message(mailbox)
    assert message["Content-Language"] == "vi"
    assert "15/02/2027" in body_of(message)  # 10 working days: Monday 15 February


def test_an_extension_sends_its_reason_and_the_new_date(
    customer: uuid.UUID, mailbox: Mailbox
) -> None:
    request = services.file_request(
        actor=me(customer),
        customer_id=customer,
        kind="access",
        channel="privacy_center",
        received_at=TET_EVE,
    )
    services.extend_request(
        actor=STAFF, request_id=request.id, reason="The order archive is being restored."
    )
    message = one_message(mailbox, 2)
    assert message["Subject"] == "We need more time for your request: access to my data"
    body = body_of(message)
    assert "The order archive is being restored." in body
    assert "the new date is 25 February 2027" in body


def test_a_denial_states_its_ground_and_article(customer: uuid.UUID, mailbox: Mailbox) -> None:
    request = verified(customer, "erasure")
    services.deny_request(
        actor=STAFF,
        request_id=request.id,
        ground="legal_obligation",
        explanation="Your order is still being paid in instalments.",
    )
    message = one_message(mailbox, 2)  # the acknowledgement came first, at verification
    body = body_of(message)
    assert message["Subject"] == "Our answer to your request: erasure of my data"
    assert "the law requires the shop to keep this data" in body
    assert "PDPL 91/2025/QH15 Art 14(2); GDPR Art 17(3)(b)" in body
    assert "Your order is still being paid in instalments." in body


def test_the_erasure_answer_lists_what_was_deleted_and_what_is_kept_until_when(
    james: EnforcedPolicy, mailbox: Mailbox, settings: Any
) -> None:
    shop = Actor(kind="api", id="shop", purposes=frozenset({"order_fulfilment"}))
    customer = vault.collect_customer(
        actor=shop,
        purpose="order_fulfilment",
        fields={"full_name": NAME, "email": EMAIL, "phone": "0912 345 678"},
        language="en",
    )
    order = vault.place_order(
        actor=shop,
        purpose="order_fulfilment",
        customer_id=customer,
        number="JJ-1",
        items=[{"sku": "R-1", "name": "Ring", "quantity": 1, "unit_price": "2500000"}],
        total="2500000",
    )
    issue_invoice(
        actor=shop,
        purpose="order_fulfilment",
        customer_id=customer,
        order_id=order,
        number="INV-JJ-1",
        fields={"full_name": NAME},
        issued_at=dt.datetime(2026, 3, 10, 10, 0, tzinfo=HCM),
    )
    request = approved(customer, "erasure")
    assert "We have received" in one_message(mailbox)["Subject"]
    done = services.process_request(actor=STAFF, request_id=request.id)
    kept = done.outcome["kept"]
    assert [(k["record_kind"], k["field"]) for k in kept] == [("invoice", "full_name")]
    message = one_message(mailbox, 2)
    assert message["To"] == EMAIL  # read before the erasure: nothing of it remains after
    assert message["Subject"] == "Your request is done: erasure of my data"
    body = body_of(message)
    assert "What was deleted:" in body
    assert "personal details on: customer profile" in body
    assert "lookup indexes" in body
    assert "What the law requires the shop to keep" in body
    # 10 years from the end of the fiscal year 2026 (Accounting Law 88/2015/QH13 Art 41).
    assert "on invoices and accounting documents (1), until 31 December 2036" in body
    assert "Accounting Law 88/2015/QH13 Art 41" in body
    assert NAME not in body and "0912" not in body


def test_a_package_link_goes_by_email_for_a_staff_request(
    customer: uuid.UUID, mailbox: Mailbox, settings: Any
) -> None:
    settings.PLEDGE_PUBLIC_URL = "https://privacy.shop.example"
    settings.PLEDGE_EXPORT_LINK_SECONDS = 3 * 86400
    request = approved(customer, "portability")
    services.process_request(actor=STAFF, request_id=request.id)
    body = body_of(one_message(mailbox, 2))
    assert "https://privacy.shop.example/data-package/" in body
    assert "The link works for 3 days" in body


def test_a_withdrawal_answer_names_the_purposes(customer: uuid.UUID, mailbox: Mailbox) -> None:
    from pledge.consent import services as consent

    consent.give_consent(
        customer_id=customer, purpose="service_notices", method="checkbox", actor="test"
    )
    services.file_from_privacy_center(
        actor=me(customer),
        customer_id=customer,
        kind="withdraw_consent",
        purposes=["service_notices"],
    )
    deliver_due()
    messages = mailbox.settle(0.3)
    answers = [m for m in messages if "Your request is done" in m["Subject"]]
    assert len(answers) == 1 and len(messages) == 1  # no separate acknowledgement
    assert "1 consent was withdrawn" in body_of(answers[0])


def test_no_email_on_file_means_no_email(leman: Any, shop_api: Actor) -> None:
    phone_only = new_customer(shop_api, email=None)
    request = verified(phone_only, "access")
    services.extend_request(actor=STAFF, request_id=request.id, reason="Archive restore.")
    assert not OutboxMessage.objects.exists()


def test_a_notice_exists_only_if_its_change_commits(customer: uuid.UUID) -> None:
    request = verified(customer, "erasure")
    before = OutboxMessage.objects.count()

    class Abort(Exception):
        pass

    def deny_then_fail() -> None:
        with transaction.atomic():
            services.deny_request(actor=STAFF, request_id=request.id, ground="legal_claims")
            raise Abort

    with pytest.raises(Abort):
        deny_then_fail()
    assert OutboxMessage.objects.count() == before
    request.refresh_from_db()
    assert request.status == "pending"
