"""The checkout as the shop's backend: the form post goes to Pledge's REST API over HTTP with the
storefront's scoped key, carrying exactly the declared fields for the order purpose (P01), and the
optional consent only when ticked (P04). Bad input gets a clear 4xx and changes nothing."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.utils import translation
from django.utils.html import escape
from pytest_django.fixtures import Settings

from pledge.api.services import revoke_api_key
from pledge.audit.events import EventType
from pledge.audit.models import AuditEvent
from pledge.consent.models import ConsentEvent
from pledge.demoshop import messages
from pledge.vault import services
from pledge.vault.models import Customer, EncryptedValue, Order
from tests.demoshop.conftest import ADDRESS, EMAIL, NAME, Storefront, checkout_post

DECLARED = {"full_name", "address", "email", "phone"}
Staff = Callable[..., Any]


@pytest.fixture
def client() -> Client:
    # Django's client skips CSRF checks unless asked: the storefront's form is CSRF-protected.
    return Client(enforce_csrf_checks=True)


def vault_state() -> tuple[int, int, int, int]:
    return (
        Customer.objects.count(),
        EncryptedValue.objects.count(),
        Order.objects.count(),
        ConsentEvent.objects.count(),
    )


def events(event_type: EventType) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(type=event_type.value).order_by("seq"))


def test_checkout_sends_exactly_the_declared_fields(
    storefront: Storefront, client: Client, staff: Staff
) -> None:
    response = checkout_post(client, "en")
    assert response.status_code == 200, response.content.decode()[:2000]
    html = response.content.decode()
    assert "Thank you, your order is placed" in html
    assert response["Cache-Control"].startswith("max-age=0")
    assert 'href="/me/register/"' in html
    number = re.search(r"Order number (DEMO-[0-9A-F]{10})", html)
    assert number is not None

    customer = Customer.objects.get()
    assert customer.language == "en"
    # Through the vault, as a staff member who may read the order purpose: the four fields.
    view = services.read_customer(
        actor=staff("sales"), purpose="order_fulfilment", customer_id=customer.id
    )
    assert set(view.fields) == DECLARED
    assert view.fields["full_name"] == NAME
    assert view.fields["address"] == ADDRESS
    assert view.fields["phone"] == "+84912345678"
    profile = EncryptedValue.objects.filter(customer=customer, record_kind="profile")
    assert set(profile.values_list("field", flat=True)) == DECLARED
    order = Order.objects.get(customer=customer)
    assert order.number == number.group(1)
    assert order.total == 5_200_000
    on_order = EncryptedValue.objects.filter(customer=customer, record_kind="order")
    assert set(on_order.values_list("field", flat=True)) == DECLARED

    # The audit log: the storefront's key, the order purpose, these fields and no others.
    (created,) = events(EventType.CUSTOMER_CREATED)
    assert created.actor == f"api:{storefront.prefix}"
    assert created.purpose == "order_fulfilment"
    assert set(created.fields.split(",")) == DECLARED
    (placed,) = events(EventType.ORDER_PLACED)
    assert placed.purpose == "order_fulfilment"
    assert set(placed.fields.split(",")) == DECLARED | {"purchase_history"}
    # Unticked: nothing for the consent purpose.
    assert not ConsentEvent.objects.exists()
    assert not events(EventType.CUSTOMER_UPDATED)
    assert "You did not tick the optional box" in html


def test_ticked_consent_writes_a_given_event_to_the_ledger(
    storefront: Storefront, client: Client, staff: Staff
) -> None:
    response = checkout_post(client, "vi", consent="yes")
    assert response.status_code == 200, response.content.decode()[:2000]
    customer = Customer.objects.get()
    assert customer.language == "vi"
    given = ConsentEvent.objects.get(customer_id=customer.id)
    assert given.purpose == "customer_database"
    assert given.action == ConsentEvent.Action.GIVEN
    assert given.method == "checkbox"
    (updated,) = events(EventType.CUSTOMER_UPDATED)
    assert updated.purpose == "customer_database"
    assert set(updated.fields.split(",")) == DECLARED
    # The consent is live: the consent purpose may now be used for this customer.
    view = services.read_customer(
        actor=staff("customer_service"), purpose="customer_database", customer_id=customer.id
    )
    assert set(view.fields) <= DECLARED | {"purchase_history", "guarantee_number"}
    assert "Quản lý cơ sở dữ liệu khách hàng" in response.content.decode()


@pytest.mark.parametrize("extra", ["id_number", "card_cvc", "id_document", "purchase_history"])
def test_an_extra_field_is_refused_and_nothing_is_sent(
    storefront: Storefront, client: Client, extra: str
) -> None:
    before = vault_state()
    audit_before = AuditEvent.objects.count()
    response = checkout_post(client, "en", **{extra: "079123456789"})
    assert response.status_code == 400
    html = response.content.decode()
    assert f"This checkout does not collect “{extra}”" in html
    assert "Nothing was sent" in html
    assert vault_state() == before
    # Not even a refused call reached the API: nothing was forwarded.
    assert AuditEvent.objects.count() == audit_before
    # What the customer typed is still in the form.
    assert f'value="{EMAIL}"' in html


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_api_refusal_is_shown_on_the_field_in_the_page_language(
    storefront: Storefront, client: Client, lang: str
) -> None:
    before = vault_state()
    response = checkout_post(client, lang, email="not-an-email", phone="12")
    assert response.status_code == 422
    html = response.content.decode()
    assert re.search(r'id="id_email"[^>]*aria-invalid="true"', html)
    assert re.search(r'id="id_phone"[^>]*aria-invalid="true"', html)
    assert 'id="error_email"' in html and 'id="error_phone"' in html
    assert 'id="error_full_name"' not in html
    assert "Traceback" not in html
    assert vault_state() == before
    # The rule's sentence in the page's language (from the catalog once translated).
    with translation.override(lang):
        assert escape(messages.for_rule("email_format")) in html
        assert escape(messages.for_rule("phone_format")) in html


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("N" * 300, "This is too long."),
        ("Nhung\x00\x1b[31m", "This contains characters that cannot be used here."),
    ],
)
def test_a_value_the_vault_refuses_is_shown_on_its_field(
    storefront: Storefront, client: Client, value: str, message: str
) -> None:
    before = vault_state()
    response = checkout_post(client, "en", full_name=value)
    assert response.status_code == 422
    html = response.content.decode()
    assert message in html
    assert 'id="error_full_name"' in html
    assert vault_state() == before


def test_an_oversized_value_is_refused_before_the_api(
    storefront: Storefront, client: Client
) -> None:
    audit_before = AuditEvent.objects.count()
    response = checkout_post(client, "en", address="x" * 100_000)
    assert response.status_code == 400
    assert 'id="error_address"' in response.content.decode()
    assert AuditEvent.objects.count() == audit_before


@pytest.mark.parametrize(
    ("changes", "error_id"),
    [
        ({"full_name": "   "}, "error_full_name"),
        ({"phone": None}, "error_phone"),
        ({"quantity": "0"}, None),
        ({"quantity": "many"}, None),
        ({"quantity": "999"}, None),
        ({"email": ["a@example.vn", "b@example.vn"]}, "error_email"),
        ({"consent": "maybe"}, None),
    ],
)
def test_bad_form_input_gets_a_clear_400_and_changes_nothing(
    storefront: Storefront, client: Client, changes: dict[str, Any], error_id: str | None
) -> None:
    before = vault_state()
    audit_before = AuditEvent.objects.count()
    response = checkout_post(client, "en", **changes)
    assert response.status_code == 400
    html = response.content.decode()
    assert "Traceback" not in html
    if error_id:
        assert f'id="{error_id}"' in html
    else:
        assert 'class="field-error"' in html or 'class="form-errors"' in html
    assert vault_state() == before
    assert AuditEvent.objects.count() == audit_before


def test_a_post_without_the_csrf_token_is_refused(storefront: Storefront, client: Client) -> None:
    before = vault_state()
    response = client.post("/demo-shop/checkout/", {"full_name": NAME})
    assert response.status_code == 403
    assert vault_state() == before


def test_an_unreachable_api_gives_a_clear_message(
    storefront: Storefront, client: Client, settings: Settings, closed_port: int
) -> None:
    settings.PLEDGE_PUBLIC_URL = f"http://127.0.0.1:{closed_port}"
    before = vault_state()
    response = checkout_post(client, "en")
    assert response.status_code == 503
    html = response.content.decode()
    assert "did not answer, so nothing was sent" in html
    assert f'value="{EMAIL}"' in html
    assert vault_state() == before


def test_a_server_that_is_not_pledge_is_unreachable_too(
    storefront: Storefront, client: Client, settings: Settings
) -> None:
    # The live server answers /nowhere/api/v1/customers with an HTML 404, not a problem document.
    settings.PLEDGE_PUBLIC_URL = f"{storefront.url}/nowhere"
    response = checkout_post(client, "en")
    assert response.status_code == 503
    assert "did not answer" in response.content.decode()
    assert not Customer.objects.exists()


def test_a_revoked_key_is_explained_and_records_nothing(
    storefront: Storefront, client: Client
) -> None:
    revoke_api_key(actor="system:test", name="demo-shop-test")
    response = checkout_post(client, "en")
    assert response.status_code == 503
    assert "API key was refused by Pledge" in response.content.decode()
    assert not Customer.objects.exists()


def test_without_a_key_the_checkout_explains_how_to_create_one(
    storefront: Storefront, client: Client, settings: Settings
) -> None:
    settings.PLEDGE_DEMO_SHOP_KEY = ""
    response = checkout_post(client, "en")
    assert response.status_code == 503
    assert "pledge apikey create --name demo-shop" in response.content.decode()
    assert not Customer.objects.exists()


def test_a_key_without_the_consent_purpose_still_places_the_order_and_says_so(
    storefront: Storefront, client: Client, settings: Settings
) -> None:
    from pledge.api.services import create_api_key

    settings.PLEDGE_DEMO_SHOP_KEY = create_api_key(
        actor="system:test", name="order-only", purposes=["order_fulfilment"]
    ).token
    response = checkout_post(client, "en", consent="yes")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Your consent could not be recorded" in html
    assert Order.objects.count() == 1
    assert not ConsentEvent.objects.exists()


def test_a_host_header_cannot_send_the_key_to_another_port(
    storefront: Storefront, settings: Settings
) -> None:
    """Django checks the Host header's name against ALLOWED_HOSTS, not its port: without
    PLEDGE_PUBLIC_URL, "Host: 127.0.0.1:6379" must not make the storefront post its key there."""
    from django.test import RequestFactory

    from pledge.demoshop.backend import ApiAddressUnsafe, api_base

    settings.PLEDGE_PUBLIC_URL = ""
    factory = RequestFactory()
    for host in ("127.0.0.1:6379", "localhost:22", "127.0.0.1", "127.0.0.1:99999"):
        request = factory.get("/demo-shop/", HTTP_HOST=host, SERVER_PORT="8000")
        with pytest.raises(ApiAddressUnsafe):
            api_base(request)
    same = factory.get("/demo-shop/", HTTP_HOST="localhost:8000", SERVER_PORT="8000")
    assert api_base(same) == "http://localhost:8000/api/v1"


def test_without_public_url_the_api_is_this_servers_own_address(
    storefront: Storefront, settings: Settings
) -> None:
    """With PLEDGE_PUBLIC_URL unset the storefront calls the address it was reached at."""
    from django.test import RequestFactory

    from pledge.demoshop.backend import ApiAddressUnsafe, api_base

    settings.PLEDGE_PUBLIC_URL = ""
    request = RequestFactory().get("/demo-shop/", HTTP_HOST="127.0.0.1:8000", SERVER_PORT="8000")
    assert api_base(request) == "http://127.0.0.1:8000/api/v1"
    # A wildcard in ALLOWED_HOSTS would let any Host header choose where the key goes.
    settings.ALLOWED_HOSTS = ["*"]
    with pytest.raises(ApiAddressUnsafe):
        api_base(request)
    settings.PLEDGE_PUBLIC_URL = "file:///etc"
    with pytest.raises(ApiAddressUnsafe):
        api_base(request)
