"""Break-glass (issue 4 item 3; P09, Decree 356 Art 4): a role with the capability opens fields
outside its purposes with a written reason; recorded, flagged to the owner, acknowledged."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.test import Client

from pledge.audit.models import AuditEvent
from pledge.vault import breakglass, services
from pledge.vault.access import Actor
from pledge.vault.errors import AccessRefused, ValuesInvalid
from pledge.vault.models import BreakGlassAccess
from tests.console.staffing import login_staff, make_staff

NAME = "Trần Văn Bình"
EMAIL = "van.binh@example.vn"
ADDRESS = "5 Hàng Bông, Hoàn Kiếm, Hà Nội"
REASON = "Courier lost the parcel; the customer asked us by phone to confirm the address."
PRESET = Path(__file__).resolve().parents[2] / "src/pledge/policy/presets/leman-jewelry.yaml"


def new_customer(actor: Actor) -> uuid.UUID:
    return services.collect_customer(
        actor=actor,
        purpose="order_fulfilment",
        fields={"full_name": NAME, "email": EMAIL, "phone": "0987 654 321", "address": ADDRESS},
    )


@pytest.fixture
def customer_id(leman: Any, shop_api: Actor) -> uuid.UUID:
    return new_customer(shop_api)


def open_glass(client: Client, cid: uuid.UUID, fields: list[str], reason: str = REASON) -> Any:
    return client.post(
        f"/console/customers/{cid}/break-glass/",
        {"fields_to_open": fields, "reason": reason},
        HTTP_ACCEPT_LANGUAGE="en",
    )


def last_event() -> AuditEvent:
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None
    return event


def test_it_needs_the_capability(client: Client, customer_id: uuid.UUID) -> None:
    for role in ("customer_service", "sales", "auditor"):
        login_staff(client, make_staff(role))
        url = f"/console/customers/{customer_id}/break-glass/?field=address"
        assert client.get(url).status_code == 403
        assert open_glass(client, customer_id, ["address"]).status_code == 403
    assert not BreakGlassAccess.objects.exists()
    assert not AuditEvent.objects.filter(type="vault:break_glass").exists()


def test_the_vault_refuses_a_role_without_the_capability_and_records_it(
    customer_id: uuid.UUID, staff: Any
) -> None:
    with pytest.raises(AccessRefused):
        breakglass.break_glass_read(
            actor=staff("customer_service"),
            customer_id=customer_id,
            fields=["address"],
            reason=REASON,
        )
    event = last_event()
    assert (event.type, event.outcome, event.details) == (
        "vault:access_refused",
        "refused",
        '{"rule":"break_glass_not_allowed"}',
    )


def test_the_form_preselects_the_field_and_asks_for_a_reason(
    client: Client, customer_id: uuid.UUID
) -> None:
    login_staff(client, make_staff("owner"))
    response = client.get(
        f"/console/customers/{customer_id}/break-glass/?field=address&purpose=complaints",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'value="address" checked', html)
    assert not re.search(r'value="email" checked', html)
    assert re.search(r"<textarea[^>]*required[^>]*minlength=\"20\"", html)
    assert "/console/customers/" in html and "?purpose=complaints" in html
    assert not AuditEvent.objects.filter(type="vault:break_glass").exists()


@pytest.mark.parametrize("reason", ["", "   ", "because I can"])
def test_it_needs_a_written_reason(client: Client, customer_id: uuid.UUID, reason: str) -> None:
    login_staff(client, make_staff("owner"))
    response = open_glass(client, customer_id, ["address"], reason)
    assert response.status_code == 400
    assert ADDRESS not in response.content.decode()
    assert not BreakGlassAccess.objects.exists()
    assert not AuditEvent.objects.filter(type="vault:break_glass").exists()


def test_the_vault_itself_refuses_a_short_reason(customer_id: uuid.UUID, staff: Any) -> None:
    with pytest.raises(ValuesInvalid) as err:
        breakglass.break_glass_read(
            actor=staff("owner"), customer_id=customer_id, fields=["address"], reason="too short"
        )
    assert err.value.problems[0].rule == "reason_too_short"


def test_it_opens_the_fields_whole_records_the_access_and_audits_without_the_reason(
    client: Client, customer_id: uuid.UUID
) -> None:
    owner = make_staff("owner")
    login_staff(client, owner)
    response = open_glass(client, customer_id, ["address", "email"])
    assert response.status_code == 200
    html = response.content.decode()
    assert ADDRESS in html and EMAIL in html
    assert response["Cache-Control"].startswith("max-age=0")

    access = BreakGlassAccess.objects.get()
    assert (access.customer_id, access.actor, access.role, access.fields) == (
        customer_id,
        f"staff:{owner.pk}",
        "owner",
        ["address", "email"],
    )
    assert access.acknowledged_at is None
    assert REASON.encode() not in bytes(access.reason)  # encrypted with the customer's key

    event = AuditEvent.objects.get(type="vault:break_glass")
    assert (event.actor, event.actor_role, event.customer_id, event.fields, event.outcome) == (
        f"staff:{owner.pk}",
        "owner",
        customer_id,
        "address,email",
        "ok",
    )
    assert event.record == f"break_glass:{access.id}"
    for text in (event.canonical, event.details):
        assert "Courier" not in text and ADDRESS not in text and EMAIL not in text


def test_the_reason_decrypts_only_for_its_own_access(customer_id: uuid.UUID, staff: Any) -> None:
    owner = staff("owner")
    result = breakglass.break_glass_read(
        actor=owner, customer_id=customer_id, fields=["address"], reason=REASON
    )
    other = breakglass.break_glass_read(
        actor=owner, customer_id=customer_id, fields=["email"], reason=REASON + " (2)"
    )
    # Swap the two ciphertexts: the associated data names the access, so neither opens.
    first = BreakGlassAccess.objects.get(pk=result.access_id)
    second = BreakGlassAccess.objects.get(pk=other.access_id)
    BreakGlassAccess.objects.filter(pk=first.pk).update(reason=bytes(second.reason))
    views = {v.id: v for v in breakglass.recent_accesses(actor=owner)}
    assert views[first.id].reason is None
    assert views[second.id].reason == REASON + " (2)"


def test_an_unknown_customer_is_404(client: Client, leman: Any) -> None:
    login_staff(client, make_staff("owner"))
    assert client.get(f"/console/customers/{uuid.uuid4()}/break-glass/").status_code == 404
    assert open_glass(client, uuid.uuid4(), ["address"]).status_code == 404


def test_fields_that_cannot_be_opened_are_refused(client: Client, customer_id: uuid.UUID) -> None:
    login_staff(client, make_staff("owner"))
    for field in ("card_cvc", "id_document", "purchase_history", "password"):
        assert open_glass(client, customer_id, [field]).status_code == 400
    assert not BreakGlassAccess.objects.exists()


# -- Decree 356 Art 4: access_roles are absolute ----------------------------------------------


@pytest.fixture
def restricted_policy(db: None) -> Iterator[Any]:
    """Preset B with the address restricted to sales (an `access_roles` list without owner)."""
    from pledge.policy.enforcement import clear_policy_cache, enforced_policy
    from pledge.policy.loader import parse_policy
    from pledge.policy.services import publish_policy

    data = yaml.safe_load(PRESET.read_text())
    for entry in data["fields"]:
        if entry["key"] == "address":
            entry["access_roles"] = ["sales"]
    loaded = parse_policy(yaml.safe_dump(data, allow_unicode=True), "restricted")
    clear_policy_cache()
    publish_policy(loaded, actor="test", effective_date=loaded.policy.effective_date)
    clear_policy_cache()
    yield enforced_policy()
    clear_policy_cache()


def test_fields_outside_the_access_roles_stay_refused(
    client: Client, restricted_policy: Any, shop_api: Actor
) -> None:
    cid = new_customer(shop_api)
    owner = make_staff("owner")
    login_staff(client, owner)

    form = client.get(f"/console/customers/{cid}/break-glass/?field=address").content.decode()
    assert re.search(r'value="address"[^>]*disabled', form)

    response = open_glass(client, cid, ["address", "email"])
    assert response.status_code == 200
    html = response.content.decode()
    assert EMAIL in html and ADDRESS not in html
    assert "field_roles_only" not in html and "Decree 356" in html
    access = BreakGlassAccess.objects.get()
    assert access.fields == ["email"]
    refused = AuditEvent.objects.get(type="vault:access_refused")
    assert (refused.fields, refused.outcome, refused.details) == (
        "address",
        "refused",
        '{"rule":"field_roles_only"}',
    )
    assert AuditEvent.objects.get(type="vault:break_glass").fields == "email"

    only_restricted = open_glass(client, cid, ["address"])
    assert only_restricted.status_code == 403
    assert ADDRESS not in only_restricted.content.decode()
    assert BreakGlassAccess.objects.count() == 1
    assert AuditEvent.objects.filter(type="vault:access_refused").count() == 2


# -- the owner's dashboard --------------------------------------------------------------------


def test_it_shows_on_the_owners_dashboard_until_acknowledged(
    client: Client, customer_id: uuid.UUID
) -> None:
    opener = make_staff("owner", "an.owner@leman.test")
    login_staff(client, opener)
    assert open_glass(client, customer_id, ["address"]).status_code == 200
    access = BreakGlassAccess.objects.get()

    reviewer = Client()
    login_staff(reviewer, make_staff("owner", "chau.owner@leman.test"))
    html = reviewer.get("/console/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    row = re.search(rf'<tr data-access="{access.id}" class="flagged">(.*?)</tr>', html, re.S)
    assert row is not None
    for text in ("an.owner@leman.test", "Management Board", str(customer_id), "address", REASON):
        assert text in row.group(1)
    assert "Flagged" in row.group(1) and "Acknowledge" in row.group(1)
    assert re.search(r'data-pending="break_glass">\s*<strong class="flag">1</strong>', html)

    response = reviewer.post("/console/", {"access": str(access.id)})
    assert response.status_code == 302 and response["Location"] == "/console/"
    access.refresh_from_db()
    assert access.acknowledged_at is not None
    assert access.acknowledged_by.startswith("staff:")
    html = reviewer.get("/console/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f'<tr data-access="{access.id}">' in html and "Acknowledged" in html
    assert re.search(r'data-pending="break_glass">\s*<strong>0</strong>', html)
    # A second click changes nothing.
    reviewer.post("/console/", {"access": str(access.id)})
    assert BreakGlassAccess.objects.get().acknowledged_at == access.acknowledged_at


def test_auditors_see_accesses_but_only_the_owner_acknowledges(
    client: Client, customer_id: uuid.UUID, staff: Any
) -> None:
    breakglass.break_glass_read(
        actor=staff("owner"), customer_id=customer_id, fields=["address"], reason=REASON
    )
    access = BreakGlassAccess.objects.get()
    login_staff(client, make_staff("auditor"))
    html = client.get("/console/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert REASON in html and "Flagged" in html
    assert 'name="access"' not in html
    assert client.post("/console/", {"access": str(access.id)}).status_code == 403
    assert BreakGlassAccess.objects.get().acknowledged_at is None


def test_other_roles_do_not_see_break_glass_accesses(
    client: Client, customer_id: uuid.UUID, staff: Any
) -> None:
    breakglass.break_glass_read(
        actor=staff("owner"), customer_id=customer_id, fields=["address"], reason=REASON
    )
    login_staff(client, make_staff("customer_service"))
    html = client.get("/console/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert REASON not in html and "break-glass" not in html.lower()
    with pytest.raises(AccessRefused):
        breakglass.recent_accesses(actor=staff("customer_service"))


def test_acknowledging_a_bad_id_is_a_bad_request(client: Client, leman: Any) -> None:
    login_staff(client, make_staff("owner"))
    assert client.post("/console/", {"access": "nope"}).status_code == 400
    assert client.post("/console/", {"access": str(uuid.uuid4())}).status_code == 400
