"""Signed-in console sessions: the list a staff member sees on their account page, revoking one,
signing out, and ending every session of an account (password change or reset, disabling).

A `StaffSession` row describes one Django session; ending a session deletes both, through the
configured session engine (so a revoked session's next request is anonymous).
"""

from __future__ import annotations

import datetime as dt
from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction
from django.utils import timezone

from pledge.accounts.clients import client_network
from pledge.accounts.identity import staff_label
from pledge.accounts.models import StaffSession
from pledge.audit.events import EventType
from pledge.audit.services import record_event
from pledge.vault.access import Actor

# Writing last_seen_at on every request would turn every page view into a write.
LAST_SEEN_PRECISION = dt.timedelta(minutes=1)


class SessionNotFound(Exception):
    """No such session of this account (already ended, or someone else's)."""


def _store(session_key: str | None = None) -> SessionBase:
    engine = import_module(settings.SESSION_ENGINE)
    store: SessionBase = engine.SessionStore(session_key)
    return store


def _signed_in_as(session_key: str, user: User) -> bool:
    """Does the session still exist, unexpired, and signed in as this user?"""
    data = _store(session_key).load()  # {} when missing or expired
    return str(data.get(SESSION_KEY, "")) == str(user.pk)


def end_sessions(user: User, *, keep: str | None = None) -> int:
    """End every console session of the account except `keep`; returns how many ended. Runs in
    the caller's transaction."""
    rows = StaffSession.objects.filter(user=user)
    if keep:
        rows = rows.exclude(session_key=keep)
    keys = list(rows.values_list("session_key", flat=True))
    store = _store()
    for key in keys:
        store.delete(key)
    rows.delete()
    return len(keys)


@transaction.atomic
def open_staff_session(
    *, user: User, session_key: str, address: str, user_agent: str, method: str
) -> StaffSession:
    """Record a completed sign-in (both factors); `method` is totp or recovery_code."""
    now = timezone.now()
    session, _ = StaffSession.objects.update_or_create(
        session_key=session_key,
        defaults={
            "user": user,
            "created_at": now,
            "last_seen_at": now,
            "client_network": client_network(address),
            "user_agent": user_agent,
        },
    )
    profile = getattr(user, "staff", None)
    record_event(
        EventType.STAFF_LOGIN_SUCCEEDED,
        actor=staff_label(user.pk),
        actor_role=profile.role if profile else "",
        record=staff_label(user.pk),
        details={"method": method},
    )
    return session


@transaction.atomic
def end_staff_session(*, actor: Actor, session_key: str) -> None:
    """Sign out: forget the session's row and record it. The caller then flushes the session."""
    StaffSession.objects.filter(session_key=session_key).delete()
    record_event(
        EventType.STAFF_LOGGED_OUT, actor=actor.label, actor_role=actor.role, record=actor.label
    )


@transaction.atomic
def revoke_staff_session(*, actor: Actor, user_id: int, staff_session_id: int) -> StaffSession:
    """End one of the account's sessions (perhaps on a lost phone); its next request is
    anonymous."""
    row = (
        StaffSession.objects.select_for_update()
        .filter(pk=staff_session_id, user_id=user_id)
        .first()
    )
    if row is None:
        raise SessionNotFound(staff_session_id)
    _store().delete(row.session_key)
    row.delete()
    record_event(
        EventType.STAFF_SESSION_REVOKED,
        actor=actor.label,
        actor_role=actor.role,
        record=staff_label(user_id),
        details={"session": staff_session_id},
    )
    return row


@transaction.atomic
def live_staff_sessions(user: User) -> list[StaffSession]:
    """The account's sessions that still exist, newest activity first. Rows of sessions that
    expired on their own are deleted on the way (nothing to record: nobody ended them)."""
    rows = list(StaffSession.objects.filter(user=user))
    gone = [row.pk for row in rows if not _signed_in_as(row.session_key, user)]
    if gone:
        StaffSession.objects.filter(pk__in=gone).delete()
    return [row for row in rows if row.pk not in gone]


def touch_staff_session(session_key: str, *, now: dt.datetime | None = None) -> None:
    """Note that the session is in use (at most once per LAST_SEEN_PRECISION)."""
    now = now or timezone.now()
    StaffSession.objects.filter(
        session_key=session_key, last_seen_at__lt=now - LAST_SEEN_PRECISION
    ).update(last_seen_at=now)


def follow_new_session_key(old_key: str, new_key: str) -> None:
    """The session kept its data under a new key (Django cycles the key when the password
    changes): keep its row pointing at it."""
    if old_key and new_key and old_key != new_key:
        StaffSession.objects.filter(session_key=old_key).update(session_key=new_key)
