"""`pledge staff create|list|disable`, and the demo's staff accounts (DEMO ONLY)."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django_otp.plugins.otp_static.models import StaticToken

from pledge.accounts.demo import seed_demo_staff
from pledge.accounts.models import StaffProfile
from pledge.audit.models import AuditEvent
from tests.accounts.conftest import english, sign_in, totp_from_secret

RECOVERY = re.compile(r"^  ([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})$", re.M)


def run(*args: str, stdin: str | None = None) -> str:
    out = io.StringIO()
    extra: dict[str, Any] = {"stdin": io.StringIO(stdin)} if stdin is not None else {}
    call_command("staff", *args, stdout=out, stderr=io.StringIO(), **extra)
    return out.getvalue()


def field(out: str, label: str) -> str:
    match = re.search(rf"^{label}:\s+(.+)$", out, re.M)
    assert match, out
    return match.group(1).strip()


def test_create_prints_the_secrets_once_and_they_sign_in(leman: Any) -> None:
    out = run("create", "--email", "Owner@Shop.example", "--role", "owner")
    password = field(out, "Password")
    secret = field(out, "TOTP secret")
    uri = field(out, "otpauth URI")
    codes = RECOVERY.findall(out)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert re.fullmatch(r"[A-Z2-7]{4}( [A-Z2-7]{4})+", secret)
    assert uri.startswith("otpauth://totp/Pledge%3Aowner%40shop.example?secret=")
    assert "issuer=Pledge" in uri
    assert "█" in out or "▀" in out  # the QR code, drawn in the terminal
    # Each secret printed once.
    for secret_text in (password, secret, *codes):
        assert out.count(secret_text) == 1

    # Stored only as hashes.
    user = User.objects.get(username="owner@shop.example")
    assert user.email == "Owner@Shop.example"
    assert user.password.startswith("argon2$argon2id$") and password not in user.password
    stored = set(StaticToken.objects.values_list("token", flat=True))
    assert len(stored) == 10 and not stored & {c.replace("-", "") for c in codes}
    assert StaffProfile.objects.get(user=user).created_by == "system:cli"
    created = AuditEvent.objects.filter(type="staff:created").get()
    assert (created.actor, json.loads(created.details)) == ("system:cli", {"role": "owner"})
    for event in AuditEvent.objects.all():
        assert password not in event.canonical and "shop.example" not in event.canonical.lower()

    # What was printed is what signs in: the password and the app's code from the secret…
    client = english()
    assert sign_in(client, "owner@shop.example", password, totp_from_secret(secret))[
        "Location"
    ] == ("/console/")
    # …or a printed recovery code.
    response = sign_in(english(), "owner@shop.example", password, codes[0])
    assert response["Location"] == "/console/"


def test_create_reads_the_password_from_stdin(leman: Any) -> None:
    out = run(
        "create",
        "--email",
        "ke.toan@shop.example",
        "--role",
        "accounting",
        "--language",
        "en",
        "--password-stdin",
        stdin="lotus window thirty 4 drift\n",
    )
    assert "Password:" not in out and "lotus window" not in out
    user = User.objects.get(username="ke.toan@shop.example")
    assert user.check_password("lotus window thirty 4 drift")
    assert StaffProfile.objects.get(user=user).language == "en"


def test_create_refuses_weak_passwords_unknown_roles_and_duplicates(leman: Any) -> None:
    with pytest.raises(CommandError, match="too weak"):
        run(
            "create",
            "--email",
            "a@shop.example",
            "--role",
            "owner",
            "--password-stdin",
            stdin="123",
        )
    with pytest.raises(CommandError, match="declares no role “janitor”"):
        run("create", "--email", "a@shop.example", "--role", "janitor")
    run("create", "--email", "a@shop.example", "--role", "owner")
    with pytest.raises(CommandError, match="already exists"):
        run("create", "--email", "A@shop.example", "--role", "auditor")
    assert User.objects.count() == 1


def test_create_needs_a_policy_in_force(db: None) -> None:
    with pytest.raises(CommandError, match="No privacy policy is in force"):
        run("create", "--email", "a@shop.example", "--role", "owner")


def test_list_and_disable(leman: Any) -> None:
    assert "no staff accounts" in run("list")
    run("create", "--email", "owner@shop.example", "--role", "owner")
    run("create", "--email", "sales@shop.example", "--role", "sales")
    listing = run("list")
    assert re.search(r"owner@shop.example\s+owner\s+active\s+last sign-in never", listing)
    assert "sales@shop.example" in listing
    assert "disabled sales@shop.example" in run("disable", "SALES@shop.example")
    assert re.search(r"sales@shop.example\s+sales\s+disabled", run("list"))
    assert AuditEvent.objects.filter(type="staff:disabled", actor="system:cli").count() == 1
    with pytest.raises(CommandError, match="already disabled"):
        run("disable", "sales@shop.example")
    with pytest.raises(CommandError, match="no staff account"):
        run("disable", "nobody@shop.example")
    # The operator may disable the last owner (the console refuses to).
    run("disable", "owner@shop.example")


def test_the_demo_creates_one_account_per_role_that_signs_in(leman: Any) -> None:
    accounts = seed_demo_staff()
    assert [a.role for a in accounts] == [r.key for r in leman.policy.roles]
    owner = accounts[0]
    assert owner.email == "owner@demo.pledge.invalid"
    response = sign_in(english(), owner.email, owner.password, totp_from_secret(owner.totp_secret))
    assert response["Location"] == "/console/"
    # Running the demo again finds the same accounts and prints the same credentials.
    again = seed_demo_staff()
    assert again == accounts
    assert StaffProfile.objects.count() == len(accounts)


def test_the_demo_command_prints_the_staff_credentials_marked_demo_only(leman: Any) -> None:
    out = io.StringIO()
    call_command("demo", "--no-serve", "--customers", "0", stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    assert "DEMO ONLY" in text
    for role in ("owner", "customer_service", "sales", "accounting", "auditor"):
        assert f"role {role} (DEMO ONLY)" in text
    assert text.count("otpauth://totp/") == 5
