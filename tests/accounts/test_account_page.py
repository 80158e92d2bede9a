"""The account page: where am I signed in (and ending a session), changing the password,
new recovery codes."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from django.test import modify_settings
from django.utils import timezone

from pledge.accounts.middleware import SEEN_SESSION_KEY
from pledge.accounts.models import StaffSession, ThrottleEvent
from tests.accounts.conftest import (
    ACCOUNT,
    LOGIN,
    Staff,
    english,
    events,
    is_verified_staff_session,
    sign_in,
    signed_in,
)


def test_it_lists_the_sessions_and_marks_this_one(owner: Staff) -> None:
    laptop = signed_in(owner, address="203.0.113.10", HTTP_USER_AGENT="Firefox on a laptop")
    phone = signed_in(owner, address="2001:db8:5:6::9", HTTP_USER_AGENT="Safari on a phone")
    page = laptop.get(ACCOUNT).content.decode()
    assert "203.0.113.0/24" in page and "2001:db8:5::/48" in page
    assert "Firefox on a laptop" in page and "Safari on a phone" in page
    assert page.count("(this session)") == 1
    current = re.search(r'<tr class="current">(.*?)</tr>', page, re.S)
    assert current and "Firefox on a laptop" in current.group(1)
    # Session keys never appear on the page.
    for key in (laptop.session.session_key, phone.session.session_key):
        assert key and key not in page


def test_revoking_a_session_makes_its_next_request_anonymous(owner: Staff) -> None:
    laptop = signed_in(owner, address="203.0.113.10")
    phone = signed_in(owner, address="203.0.113.11")
    phone_row = StaffSession.objects.get(session_key=phone.session.session_key)
    response = laptop.post(ACCOUNT, {"action": "revoke", "session": phone_row.pk})
    assert (response.status_code, response["Location"]) == (302, ACCOUNT)
    # The phone's next request is anonymous: sent to the login page.
    assert phone.get(ACCOUNT)["Location"].startswith(LOGIN)
    assert laptop.get(ACCOUNT).status_code == 200
    assert list(StaffSession.objects.values_list("session_key", flat=True)) == [
        laptop.session.session_key
    ]
    revoked = events("staff:session_revoked")[-1]
    assert (revoked.actor, json.loads(revoked.details)) == (
        f"staff:{owner.user.pk}",
        {"session": phone_row.pk},
    )


def test_one_cannot_revoke_someone_elses_session(owner: Staff, leman: Any) -> None:
    from tests.accounts.conftest import make_staff

    other = make_staff("auditor")
    theirs = signed_in(other)
    row = StaffSession.objects.get(session_key=theirs.session.session_key)
    mine = signed_in(owner)
    response = mine.post(ACCOUNT, {"action": "revoke", "session": row.pk}, follow=True)
    assert "That session has already ended." in response.content.decode()
    assert theirs.get(ACCOUNT).status_code == 200


def test_revoking_this_session_signs_out(owner: Staff) -> None:
    client = signed_in(owner)
    row = StaffSession.objects.get(session_key=client.session.session_key)
    response = client.post(ACCOUNT, {"action": "revoke", "session": row.pk})
    assert response["Location"] == LOGIN
    assert client.get(ACCOUNT)["Location"].startswith(LOGIN)


def test_sessions_that_ended_elsewhere_leave_the_list(owner: Staff) -> None:
    laptop = signed_in(owner)
    phone = signed_in(owner)
    phone.post("/console/logout/")
    stale = signed_in(owner)
    from django.contrib.sessions.models import Session

    Session.objects.filter(session_key=stale.session.session_key).update(
        expire_date=timezone.now() - dt.timedelta(seconds=1)
    )
    laptop.get(ACCOUNT)
    assert list(StaffSession.objects.values_list("session_key", flat=True)) == [
        laptop.session.session_key
    ]


def test_the_middleware_keeps_last_active_current(owner: Staff) -> None:
    with modify_settings(
        MIDDLEWARE={
            "append": "pledge.accounts.middleware.StaffSessionMiddleware",
        }
    ):
        client = signed_in(owner)
        row = StaffSession.objects.get(session_key=client.session.session_key)
        # Two hours pass (for the row, and for the session's note of the last update).
        long_ago = timezone.now() - dt.timedelta(hours=2)
        StaffSession.objects.filter(pk=row.pk).update(last_seen_at=long_ago)
        session = client.session
        session[SEEN_SESSION_KEY] = long_ago.timestamp()
        session.save()
        client.get(ACCOUNT)
        row.refresh_from_db()
        assert row.last_seen_at > long_ago + dt.timedelta(hours=1)
        # Within the minute, no further write.
        StaffSession.objects.filter(pk=row.pk).update(last_seen_at=long_ago)
        client.get(ACCOUNT)
        row.refresh_from_db()
        assert row.last_seen_at == long_ago


def test_changing_the_password_ends_the_other_sessions(owner: Staff) -> None:
    here = signed_in(owner)
    elsewhere = signed_in(owner)
    new = "copper lantern meadow 19 swift"
    response = here.post(
        ACCOUNT,
        {
            "action": "password",
            "current_password": owner.password,
            "new_password": new,
            "new_password_again": new,
        },
    )
    assert (response.status_code, response["Location"]) == (302, ACCOUNT)
    assert here.get(ACCOUNT).status_code == 200
    assert is_verified_staff_session(here, owner.user)
    assert elsewhere.get(ACCOUNT)["Location"].startswith(LOGIN)
    # The session list follows this session under its new key.
    assert list(StaffSession.objects.values_list("session_key", flat=True)) == [
        here.session.session_key
    ]
    changed = events("staff:password_changed")[-1]
    assert json.loads(changed.details) == {"via": "change"}
    assert sign_in(english(), owner.email, new, owner.code())["Location"] == "/console/"


def test_a_wrong_current_password_is_refused_and_counted(owner: Staff) -> None:
    client = signed_in(owner)
    before = ThrottleEvent.objects.count()
    new = "copper lantern meadow 19 swift"
    response = client.post(
        ACCOUNT,
        {
            "action": "password",
            "current_password": "not it at all",
            "new_password": new,
            "new_password_again": new,
        },
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "The current password is wrong." in page
    assert 'aria-describedby="id_current_password_errors"' in page
    assert ThrottleEvent.objects.count() == before + 1
    owner.user.refresh_from_db()
    assert owner.user.check_password(owner.password)


def test_a_weak_new_password_is_refused(owner: Staff) -> None:
    client = signed_in(owner)
    response = client.post(
        ACCOUNT,
        {
            "action": "password",
            "current_password": owner.password,
            "new_password": "short",
            "new_password_again": "short",
        },
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "too short" in page and 'aria-invalid="true"' in page
    assert 'aria-describedby="id_new_password_help id_new_password_errors"' in page


def test_new_recovery_codes_replace_the_old_ones(owner: Staff, settings: Any) -> None:
    settings.OTP_STATIC_THROTTLE_FACTOR = 0
    client = signed_in(owner)
    response = client.post(ACCOUNT, {"action": "recovery_codes"})
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    codes = re.findall(
        r"<code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code>", response.content.decode()
    )
    assert len(codes) == 10 and not set(codes) & set(owner.recovery_codes)
    assert json.loads(events("staff:recovery_codes_generated")[-1].details) == {"count": 10}
    old = sign_in(english(), owner.email, owner.password, owner.recovery_codes[0])
    assert old.status_code == 200
    new = sign_in(english(), owner.email, owner.password, codes[0])
    assert new["Location"] == "/console/"
    assert "You have 9 unused recovery codes." in client.get(ACCOUNT).content.decode()
