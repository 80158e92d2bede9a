"""Who looked at my data (/me/access-log/): from the audit log, when, which role, which purpose,
which data; never who (P09). `audit.selectors.customer_access_log` is the query."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from pledge.audit.selectors import customer_access_log
from pledge.vault import services
from pledge.vault.access import Actor
from pledge.vault.errors import AccessRefused
from tests.console.staffing import make_staff
from tests.portal import test_center_pages as center
from tests.portal.test_center_pages import Customer

LOG = "/me/access-log/"

# The shared personas and set-up (fixtures of test_center_pages).
quick_passwords = center.quick_passwords
nhung = center.nhung
bao = center.bao


def rows(html: str) -> list[str]:
    body = html[html.index("<tbody>") : html.index("</tbody>")]
    return [
        re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", "<tr" + r))).strip()
        for r in body.split("<tr")[1:]
    ]


def test_a_staff_read_shows_the_role_and_purpose_never_the_person(nhung: Customer) -> None:
    user = make_staff("customer_service", email="lan.cskh@leman.example")
    actor = Actor(kind="staff", id=str(user.pk), role="customer_service")
    services.read_customer(actor=actor, purpose="customer_database", customer_id=nhung.id)
    html = nhung.client.get(LOG).content.decode()
    [line] = [r for r in rows(html) if "Customer service" in r]
    assert "Staff: Customer service" in line
    assert "Read your details" in line
    assert "Managing the customer database" in line
    assert "full name" in line and "phone number" in line
    # Never the staff member: not their email, id, nor the audit actor label.
    assert "lan.cskh" not in html
    assert f"staff:{user.pk}" not in html
    assert get_user_model().objects.get(pk=user.pk).email not in html


def test_the_shops_software_and_my_own_reads_are_named_as_such(nhung: Customer) -> None:
    nhung.client.get("/me/data/")
    lines = rows(nhung.client.get(LOG).content.decode())
    # Newest first: the page view just made.
    assert " You Read your details Your own access to your data " in f" {lines[0]} "
    assert any("An API client" in r and "Recorded an order" in r for r in lines)
    # The verification linked the sign-in email to her record: Pledge itself did that.
    assert any("The shop's system" in r and "privacy-center account" in r for r in lines)


def test_refused_attempts_and_other_customers_are_not_listed(
    nhung: Customer, bao: Customer, staff: Any
) -> None:
    with pytest.raises(AccessRefused):
        services.read_customer(
            actor=staff("accounting"), purpose="order_fulfilment", customer_id=nhung.id
        )
    services.read_customer(
        actor=staff("owner", "9"), purpose="customer_database", customer_id=bao.id
    )
    page = customer_access_log(nhung.id)
    assert all(e.type != "vault:access_refused" for e in page.entries)
    assert not any(e.actor_role == "owner" for e in page.entries)
    assert any(e.actor_role == "owner" for e in customer_access_log(bao.id).entries)


def test_entries_carry_no_actor_id(nhung: Customer, staff: Any) -> None:
    services.read_customer(
        actor=staff("customer_service", "kim-x7q"),
        purpose="customer_database",
        customer_id=nhung.id,
    )
    [entry] = [e for e in customer_access_log(nhung.id).entries if e.actor_kind == "staff"]
    assert entry.actor_role == "customer_service"
    # An id that cannot appear by chance in a sequence number or a timestamp (it was "42").
    assert "kim-x7q" not in repr(entry)


def test_it_is_paginated_newest_first(nhung: Customer, staff: Any) -> None:
    for _ in range(30):
        services.read_customer(
            actor=staff("customer_service"), purpose="customer_database", customer_id=nhung.id
        )
    first = customer_access_log(nhung.id, page=1, per_page=25)
    second = customer_access_log(nhung.id, page=2, per_page=25)
    assert len(first.entries) == 25 and first.has_next and not first.has_previous
    assert second.has_previous
    seqs = [e.seq for e in first.entries + second.entries]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == len(seqs)
    html = nhung.client.get(LOG).content.decode()
    assert 'href="?page=2"' in html and 'rel="prev"' not in html
    html2 = nhung.client.get(LOG, {"page": 2}).content.decode()
    assert 'href="?page=1"' in html2
    assert len(rows(html)) == 25


@pytest.mark.parametrize("page", ["0", "-1", "abc", "1.5", "99999999999", "1e3"])
def test_a_bad_page_number_is_a_400(nhung: Customer, page: str) -> None:
    response = nhung.client.get(LOG, {"page": page})
    assert response.status_code == 400
    assert "page" in response.content.decode()


def test_a_page_past_the_end_is_empty(nhung: Customer) -> None:
    response = nhung.client.get(LOG, {"page": 500})
    assert response.status_code == 200
    assert "Nothing on this page." in response.content.decode()
