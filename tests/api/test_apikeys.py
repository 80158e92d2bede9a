"""`pledge apikey create|list|revoke` and the key services: a key is shown once and kept hashed."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from pledge.api.models import ApiKey
from pledge.api.services import TOKEN_RE, ApiKeyError, create_api_key, revoke_api_key
from pledge.audit.models import AuditEvent
from tests.api.conftest import Api, World, assert_problem, last_event


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("apikey", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_prints_the_key_once_and_stores_only_its_hash(leman: Any) -> None:
    out, err = run("create", "--name", "shop-backend", "--purposes", "order_fulfilment,guarantee")
    token = out.strip()
    assert TOKEN_RE.fullmatch(token), out
    assert token not in err and "shown this once" in err
    key = ApiKey.objects.get()
    assert (key.name, key.purposes, key.role) == (
        "shop-backend",
        ["order_fulfilment", "guarantee"],
        "",
    )
    secret = token.rsplit("_", 1)[1]
    # Nowhere in the table: not the token, not its secret part.
    for row in ApiKey.objects.values():
        text = json.dumps(row, default=str)
        assert token not in text and secret not in text
    # Nor in the audit log, nor in any later listing.
    assert not any(secret in e.canonical for e in AuditEvent.objects.all())
    listed, _ = run("list")
    assert "shop-backend" in listed and key.prefix in listed and secret not in listed
    event = last_event()
    assert (event.type, event.actor, event.record) == (
        "api:key_created",
        "system:cli",
        f"api_key:{key.prefix}",
    )
    assert json.loads(event.details) == {
        "name": "shop-backend",
        "purposes": ["order_fulfilment", "guarantee"],
        "role": "",
    }


def test_the_printed_key_opens_the_api(leman: Any, world: World) -> None:
    out, _ = run("create", "--name", "backend", "--purposes", "order_fulfilment")
    response = Api(out.strip()).get(f"/customers/{world.a}", purpose="order_fulfilment")
    assert response.status_code == 200


def test_create_refuses_purposes_the_policy_does_not_declare(leman: Any) -> None:
    with pytest.raises(CommandError) as err:
        run("create", "--name", "x", "--purposes", "order_fulfilment,marketing,subject_access")
    message = str(err.value)
    assert "'marketing'" in message and "'subject_access'" in message
    assert "order_fulfilment" in message  # the purposes that exist are listed
    assert ApiKey.objects.count() == 0


def test_create_refuses_an_unknown_role_a_bad_name_and_a_taken_name(leman: Any) -> None:
    with pytest.raises(CommandError, match="no role 'cashier'"):
        run("create", "--name", "x", "--purposes", "payment", "--role", "cashier")
    with pytest.raises(CommandError, match="key name"):
        run("create", "--name", "bad name!", "--purposes", "payment")
    with pytest.raises(CommandError, match="at least one purpose"):
        run("create", "--name", "x", "--purposes", " , ")
    run("create", "--name", "x", "--purposes", "payment", "--role", "accounting")
    assert ApiKey.objects.get().role == "accounting"
    with pytest.raises(CommandError, match="exists"):
        run("create", "--name", "x", "--purposes", "payment")


def test_create_needs_a_policy_in_force(db: None) -> None:
    with pytest.raises(CommandError, match="no privacy policy is in force"):
        run("create", "--name", "x", "--purposes", "payment")


def test_revoke_stops_the_key_at_once_and_is_recorded(leman: Any, world: World) -> None:
    out, _ = run("create", "--name", "old", "--purposes", "order_fulfilment")
    api = Api(out.strip())
    assert api.get(f"/customers/{world.a}", purpose="order_fulfilment").status_code == 200
    revoked, _ = run("revoke", "old")
    assert "revoked old" in revoked
    assert last_event().type == "api:key_revoked"
    assert_problem(api.get(f"/customers/{world.a}", purpose="order_fulfilment"), 401)
    listed, _ = run("list")
    assert "revoked" in listed
    with pytest.raises(CommandError, match="already revoked"):
        run("revoke", "old")
    with pytest.raises(CommandError, match="no key named"):
        run("revoke", "never")


def test_list_without_keys(db: None) -> None:
    assert run("list")[0].strip() == "no API keys"


def test_every_key_is_different(leman: Any) -> None:
    tokens = {
        create_api_key(actor="system:test", name=f"k{i}", purposes=["payment"]).token
        for i in range(20)
    }
    assert len(tokens) == 20
    assert len({t.split("_")[1] for t in tokens}) == 20


def test_services_raise_for_the_console(leman: Any) -> None:
    with pytest.raises(ApiKeyError):
        revoke_api_key(actor="system:test", name="missing")
