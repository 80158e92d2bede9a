"""Keeps the "last active" time of the session list current (accounts.StaffSession).

The time of the last update is kept in the session itself, so a signed-in request costs no extra
query; once a minute it costs one UPDATE (and the session's own save).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.contrib.auth import SESSION_KEY
from django.http import HttpRequest, HttpResponse

from pledge.accounts.sessions import LAST_SEEN_PRECISION, touch_staff_session

SEEN_SESSION_KEY = "pledge_seen"


class StaffSessionMiddleware:
    """Place after AuthenticationMiddleware (settings.MIDDLEWARE)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is None or not session.session_key or SESSION_KEY not in session:
            return response
        now = time.time()
        seen = session.get(SEEN_SESSION_KEY)
        if not isinstance(seen, (int, float)) or now - seen >= LAST_SEEN_PRECISION.total_seconds():
            touch_staff_session(session.session_key)
            session[SEEN_SESSION_KEY] = now
        return response
