"""Signing in to the console: a password, then a TOTP code or a recovery code (P16)."""

from __future__ import annotations

import json
import time
import unicodedata
from typing import Any

import pytest
from django.core import signing

from pledge.accounts.models import StaffSession, ThrottleEvent
from pledge.accounts.signin import make_pending_marker
from pledge.console.views_auth import PENDING_SESSION_KEY
from tests.accounts.conftest import (
    ACCOUNT,
    LOGIN,
    VERIFY,
    Staff,
    english,
    events,
    is_verified_staff_session,
    sign_in,
    signed_in,
)


def test_it_signs_in_with_password_and_a_totp_code(owner: Staff) -> None:
    client = english()
    assert client.get(LOGIN).status_code == 200
    first = client.post(
        LOGIN,
        {"email": owner.email, "password": owner.password},
        REMOTE_ADDR="203.0.113.9",
        HTTP_USER_AGENT="Mozilla/5.0 (test)",
    )
    assert (first.status_code, first["Location"]) == (302, VERIFY)
    # Half-way: nobody is signed in, and the console still sends us to the login page.
    assert "_auth_user_id" not in client.session
    assert client.get(ACCOUNT)["Location"].startswith(LOGIN)
    assert client.get(VERIFY).status_code == 200

    second = client.post(
        VERIFY, {"code": owner.code()}, REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="Mozilla/5.0"
    )
    assert (second.status_code, second["Location"]) == (302, "/console/")
    assert is_verified_staff_session(client, owner.user)
    assert PENDING_SESSION_KEY not in client.session
    assert client.get(ACCOUNT).status_code == 200

    session = StaffSession.objects.get(user=owner.user)
    assert session.session_key == client.session.session_key
    assert session.client_network == "203.0.113.0/24"
    event = events("staff:login_succeeded")[-1]
    assert (event.actor, event.actor_role, event.record) == (
        f"staff:{owner.user.pk}",
        "owner",
        f"staff:{owner.user.pk}",
    )
    assert json.loads(event.details) == {"method": "totp"}


def test_a_code_is_accepted_with_spaces(owner: Staff) -> None:
    code = owner.code()
    response = sign_in(english(), owner.email, owner.password, f"{code[:3]} {code[3:]}")
    assert response["Location"] == "/console/"


def test_the_email_is_matched_whatever_its_case_and_normal_form(leman: Any) -> None:
    from tests.accounts.conftest import make_staff

    staff = make_staff("owner", "Thu.Ha@Cửahàng.vn")
    # NFD input, upper case: the same account.
    typed = unicodedata.normalize("NFD", "THU.HA@CỬAHÀNG.VN")
    response = sign_in(english(), typed, staff.password, staff.code())
    assert response["Location"] == "/console/"


def test_the_second_step_needs_the_first(owner: Staff) -> None:
    client = english()
    response = client.post(VERIFY, {"code": owner.code()})
    assert (response.status_code, response["Location"]) == (302, LOGIN)
    assert "_auth_user_id" not in client.session


