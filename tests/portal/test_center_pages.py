"""The privacy center's pages (issue 5 item 3): signed-in only, no-store, navigation, both
languages, and the people the other test_center_* modules share.

Personas: Nhung (a customer of Leman who ordered, paid and got a guarantee card before she
registered: her account is linked to that record at verification) and Bảo (another customer,
whose data must never appear on Nhung's pages).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.test import Client

from pledge.accounts.models import CustomerAccount
from pledge.vault import services
from pledge.vault.access import Actor
from pledge.vault.documents import store_id_document
from pledge.vault.invoices import issue_invoice
from pledge.vault.payments import CardInput, authorize_payment
from tests.portal.conftest import customer_client, make_account

NAME = "Nguyễn Thị Hồng Nhung"
EMAIL = "hong.nhung@example.vn"
PHONE = "0912 345 678"
PHONE_E164 = "+84912345678"
ADDRESS = "12 Lý Thái Tổ, Hà Nội"
GUARANTEE = "LM-2026-000123"
ORDER = "LM-ORDER-1"
INVOICE = "HD-2026-0001"
CARD_NUMBER = "4111 1111 1111 1111"
CARD_HOLDER = "NGUYEN THI HONG NHUNG"

OTHER_NAME = "Trần Quốc Bảo"
OTHER_EMAIL = "quoc.bao@example.vn"
OTHER_PHONE = "0987 654 321"
OTHER_ADDRESS = "45 Nguyễn Huệ, TP. Hồ Chí Minh"

# The smallest PNG there is: a real image, for the identity-document copy.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000050001"
    "0d0a2db40000000049454e44ae426082"
)


class QuickArgon2(Argon2PasswordHasher):
    """Argon2id at its cheapest: these tests are about the privacy center, not about password
    cost (tests/accounts checks the real parameters). Saves ~2 s per signed-in customer."""

    time_cost = 1
    memory_cost = 1024
    parallelism = 1


@pytest.fixture(autouse=True)
def quick_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["tests.portal.test_center_pages.QuickArgon2"]


@dataclass(frozen=True)
class Customer:
    id: uuid.UUID
    account: CustomerAccount
    client: Client

    @property
    def actor(self) -> Actor:
        return Actor(kind="customer", id=str(self.id))


def seed_customer(
    shop_api: Actor,
    *,
    name: str = NAME,
    email: str = EMAIL,
    phone: str = PHONE,
    address: str = ADDRESS,
    order: str = ORDER,
    everything: bool = True,
) -> uuid.UUID:
    """A customer of Leman as the shop's backend records one: the profile with consent to the
    customer database (a ticked checkbox), an order, and (everything=True) a guarantee card, a
    card payment, an invoice and a copy of an identity document."""
    cid: uuid.UUID = services.collect_customer(
        actor=shop_api,
        purpose="customer_database",
        fields={"full_name": name, "email": email, "phone": phone, "address": address},
        consent_method="checkbox",
        language="en",
    )
    order_id = services.place_order(
        actor=shop_api,
        purpose="order_fulfilment",
        customer_id=cid,
        number=order,
        items=[{"sku": "RG-18K-01", "name": "Nhẫn vàng 18K", "quantity": 1}],
        total="5200000",
        fields={"full_name": name, "address": address},
    )
    if not everything:
        return cid
    services.issue_guarantee(
        actor=shop_api,
        purpose="guarantee",
        customer_id=cid,
        number=GUARANTEE,
        product="Nhẫn vàng 18K",
        issued_on=dt.date(2026, 1, 5),
        valid_until=dt.date(2027, 1, 5),
        order_id=order_id,
    )
    authorize_payment(
        actor=shop_api,
        purpose="payment",
        customer_id=cid,
        order_id=order_id,
        card=CardInput(
            number=CARD_NUMBER, expiry_month=12, expiry_year=2030, holder=CARD_HOLDER, cvc="123"
        ),
    )
    issue_invoice(
        actor=shop_api, purpose="payment", customer_id=cid, order_id=order_id, number=INVOICE
    )
    store_id_document(
        actor=shop_api,
        purpose="order_fulfilment",
        customer_id=cid,
        content=PNG,
        content_type="image/png",
    )
    return cid


def registered(cid: uuid.UUID, email: str) -> Customer:
    """Register with the profile's email: verification links the account to the record."""
    account = make_account(email)
    assert uuid.UUID(str(account.customer_id)) == cid, "the account was not linked"
    return Customer(cid, account, customer_client(account))


