"""The web beacon's counter (P08: "web beacons only for anonymous statistics").

A page view becomes `+1` on one `PageViewCount(day, path)` row, and nothing else is kept: no IP
address, no cookie id, no user agent, no referrer, no time finer than the day. The banner calls
the beacon only after the visitor accepted `analytics` cookies (LAW.md, Cookies: beacons need
prior consent too); the server cannot check that without an identifier, and keeps none.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from urllib.parse import unquote, urlsplit

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from pledge.consent.models import PageViewCount

MAX_PATH_CHARS = 200  # PageViewCount.path
# Longer input is refused rather than cut: no page of a small shop has such an address.
MAX_INPUT_CHARS = 2048
# Anyone may call the beacon, so distinct paths per day are capped: past the cap, new paths are
# counted together under OTHER_PATH and the table cannot be grown without bound.
MAX_PATHS_PER_DAY = 5000
OTHER_PATH = "/(other)"


class BadPath(ValueError):
    """The `p` parameter is not a path on the shop's site; the message says why."""


# Anyone can call the beacon with any path, and some paths carry identifiers (`/u/an@x.vn`,
# `/orders/20260105123`, a token or a UUID). A segment that looks like one is counted as `:id`,
# so the statistics stay anonymous (P08) whatever the shop's URLs hold.
REDACTED = ":id"
_IDENTIFIER = re.compile(r"@|\d{6,}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}")
_RUN = re.compile(r"[A-Za-z0-9_]{20,}")


def _looks_like_identifier(segment: str) -> bool:
    if _IDENTIFIER.search(segment):
        return True
    # A long run of letters mixed with digits is a token or a hash; a slug's words are short.
    return any(
        any(c.isdigit() for c in run) and any(c.isalpha() for c in run)
        for run in _RUN.findall(segment)
    )


def redact_identifiers(path: str) -> str:
    return "/".join(REDACTED if _looks_like_identifier(seg) else seg for seg in path.split("/"))


def _has_control_characters(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in text)


def normalise_path(raw: str) -> str:
    """The page path to count: no scheme or host, no query string, no fragment, percent-escapes
    decoded and NFC-normalised (Vietnamese slugs arrive both escaped and raw), at most 200
    characters."""
    if len(raw) > MAX_INPUT_CHARS:
        raise BadPath(f"p is longer than {MAX_INPUT_CHARS} characters")
    if not raw.startswith("/") or raw.startswith("//"):
        raise BadPath("p must be a path on the site, starting with a single /")
    if _has_control_characters(raw):  # checked before urlsplit, which drops tabs and newlines
        raise BadPath("p contains control characters")
    try:
        path = urlsplit(raw).path
    except ValueError:
        raise BadPath("p is not a valid path") from None
    try:
        path = unicodedata.normalize("NFC", unquote(path, errors="strict"))
    except UnicodeDecodeError:
        raise BadPath("p has percent-escapes that are not UTF-8") from None
    if _has_control_characters(path):
        raise BadPath("p contains control characters")
    return redact_identifiers(path)[:MAX_PATH_CHARS] or "/"


def _bump(day: dt.date, path: str) -> int:
    return PageViewCount.objects.filter(day=day, path=path).update(count=F("count") + 1)


@transaction.atomic
def count_page_view(path: str, *, day: dt.date | None = None) -> None:
    """Add one view of `path` (already normalised) on `day` (today in the shop's time zone)."""
    day = day or timezone.localdate()
    if _bump(day, path):
        return
    if PageViewCount.objects.filter(day=day).count() >= MAX_PATHS_PER_DAY:
        path = OTHER_PATH
        if _bump(day, path):
            return
    try:
        # A concurrent first view of the same path may insert the row first (unique day+path):
        # the savepoint keeps this transaction usable, and the update then counts this view.
        with transaction.atomic():
            PageViewCount.objects.create(day=day, path=path, count=1)
    except IntegrityError:
        _bump(day, path)
