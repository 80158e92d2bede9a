"""Customer search and the purpose-bound customer view of the console (issue 4 item 3; P09)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.test import Client

from pledge.audit.models import AuditEvent
from pledge.vault.access import Actor
from tests.console.staffing import (
    ADDRESS,
    EMAIL,
    GUARANTEE,
    NAME,
    PHONE_E164,
    login_staff,
    make_staff,
    seed_customer,
)


@pytest.fixture
def customer_id(leman: Any, shop_api: Actor) -> uuid.UUID:
    return seed_customer(shop_api)


def as_role(client: Client, role: str) -> Any:
    user = make_staff(role)
    login_staff(client, user)
    return user


def last_event() -> AuditEvent:
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None
    return event


def page(client: Client, url: str, **params: str) -> Any:
    return client.get(url, params, HTTP_ACCEPT_LANGUAGE="en")


def find(client: Client, **form: str) -> Any:
    return client.post("/console/customers/", form, HTTP_ACCEPT_LANGUAGE="en")


# -- anonymous -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/console/customers/",
        "/console/customers/{id}/?purpose=order_fulfilment",
        "/console/customers/{id}/break-glass/?field=email",
        "/console/",
    ],
)
def test_anonymous_is_sent_to_login(client: Client, leman: Any, path: str) -> None:
    url = path.format(id=uuid.uuid4())
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/console/login/?next=/console/")
    response = client.post(url.split("?")[0], {"reason": "x" * 30})
    assert response.status_code in (302, 405)
    if response.status_code == 302:
        assert response["Location"].startswith("/console/login/")


def test_a_signed_in_user_without_second_factor_is_sent_to_login(
    client: Client, leman: Any
) -> None:
    client.force_login(make_staff("customer_service"))
    response = client.get("/console/customers/")
    assert response.status_code == 302
    assert response["Location"].startswith("/console/login/")


# -- search ----------------------------------------------------------------------------------


def test_search_by_email_finds_the_customer_with_a_masked_name(
    client: Client, customer_id: uuid.UUID
) -> None:
    user = as_role(client, "customer_service")
    response = find(client, by="email", value=EMAIL.upper(), purpose="order_fulfilment")
    assert response.status_code == 200
    html = response.content.decode()
    assert str(customer_id) in html
    assert f"/console/customers/{customer_id}/?purpose=order_fulfilment" in html
    assert "N••• T•• H••• N•••" in html and NAME not in html
    lookups = AuditEvent.objects.filter(type="vault:lookup", actor=f"staff:{user.pk}")
    assert lookups.get().fields == "email"
    assert response["Cache-Control"].startswith("max-age=0")


def test_the_searched_value_never_travels_in_a_url(client: Client, customer_id: uuid.UUID) -> None:
    as_role(client, "customer_service")
    response = page(
        client, "/console/customers/", by="email", value=EMAIL, purpose="order_fulfilment"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert str(customer_id) not in html and 'method="post"' in html
    assert not AuditEvent.objects.filter(type="vault:lookup").exists()
    # ?purpose= only preselects the purpose.
    html = page(client, "/console/customers/", purpose="guarantee").content.decode()
    assert '<option value="guarantee" selected>' in html


def test_the_search_form_is_csrf_protected(customer_id: uuid.UUID) -> None:
    strict = Client(enforce_csrf_checks=True)
    login_staff(strict, make_staff("sales"))
    response = strict.post(
        "/console/customers/", {"by": "email", "value": EMAIL, "purpose": "order_fulfilment"}
    )
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(type="vault:lookup").exists()


def test_search_by_phone_in_another_writing(client: Client, customer_id: uuid.UUID) -> None:
    as_role(client, "sales")
    response = find(
        client,
        by="phone",
        value="+84 912-345-678",
        purpose="order_fulfilment",
    )
    assert response.status_code == 200
    assert str(customer_id) in response.content.decode()


def test_search_by_guarantee_number(client: Client, customer_id: uuid.UUID) -> None:
    user = as_role(client, "sales")
    response = find(
        client,
        by="guarantee_number",
        value=GUARANTEE.lower(),
        purpose="guarantee",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert f"/console/customers/{customer_id}/?purpose=guarantee" in html
    assert "Nhẫn vàng 18K" in html and NAME not in html
    event = last_event()
    assert (event.type, event.actor, event.customer_id) == (
        "vault:guarantee_lookup",
        f"staff:{user.pk}",
        customer_id,
    )


def test_search_without_match_says_so(client: Client, customer_id: uuid.UUID) -> None:
    as_role(client, "customer_service")
    response = find(
        client,
        by="email",
        value="nobody@example.com",
        purpose="order_fulfilment",
    )
    assert response.status_code == 200
    assert "No customer matches." in response.content.decode()


def test_purpose_picker_offers_only_the_purposes_of_the_role(client: Client, leman: Any) -> None:
    for role in ("customer_service", "sales", "accounting", "owner"):
        as_role(client, role)
        html = page(client, "/console/customers/").content.decode()
        select = re.search(r'<select name="purpose".*?</select>', html, re.S)
        assert select is not None
        offered = re.findall(r'<option value="([^"]+)"', select.group(0))
        assert offered == leman.purposes_of_role(role), role
        # Names in the current language, not keys.
        name = leman.policy.purpose(offered[0]).name.en
        assert name in select.group(0)


def test_purpose_names_follow_the_language(client: Client, leman: Any) -> None:
    as_role(client, "sales")
    html = client.get("/console/customers/", HTTP_ACCEPT_LANGUAGE="vi").content.decode()
    assert leman.policy.purpose("order_fulfilment").name.vi in html


def test_a_role_without_purposes_gets_403(client: Client, leman: Any) -> None:
    as_role(client, "auditor")
    assert client.get("/console/customers/").status_code == 403
    assert client.get(f"/console/customers/{uuid.uuid4()}/").status_code == 403


def test_a_lookup_the_vault_refuses_shows_its_rule_and_403(
    client: Client, customer_id: uuid.UUID
) -> None:
    user = as_role(client, "customer_service")
    # order_fulfilment does not read guarantee numbers: finding by one is reading it.
    response = find(
        client,
        by="guarantee_number",
        value=GUARANTEE,
        purpose="order_fulfilment",
    )
    assert response.status_code == 403
    html = response.content.decode()
    assert "Your role may not see this field for this purpose." in html
    assert "field_not_visible" in html and "Traceback" not in html
    event = last_event()
    assert (event.type, event.outcome, event.actor) == (
        "vault:access_refused",
        "refused",
        f"staff:{user.pk}",
    )


def test_a_search_with_a_purpose_outside_the_role_is_refused_and_recorded(
    client: Client, customer_id: uuid.UUID
) -> None:
    as_role(client, "sales")
    response = find(client, by="email", value=EMAIL, purpose="complaints")
    assert response.status_code == 403
    assert "Your role may not act for this purpose." in response.content.decode()
    event = last_event()
    assert (event.type, event.purpose, event.details) == (
        "vault:access_refused",
        "complaints",
        '{"rule":"role_not_allowed"}',
    )


def test_an_invalid_value_is_a_form_error(client: Client, customer_id: uuid.UUID) -> None:
    as_role(client, "sales")
    response = find(client, by="phone", value="not a phone", purpose="order_fulfilment")
    assert response.status_code == 400
    assert "This is not a phone number." in response.content.decode()
    bad = find(client, by="name", value="x", purpose="order_fulfilment")
    assert bad.status_code == 400


# -- the customer view ----------------------------------------------------------------------


def field_value(html: str, key: str) -> str:
    found = re.search(rf'<dd data-field="{key}">(.*?)</dd>', html, re.S)
    assert found is not None, key
    return found.group(1)


def test_the_view_shows_masked_and_whole_values_as_the_policy_says(
    client: Client, customer_id: uuid.UUID, leman: Any
) -> None:
    user = as_role(client, "sales")
    response = page(client, f"/console/customers/{customer_id}/", purpose="order_fulfilment")
    assert response.status_code == 200
    html = response.content.decode()
    # order_fulfilment: unmasked [full_name, address, phone]; email masked.
    assert leman.unmasked["order_fulfilment"] == {"full_name", "address", "phone"}
    assert NAME in field_value(html, "full_name")
    assert ADDRESS in field_value(html, "address")
    assert PHONE_E164 in field_value(html, "phone")
    email = field_value(html, "email")
    assert EMAIL not in html
    assert 'class="masked"' in email and ">masked<" in email and "h•••@e•••.vn" in email
    assert 'aria-describedby="masked-note"' in email
    for key in ("full_name", "address", "phone"):
        assert "masked" not in field_value(html, key)
    assert "LM-ORDER-1" in html  # purchase_history is read for order_fulfilment
    types = list(
        AuditEvent.objects.filter(actor=f"staff:{user.pk}")
        .order_by("seq")
        .values_list("type", flat=True)
    )
    assert types == ["vault:read", "vault:orders_read"]


def test_another_purpose_masks_differently(client: Client, customer_id: uuid.UUID) -> None:
    as_role(client, "customer_service")
    html = page(
        client, f"/console/customers/{customer_id}/", purpose="transaction_confirmation"
    ).content.decode()
    # transaction_confirmation shows nothing whole: name, email and phone masked; no address.
    for key in ("full_name", "email", "phone"):
        assert ">masked<" in field_value(html, key)
    assert '<dd data-field="address">' not in html and '<li data-field="address">' in html
    assert NAME not in html and ADDRESS not in html


def test_a_purpose_outside_the_role_is_403_and_audited(
    client: Client, customer_id: uuid.UUID
) -> None:
    user = as_role(client, "accounting")
    response = page(client, f"/console/customers/{customer_id}/", purpose="order_fulfilment")
    assert response.status_code == 403
    assert NAME not in response.content.decode()
    event = last_event()
    assert (event.type, event.outcome, event.actor, event.customer_id, event.purpose) == (
        "vault:access_refused",
        "refused",
        f"staff:{user.pk}",
        customer_id,
        "order_fulfilment",
    )


def test_an_undeclared_purpose_is_403_and_audited(client: Client, customer_id: uuid.UUID) -> None:
    as_role(client, "sales")
    response = page(client, f"/console/customers/{customer_id}/", purpose="curiosity")
    assert response.status_code == 403
    assert "The privacy policy declares no such purpose." in response.content.decode()
    assert last_event().type == "vault:access_refused"


def test_a_refused_field_is_403_and_audited(client: Client, customer_id: uuid.UUID) -> None:
    user = as_role(client, "sales")
    response = page(
        client,
        f"/console/customers/{customer_id}/",
        purpose="order_fulfilment",
        fields="full_name,card",
    )
    assert response.status_code == 403
    html = response.content.decode()
    assert "Your role may not see this field for this purpose." in html
    assert "payment card" in html  # the field named by its label
    assert NAME not in html
    event = last_event()
    assert (event.type, event.outcome, event.fields, event.actor) == (
        "vault:access_refused",
        "refused",
        "card",
        f"staff:{user.pk}",
    )
    assert event.details == '{"rule":"field_not_visible"}'


def test_asking_for_some_fields_shows_only_those(client: Client, customer_id: uuid.UUID) -> None:
    as_role(client, "sales")
    response = page(
        client, f"/console/customers/{customer_id}/", purpose="order_fulfilment", fields="phone"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert PHONE_E164 in html and NAME not in html and "LM-ORDER-1" not in html
    assert last_event().fields == "phone"


def test_an_unknown_customer_is_404(client: Client, customer_id: uuid.UUID) -> None:
    as_role(client, "sales")
    response = page(client, f"/console/customers/{uuid.uuid4()}/", purpose="order_fulfilment")
    assert response.status_code == 404
    assert page(client, f"/console/customers/{uuid.uuid4()}/").status_code == 404


def test_a_consent_purpose_without_consent_is_refused(
    client: Client, customer_id: uuid.UUID
) -> None:
    as_role(client, "customer_service")
    response = page(client, f"/console/customers/{customer_id}/", purpose="customer_database")
    assert response.status_code == 403
    assert "has not given it" in response.content.decode()
    assert last_event().details == '{"rule":"consent_required"}'


def test_without_purpose_the_view_asks_for_one(client: Client, customer_id: uuid.UUID) -> None:
    as_role(client, "sales")
    response = page(client, f"/console/customers/{customer_id}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f"/console/customers/{customer_id}/?purpose=transaction_confirmation" in html
    assert "purpose=complaints" not in html
    assert not AuditEvent.objects.filter(type="vault:read").exists()


def test_fields_outside_the_purpose_are_listed_with_break_glass_for_the_owner(
    client: Client, customer_id: uuid.UUID, shop_api: Actor
) -> None:
    as_role(client, "owner")
    html = page(client, f"/console/customers/{customer_id}/", purpose="complaints").content.decode()
    hidden = re.search(r'<section aria-labelledby="hidden-title">(.*?)</section>', html, re.S)
    assert hidden is not None
    listed = re.findall(r'<li data-field="([a-z_]+)">', hidden.group(1))
    # complaints reads complaint_details, email, full_name, phone, purchase_history and
    # guarantee_number
    assert set(listed) == {"address", "card", "id_document", "payment_history", "cookie_id"}
    links = re.findall(r"break-glass/\?field=([a-z_]+)", hidden.group(1))
    assert set(links) == {"address", "card", "cookie_id"}  # records and files have their views
    # A masked value the owner may see can be opened whole, too.
    assert "break-glass/?field=phone" in html


def test_no_break_glass_links_without_the_capability(
    client: Client, customer_id: uuid.UUID
) -> None:
    as_role(client, "customer_service")
    html = page(client, f"/console/customers/{customer_id}/", purpose="complaints").content.decode()
    assert "Not shown for this purpose" in html
    assert "break-glass" not in html


def test_an_erased_customer_is_410_with_a_plain_sentence(
    client: Client, customer_id: uuid.UUID
) -> None:
    from pledge.vault.keystore import keystore

    keystore().destroy(customer_id, [0])  # crypto-shredding
    as_role(client, "sales")
    response = page(client, f"/console/customers/{customer_id}/", purpose="order_fulfilment")
    assert response.status_code == 410
    assert "can no longer be decrypted" in response.content.decode()


def test_hostile_parameters_get_a_clear_refusal(client: Client, customer_id: uuid.UUID) -> None:
    as_role(client, "sales")
    url = f"/console/customers/{customer_id}/"
    hostile = page(client, url, purpose="order_fulfilment", fields="<script>x</script>,full_name")
    assert hostile.status_code == 403
    assert "<script>x</script>" not in hostile.content.decode()
    nul = page(client, url, purpose="order\x00fulfilment")
    assert nul.status_code == 403
    assert last_event().purpose == "order\ufffdfulfilment"
    long = page(client, url, purpose="order_fulfilment", fields=",".join(["x"] * 5000))
    assert long.status_code == 403