def test_the_half_done_sign_in_expires_after_five_minutes(
    owner: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = english()
    six_minutes_ago = time.time() - 6 * 60
    with monkeypatch.context() as m:
        m.setattr(signing.time, "time", lambda: six_minutes_ago)
        marker = make_pending_marker(owner.user.pk, "/console/")
    session = client.session
    session[PENDING_SESSION_KEY] = marker
    session.save()
    response = client.post(VERIFY, {"code": owner.code()})
    assert (response.status_code, response["Location"]) == (302, LOGIN)
    assert "_auth_user_id" not in client.session


def test_a_forged_marker_signs_nobody_in(owner: Staff) -> None:
    client = english()
    session = client.session
    session[PENDING_SESSION_KEY] = signing.dumps({"u": owner.user.pk, "n": "/console/"})  # no salt
    session.save()
    response = client.post(VERIFY, {"code": owner.code()})
    assert response["Location"] == LOGIN


def test_a_wrong_totp_code_counts_as_a_failure(owner: Staff, settings: Any) -> None:
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp's own 1-2-4-8 s back-off, not tested here
    client = english()
    wrong = f"{(int(owner.code()) + 1) % 1_000_000:06d}"
    response = sign_in(client, owner.email, owner.password, wrong)
    assert response.status_code == 200
    assert "That code is wrong" in response.content.decode()
    assert 'aria-describedby="id_code_help form-errors"' in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert ThrottleEvent.objects.count() == 2  # the account and the address
    failed = events("staff:login_failed")[-1]
    assert (failed.actor, failed.record, json.loads(failed.details)) == (
        "anonymous",
        f"staff:{owner.user.pk}",
        {"step": "second_factor"},
    )
    # The right code afterwards still works (the marker survives a wrong code).
    response = client.post(VERIFY, {"code": owner.code()}, REMOTE_ADDR="198.51.100.7")
    assert response["Location"] == "/console/"
    # A full sign-in clears the account's count, not the address's.
    assert ThrottleEvent.objects.count() == 1


def test_a_used_code_cannot_be_replayed(owner: Staff) -> None:
    code = owner.code()
    assert sign_in(english(), owner.email, owner.password, code)["Location"] == "/console/"
    again = sign_in(english(), owner.email, owner.password, code)
    assert again.status_code == 200 and "That code is wrong" in again.content.decode()


def test_a_recovery_code_works_once(owner: Staff, settings: Any) -> None:
    settings.OTP_STATIC_THROTTLE_FACTOR = 0  # django-otp's own back-off, not tested here
    code = owner.recovery_codes[3]
    client = english()
    response = sign_in(client, owner.email, owner.password, code.upper())
    assert response["Location"] == "/console/"
    assert is_verified_staff_session(client, owner.user)
    used = events("staff:recovery_code_used")[-1]
    assert json.loads(used.details) == {"left": 9}
    assert json.loads(events("staff:login_succeeded")[-1].details) == {"method": "recovery_code"}

    again = sign_in(english(), owner.email, owner.password, code)
    assert again.status_code == 200 and "That code is wrong" in again.content.decode()
    failed = events("staff:login_failed")[-1]
    assert json.loads(failed.details) == {"step": "second_factor"}
    # Another code still works.
    response = sign_in(english(), owner.email, owner.password, owner.recovery_codes[0])
    assert response["Location"] == "/console/"


def test_sign_out_ends_the_session(owner: Staff) -> None:
    client = signed_in(owner)
    assert client.get("/console/logout/").status_code == 405  # only POST signs out
    response = client.post("/console/logout/")
    assert (response.status_code, response["Location"]) == (302, LOGIN)
    assert "_auth_user_id" not in client.session
    assert client.get(ACCOUNT)["Location"].startswith(LOGIN)
    assert not StaffSession.objects.filter(user=owner.user).exists()
    assert events("staff:logged_out")[-1].actor == f"staff:{owner.user.pk}"


def test_it_returns_to_the_console_page_asked_for_and_nowhere_else(owner: Staff) -> None:
    client = english()
    redirect = client.get(ACCOUNT)
    assert redirect["Location"] == f"{LOGIN}?next={ACCOUNT}"
    page = client.get(redirect["Location"]).content.decode()
    assert f'name="next" value="{ACCOUNT}"' in page
    response = sign_in(client, owner.email, owner.password, owner.code(), next_url=ACCOUNT)
    assert response["Location"] == ACCOUNT
    for hostile in ("https://evil.example/console/", "//evil.example/", "/privacy/"):
        response = sign_in(english(), owner.email, owner.password, owner.code(), next_url=hostile)
        assert response["Location"] == "/console/", hostile


def test_a_signed_in_staff_member_skips_the_login_page(owner: Staff) -> None:
    client = signed_in(owner)
    response = client.get(LOGIN)
    assert (response.status_code, response["Location"]) == (302, "/console/")


def test_a_disabled_account_cannot_sign_in(owner: Staff) -> None:
    from pledge.accounts.services import disable_staff
    from tests.accounts.conftest import ADMIN

    disable_staff(actor=ADMIN, user_id=owner.user.pk)
    response = sign_in(english(), owner.email, owner.password, owner.code())
    assert response.status_code == 200 and "Sign-in failed" in response.content.decode()


def test_the_pages_label_every_input(owner: Staff) -> None:
    client = english()
    page = client.get(LOGIN).content.decode()
    assert '<label for="id_email">' in page and '<label for="id_password">' in page
    assert 'autocomplete="current-password"' in page
    client.post(LOGIN, {"email": owner.email, "password": owner.password})
    page = client.get(VERIFY).content.decode()
    assert '<label for="id_code">' in page and 'autocomplete="one-time-code"' in page
    assert 'aria-describedby="id_code_help"' in page