@pytest.fixture
def nhung(leman: Any, shop_api: Actor) -> Customer:
    return registered(seed_customer(shop_api), EMAIL)


@pytest.fixture
def bao(leman: Any, shop_api: Actor) -> Customer:
    cid = seed_customer(
        shop_api,
        name=OTHER_NAME,
        email=OTHER_EMAIL,
        phone=OTHER_PHONE,
        address=OTHER_ADDRESS,
        order="LM-ORDER-2",
        everything=False,
    )
    return registered(cid, OTHER_EMAIL)


# -- the pages -------------------------------------------------------------------------------

PAGES = {
    "/me/": "Your privacy at Leman Jewelry",
    "/me/data/": "My data",
    "/me/data/edit/": "Correct my data",
    "/me/consents/": "My consents",
    "/me/marketing/": "Marketing",
    "/me/access-log/": "Who looked at my data",
    "/me/policy/": "Policy versions",
}
POSTS = [
    "/me/data/edit/",
    "/me/consents/customer_database/",
    "/me/policy/",
]


@pytest.mark.parametrize("path", [*PAGES, f"/me/receipts/{uuid.uuid4()}/"])
def test_an_anonymous_visitor_is_sent_to_sign_in(leman: Any, client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/me/login/?next=")
    assert path.rstrip("/").split("/")[-1] in response["Location"]


@pytest.mark.parametrize("path", POSTS)
def test_an_anonymous_post_changes_nothing(leman: Any, client: Client, path: str) -> None:
    from pledge.audit.models import AuditEvent

    before = AuditEvent.objects.count()
    response = client.post(path, {"decision": "withdraw", "full_name": "x"})
    assert response.status_code == 302
    assert response["Location"].startswith("/me/login/")
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize(("path", "heading"), PAGES.items())
def test_each_page_works_for_the_signed_in_customer(
    nhung: Customer, path: str, heading: str
) -> None:
    response = nhung.client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>" in html and heading in html
    # Personal data: never kept by a shared browser's cache.
    assert response["Cache-Control"] == "no-store"
    # The navigation to every section, the sessions page and sign-out.
    for link in ["/me/data/", "/me/consents/", "/me/access-log/", "/me/sessions/", "/me/policy/"]:
        assert f'href="{link}"' in html
    assert 'action="/me/logout/"' in html
    # Strict CSP: no inline script or style anywhere.
    assert "<script" not in html and "style=" not in html and "<style" not in html


def test_pages_speak_the_customers_language(nhung: Customer) -> None:
    response = nhung.client.get("/me/", headers={"accept-language": "vi"})
    assert response.status_code == 200
    assert '<html lang="vi">' in response.content.decode()
    english = nhung.client.get("/me/", headers={"accept-language": "en"})
    assert '<html lang="en">' in english.content.decode()


@pytest.mark.parametrize("path", ["/me/", "/me/data/", "/me/access-log/", "/me/marketing/"])
def test_read_only_pages_refuse_other_methods(nhung: Customer, path: str) -> None:
    assert nhung.client.post(path).status_code == 405
    assert nhung.client.delete(path).status_code == 405


def test_home_names_the_channels_for_requests_and_complaints(nhung: Customer) -> None:
    html = nhung.client.get("/me/").content.decode()
    # Preset B: erasure requests and complaints by email to info@leman.jewelry.
    assert "info@leman.jewelry" in html
    assert "Complaints" in html and "Other requests" in html
    # No dead links: every /me/ link on the page is a page that answers.
    import re

    for href in set(re.findall(r'href="(/me/[^"]*)"', html)):
        assert nhung.client.get(href).status_code == 200, href
