"""Every refusal is refused with the right error and rule, recorded ("refused and recorded", P06)
with the purpose and the field names but no personal value, and changes nothing else.

Preset B (Leman Jewelry) is in force; one variant restricts `phone` to two roles (access_roles,
P09) to exercise a field another role may not see.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps

from pledge.audit.models import AuditEvent
from pledge.vault import services
from pledge.vault.access import SUBJECT_ACCESS, Actor
from pledge.vault.errors import AccessRefused, ConsentRequired, FieldsRefused, VaultError
from tests.security.helpers import Scanner, phone_forms, text_forms

A = {
    "full_name": "Huỳnh Thị Bích Trâm",
    "email": "bich.tram.refuse@example.vn",
    "phone": "0912 808 414",
    "address": "45 Đường Trần Hưng Đạo, Quận 5, TP Hồ Chí Minh",
}
B = {
    "full_name": "Lương Văn Khải Hưng",
    "email": "khai.hung.refuse@example.vn",
    "phone": "0903 606 727",
    "address": "3 Ngõ Văn Chương, Đống Đa, Hà Nội",
}
# Values that refused calls try to write or look up: none may reach the audit log either.
ATTEMPTED = {
    "new_address": "Biệt thự 12 Khu Đô Thị Ciputra, Tây Hồ",
    "new_name": "Tôn Nữ Diễm Kiều Phương",
    "cookie": "ck-7f3e-refused-cookie-value",
    "passport": "Hộ chiếu C7731946",
    "lookup_email": "bich.tram.refuse@example.vn",
}


def needles() -> dict[str, set[bytes]]:
    out: dict[str, set[bytes]] = {}
    for who, values in (("A", A), ("B", B), ("attempted", ATTEMPTED)):
        for key, value in values.items():
            label = f"{who}.{key}"
            out[label] = phone_forms(value) if key == "phone" else text_forms(value)
    return out


PERSONAL = Scanner(needles())


def row_counts() -> dict[str, int]:
    """Rows of every table of the data apps (the audit log is checked on its own)."""
    counts = {}
    for label in ("vault", "consent", "policy", "audit"):
        for model in apps.get_app_config(label).get_models():
            if model is not AuditEvent:
                counts[model._meta.label] = model._default_manager.count()
    return counts


@dataclass
class World:
    shop: Actor
    a: uuid.UUID
    b: uuid.UUID
    extra: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def world(leman: Any, shop_api: Actor) -> World:
    a = services.collect_customer(actor=shop_api, purpose="order_fulfilment", fields=A)
    b = services.collect_customer(actor=shop_api, purpose="order_fulfilment", fields=B)
    return World(shop_api, a, b)


def staff(role: str) -> Actor:
    return Actor(kind="staff", id=f"{role}-1", role=role)


NARROW_KEY = Actor(kind="api", id="narrow-key", purposes=frozenset({"guarantee"}))


@dataclass(frozen=True)
class Case:
    call: Callable[[World], object]
    error: type[VaultError]
    rule: str
    event: str
    purpose: str
    fields: str  # the refused fields, as the event lists them
    actor: Callable[[World], Actor]
    customer: str = ""  # "a", "b" or "" (no customer)


CASES: dict[str, Case] = {
    "write for an undeclared purpose": Case(
        lambda w: services.collect_customer(
            actor=w.shop, purpose="marketing_blast", fields={"full_name": ATTEMPTED["new_name"]}
        ),
        AccessRefused,
        "purpose_undeclared",
        "vault:write_refused",
        "marketing_blast",
        "",
        lambda w: w.shop,
    ),
    "read for an undeclared purpose": Case(
        lambda w: services.read_customer(
            actor=staff("owner"), purpose="profiling", customer_id=w.a, fields=["email"]
        ),
        AccessRefused,
        "purpose_undeclared",
        "vault:access_refused",
        "profiling",
        "",
        lambda w: staff("owner"),
        "a",
    ),
    "write for a purpose outside the API key's scope": Case(
        lambda w: services.update_customer(
            actor=NARROW_KEY,
            purpose="order_fulfilment",
            customer_id=w.a,
            fields={"address": ATTEMPTED["new_address"]},
        ),
        AccessRefused,
        "purpose_not_in_scope",
        "vault:write_refused",
        "order_fulfilment",
        "",
        lambda w: NARROW_KEY,
        "a",
    ),
    "read for a purpose outside the API key's scope": Case(
        lambda w: services.read_customer(
            actor=NARROW_KEY, purpose="customer_database", customer_id=w.a
        ),
        AccessRefused,
        "purpose_not_in_scope",
        "vault:access_refused",
        "customer_database",
        "",
        lambda w: NARROW_KEY,
        "a",
    ),
    "P01 field not declared for the purpose": Case(
        lambda w: services.collect_customer(
            actor=w.shop,
            purpose="guarantee",
            fields={"full_name": ATTEMPTED["new_name"], "cookie_id": ATTEMPTED["cookie"]},
        ),
        FieldsRefused,
        "not_declared_for_purpose",
        "vault:write_refused",
        "guarantee",
        "cookie_id",
        lambda w: w.shop,
    ),
    "P01 field the policy does not declare": Case(
        lambda w: services.update_customer(
            actor=w.shop,
            purpose="order_fulfilment",
            customer_id=w.a,
            fields={"passport_number": ATTEMPTED["passport"]},
        ),
        FieldsRefused,
        "field_undeclared",
        "vault:write_refused",
        "order_fulfilment",
        "passport_number",
        lambda w: w.shop,
        "a",
    ),
    "P09 another role's field (payment history is accounting's)": Case(
        lambda w: services.read_customer(
            actor=staff("sales"),
            purpose="order_fulfilment",
            customer_id=w.a,
            fields=["full_name", "payment_history"],
        ),
        AccessRefused,
        "field_not_visible",
        "vault:access_refused",
        "order_fulfilment",
        "payment_history",
        lambda w: staff("sales"),
        "a",
    ),
    "P09 lookup by a field the purpose may not read": Case(
        lambda w: services.lookup_customers(
            actor=staff("accounting"),
            purpose="payment",
            by="email",
            value=ATTEMPTED["lookup_email"],
        ),
        AccessRefused,
        "field_not_visible",
        "vault:access_refused",
        "payment",
        "email",
        lambda w: staff("accounting"),
    ),
    "staff role not allowed the purpose": Case(
        lambda w: services.read_customer(
            actor=staff("accounting"),
            purpose="order_fulfilment",
            customer_id=w.a,
            fields=["full_name"],
        ),
        AccessRefused,
        "role_not_allowed",
        "vault:access_refused",
        "order_fulfilment",
        "",
        lambda w: staff("accounting"),
        "a",
    ),
    "P04 consent-based read without consent": Case(
        lambda w: services.read_customer(
            actor=staff("owner"), purpose="customer_database", customer_id=w.a
        ),
        ConsentRequired,
        "consent_required",
        "vault:access_refused",
        "customer_database",
        "",
        lambda w: staff("owner"),
        "a",
    ),
    "P04 consent-based write without consent": Case(
        lambda w: services.update_customer(
            actor=w.shop,
            purpose="customer_database",
            customer_id=w.a,
            fields={"address": ATTEMPTED["new_address"]},
        ),
        ConsentRequired,
        "consent_required",
        "vault:write_refused",
        "customer_database",
        "",
        lambda w: w.shop,
        "a",
    ),
    "customer reading another customer": Case(
        lambda w: services.read_customer(
            actor=Actor(kind="customer", id=str(w.a)), purpose="order_fulfilment", customer_id=w.b
        ),
        AccessRefused,
        "not_own_data",
        "vault:access_refused",
        "order_fulfilment",
        "",
        lambda w: Actor(kind="customer", id=str(w.a)),
        "b",
    ),
    "customer using subject access on another customer": Case(
        lambda w: services.read_customer(
            actor=Actor(kind="customer", id=str(w.a)), purpose=SUBJECT_ACCESS, customer_id=w.b
        ),
        AccessRefused,
        "subject_access_self_only",
        "vault:access_refused",
        SUBJECT_ACCESS,
        "",
        lambda w: Actor(kind="customer", id=str(w.a)),
        "b",
    ),
    "customer listing another customer's orders": Case(
        lambda w: services.list_orders(
            actor=Actor(kind="customer", id=str(w.a)), purpose=SUBJECT_ACCESS, customer_id=w.b
        ),
        AccessRefused,
        "subject_access_self_only",
        "vault:access_refused",
        SUBJECT_ACCESS,
        "",
        lambda w: Actor(kind="customer", id=str(w.a)),
        "b",
    ),
    "customer writing another customer's profile": Case(
        lambda w: services.update_customer(
            actor=Actor(kind="customer", id=str(w.a)),
            purpose="order_fulfilment",
            customer_id=w.b,
            fields={"full_name": ATTEMPTED["new_name"]},
        ),
        AccessRefused,
        "not_own_data",
        "vault:write_refused",
        "order_fulfilment",
        "",
        lambda w: Actor(kind="customer", id=str(w.a)),
        "b",
    ),
    "staff using the customer's subject access": Case(
        lambda w: services.read_customer(
            actor=staff("owner"), purpose=SUBJECT_ACCESS, customer_id=w.a
        ),
        AccessRefused,
        "subject_access_self_only",
        "vault:access_refused",
        SUBJECT_ACCESS,
        "",
        lambda w: staff("owner"),
        "a",
    ),
}


def check_refusal(world: World, case: Case) -> AuditEvent:
    before = row_counts()
    last = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    with pytest.raises(VaultError) as err:
        case.call(world)
    error = err.value
    assert type(error) is case.error, repr(error)
    assert error.problems and error.problems[0].rule == case.rule
    # The error a caller sees names no personal value either.
    message = f"{error.message} {[p.as_dict() for p in error.problems]}"
    assert PERSONAL.scan_bytes(message.encode(), "error") == []

    new = list(AuditEvent.objects.filter(seq__gt=last).order_by("seq"))
    assert len(new) == 1, [(e.type, e.outcome) for e in new]
    (event,) = new
    assert event.type == case.event
    assert event.outcome == "refused"
    assert event.purpose == case.purpose
    assert event.actor == case.actor(world).label
    assert event.actor_role == case.actor(world).role
    expected_customer = {"a": world.a, "b": world.b, "": None}[case.customer]
    assert event.customer_id == expected_customer
    assert f'"rule":"{case.rule}"' in event.details
    everything = f"{event.canonical}\x00{event.details}\x00{event.fields}\x00{event.record}"
    assert PERSONAL.scan_bytes(everything.encode(), f"event {event.seq}") == []
    # Nothing else changed.
    assert row_counts() == before
    return event


@pytest.mark.parametrize("name", list(CASES))
def test_refusal_is_audited_with_no_personal_value_and_changes_nothing(
    world: World, name: str
) -> None:
    case = CASES[name]
    event = check_refusal(world, case)
    if case.fields:
        assert event.fields == case.fields


# Refusals of a purpose, a role, a consent or another customer's record concern fields too: the
# ones the call tried to write or read. docs/audit.md: `vault:write_refused` and
# `vault:access_refused` carry the "refused fields".
NAMED_FIELDS = {
    "read for an undeclared purpose": "email",
    "write for a purpose outside the API key's scope": "address",
    "write for an undeclared purpose": "full_name",
    "staff role not allowed the purpose": "full_name",
    "P04 consent-based write without consent": "address",
    "customer writing another customer's profile": "full_name",
}


@pytest.mark.parametrize("name", list(NAMED_FIELDS))
def test_purpose_refusal_names_the_fields_the_call_tried(world: World, name: str) -> None:
    event = check_refusal(world, CASES[name])
    assert event.fields == NAMED_FIELDS[name]


def test_refusals_accumulate_one_event_each_and_the_chain_stays_intact(world: World) -> None:
    from pledge.audit.verify import verify_chain

    start = AuditEvent.objects.count()
    for case in CASES.values():
        with pytest.raises(case.error):
            case.call(world)
    refused = AuditEvent.objects.filter(outcome="refused")
    assert refused.count() == len(CASES)
    assert AuditEvent.objects.count() == start + len(CASES)
    assert verify_chain().ok


# -- a field restricted to some roles (access_roles, P09) ------------------------------------


@pytest.fixture
def leman_phone_restricted(db: None, tmp_path: Path) -> Any:
    """Preset B with `phone` visible only to customer service and the owner."""
    from pledge.policy.enforcement import clear_policy_cache, enforced_policy
    from pledge.policy.loader import load_policy
    from pledge.policy.services import publish_policy

    source = (
        Path(__file__).resolve().parents[2] / "src/pledge/policy/presets/leman-jewelry.yaml"
    ).read_text(encoding="utf-8")
    anchor = "  - key: phone\n    records: [profile, order, guarantee]\n"
    assert anchor in source
    path = tmp_path / "leman-phone-restricted.yaml"
    path.write_text(
        source.replace(anchor, anchor + "    access_roles: [customer_service, owner]\n"),
        encoding="utf-8",
    )
    clear_policy_cache()
    loaded = load_policy(str(path))
    publish_policy(loaded, actor="test", effective_date=loaded.policy.effective_date)
    clear_policy_cache()
    enforced = enforced_policy()
    assert enforced.field_roles["phone"] == frozenset({"customer_service", "owner"})
    yield enforced
    clear_policy_cache()


def test_p09_field_restricted_to_other_roles_is_refused_and_audited(
    leman_phone_restricted: Any, shop_api: Actor
) -> None:
    a = services.collect_customer(actor=shop_api, purpose="order_fulfilment", fields=A)
    world = World(shop_api, a, a)
    case = Case(
        lambda w: services.read_customer(
            actor=staff("sales"), purpose="order_fulfilment", customer_id=w.a, fields=["phone"]
        ),
        AccessRefused,
        "field_not_visible",
        "vault:access_refused",
        "order_fulfilment",
        "phone",
        lambda w: staff("sales"),
        "a",
    )
    event = check_refusal(world, case)
    assert event.fields == "phone"
    # Sales still read the rest, without the phone; customer service (an allowed role) sees it.
    view = services.read_customer(actor=staff("sales"), purpose="order_fulfilment", customer_id=a)
    assert "phone" not in view.fields and view.fields["full_name"] == A["full_name"]
    desk = services.read_customer(
        actor=staff("customer_service"), purpose="order_fulfilment", customer_id=a
    )
    assert desk.fields["phone"] == "+84912808414"
    # Finding someone by phone is reading it: refused for sales too.
    with pytest.raises(AccessRefused):
        services.lookup_customers(
            actor=staff("sales"), purpose="order_fulfilment", by="phone", value=A["phone"]
        )


# -- hostile purpose text --------------------------------------------------------------------


@pytest.mark.parametrize(
    "purpose",
    ["order\x1ffulfilment", "order\x00fulfilment", "x" * 5000, "mục_đích_lạ"],
    ids=["unit separator", "NUL", "5000 characters", "non-ASCII"],
)
def test_hostile_purpose_is_refused_and_recorded_like_any_undeclared_one(
    world: World, purpose: str
) -> None:
    """A purpose comes from the caller (API body, form): whatever its bytes, the answer is a
    clear refusal (4xx), recorded, and the audit chain stays intact."""
    from pledge.audit.verify import verify_chain

    last = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    before = row_counts()
    with pytest.raises(AccessRefused) as err:
        services.read_customer(
            actor=staff("owner"), purpose=purpose, customer_id=world.a, fields=["email"]
        )
    assert err.value.problems[0].rule == "purpose_undeclared"
    event = AuditEvent.objects.get(seq=last + 1)
    assert (event.type, event.outcome) == ("vault:access_refused", "refused")
    assert "\x1f" not in event.purpose and "\x00" not in event.purpose
    assert len(event.purpose) <= 63
    assert row_counts() == before
    assert verify_chain().ok
