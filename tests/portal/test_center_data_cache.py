"""My data (/me/data/) under its two speed-ups (docs/benchmarks.md, privacy center): each field's
"used for / kept / may be given to" text is rendered once per policy, language, record kinds and
live consents, and reused; `read_subject` queries only the record kinds the customer has. Neither
may change what a customer sees, nor put anything of a customer's in the cache."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import yaml
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pledge.consent.services import give_consent, withdraw_consent
from pledge.policy.enforcement import clear_policy_cache
from pledge.policy.loader import load_policy, parse_policy
from pledge.policy.services import publish_policy, today
from pledge.portal import selectors
from pledge.vault import subject
from pledge.vault.access import Actor
from tests.portal import test_center_pages as center
from tests.portal.test_center_data import section
from tests.portal.test_center_pages import (
    ADDRESS,
    EMAIL,
    GUARANTEE,
    INVOICE,
    NAME,
    ORDER,
    OTHER_ADDRESS,
    OTHER_EMAIL,
    OTHER_NAME,
    PHONE_E164,
    Customer,
    seed_customer,
)

quick_passwords = center.quick_passwords
nhung = center.nhung
bao = center.bao


def use_line(card: str, purpose: str) -> str:
    """The <li> of one purpose in a field's "Used for" list."""
    start = card.index(purpose)
    return card[start : card.index("</li>", start)]


def change(customer: Customer, purpose: str, *, give: bool) -> None:
    (give_consent if give else withdraw_consent)(
        customer_id=customer.id,
        purpose=purpose,
        method="privacy_center",
        actor=f"customer:{customer.id}",
        channel="privacy_center",
        language="en",
    )


def test_a_consent_given_or_withdrawn_shows_on_the_next_view(nhung: Customer) -> None:
    selectors.clear_explanations()
    email = section(nhung.client.get("/me/data/").content.decode(), "email")
    assert "not used now" in use_line(email, "Sending notices")
    assert "not used now" not in use_line(email, "Managing the customer database")

    change(nhung, "service_notices", give=True)
    change(nhung, "customer_database", give=False)
    email = section(nhung.client.get("/me/data/").content.decode(), "email")
    assert "not used now" not in use_line(email, "Sending notices")
    assert "not used now" in use_line(email, "Managing the customer database")

    change(nhung, "service_notices", give=False)
    change(nhung, "customer_database", give=True)
    email = section(nhung.client.get("/me/data/").content.decode(), "email")
    assert "not used now" in use_line(email, "Sending notices")
    assert "not used now" not in use_line(email, "Managing the customer database")


def test_one_customers_consents_do_not_show_on_anothers_page(
    nhung: Customer, bao: Customer
) -> None:
    change(nhung, "service_notices", give=True)
    mine = section(nhung.client.get("/me/data/").content.decode(), "email")
    theirs = section(bao.client.get("/me/data/").content.decode(), "email")
    assert "not used now" not in use_line(mine, "Sending notices")
    assert "not used now" in use_line(theirs, "Sending notices")


def test_each_language_gets_its_own_text(nhung: Customer) -> None:
    english = section(nhung.client.get("/me/data/").content.decode(), "phone")
    vietnamese = section(
        nhung.client.get("/me/data/", headers={"accept-language": "vi"}).content.decode(), "phone"
    )
    again = section(nhung.client.get("/me/data/").content.decode(), "phone")
    assert "Board of Directors" in english and "Ban Giám đốc" not in english
    assert "Ban Giám đốc" in vietnamese and "Board of Directors" not in vietnamese
    assert again == english


def test_a_new_policy_version_shows_at_once(nhung: Customer) -> None:
    assert "Board of Directors" in section(nhung.client.get("/me/data/").content.decode(), "phone")
    data = yaml.safe_load(load_policy("leman-jewelry").text)
    data["version"] = "2.0-test"
    board = next(r for r in data["recipients"] if r["key"] == "board_of_directors")
    board["name"]["en"] = "Supervisory Board"
    publish_policy(
        parse_policy(yaml.safe_dump(data, allow_unicode=True), source="test"),
        actor="test",
        effective_date=today() - dt.timedelta(days=1),
    )
    clear_policy_cache()
    phone = section(nhung.client.get("/me/data/").content.decode(), "phone")
    assert "Supervisory Board" in phone and "Board of Directors" not in phone


def test_the_cache_holds_policy_text_only(nhung: Customer, bao: Customer) -> None:
    selectors.clear_explanations()
    for customer in (nhung, bao):
        for language in ("en", "vi"):
            customer.client.get("/me/data/", headers={"accept-language": language})
    cached = repr(list(selectors._explanations.items()))
    assert "Board of Directors" in cached  # it did fill
    personal = [NAME, EMAIL, PHONE_E164, ADDRESS, ORDER, GUARANTEE, INVOICE, "4111", "1111"]
    personal += [OTHER_NAME, OTHER_EMAIL, OTHER_ADDRESS, "LM-ORDER-2", "+84987654321"]
    personal += [str(nhung.id), str(bao.id), nhung.id.hex, bao.id.hex, "image/png"]
    for value in personal:
        assert value not in cached, value


def test_the_cache_is_bounded(nhung: Customer, monkeypatch: Any) -> None:
    monkeypatch.setattr(selectors, "EXPLANATIONS_MAX", 3)
    selectors.clear_explanations()
    html = nhung.client.get("/me/data/").content.decode()
    assert len(selectors._explanations) == 3
    # Entries dropped on the way were rendered again, not lost: every field still says why.
    assert html.count('<dl class="why">') == html.count('<article class="card held"')


def kind_queries(customer_id: uuid.UUID) -> list[str]:
    """The queries `read_subject` sends to the record-kind tables, other than the inventory."""
    tables = ["vault_order", "vault_invoice", "vault_guaranteecard", "vault_paymentmethod"]
    tables += ["vault_payment", "vault_iddocument", "vault_staffnote"]
    actor = Actor(kind="customer", id=str(customer_id))
    with CaptureQueriesContext(connection) as queries:
        subject.read_subject(actor=actor, customer_id=customer_id)
    return [
        table
        for q in queries.captured_queries
        if "EXISTS" not in q["sql"]
        for table in tables
        if f'FROM "{table}"' in q["sql"]
    ]


def test_only_the_record_kinds_a_customer_has_are_queried(leman: Any, shop_api: Actor) -> None:
    everything = seed_customer(shop_api)
    order_only = seed_customer(
        shop_api,
        name=OTHER_NAME,
        email=OTHER_EMAIL,
        phone="0987 654 321",
        address=OTHER_ADDRESS,
        order="LM-ORDER-2",
        everything=False,
    )
    assert kind_queries(order_only) == ["vault_order"]
    # Nhung's kinds: all but staff notes (preset B declares no purpose that writes them).
    assert set(kind_queries(everything)) == {
        "vault_order",
        "vault_invoice",
        "vault_guaranteecard",
        "vault_paymentmethod",
        "vault_payment",
        "vault_iddocument",
    }
    # And what the customer with everything holds is all read, as before.
    data = subject.read_subject(
        actor=Actor(kind="customer", id=str(everything)), customer_id=everything
    )
    assert [o.number for o in data.orders] == [ORDER]
    assert [i.number for i in data.invoices] == [INVOICE]
    assert [g.order_number for g in data.guarantees] == [ORDER]
    assert [p.order_number for p in data.payments] == [ORDER]
    assert data.payments[0].card == data.cards[0].display
    assert [d.content_type for d in data.documents] == ["image/png"]
