"""The web beacon (P08): one anonymous count per day and path, nothing of the request kept."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test import Client, RequestFactory
from django.utils import timezone

from pledge.consent import beacon as beacon_service
from pledge.consent.beacon import BadPath, count_page_view, normalise_path
from pledge.consent.models import PageViewCount
from pledge.consent.views_banner import beacon

BEACON = "/consent/beacon"
CLIENT_ADDRESS = "203.0.113.77"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) TestBrowser/99.1"
COOKIE_ID = "c0ffee00-1111-4222-8333-444455556666"


def counts() -> dict[str, int]:
    return dict(PageViewCount.objects.values_list("path", "count"))


def test_a_view_is_counted_by_day_and_path(client: Client, db: None) -> None:
    for _ in range(2):
        response = client.post(f"{BEACON}?p=/rings/gold")
        assert response.status_code == 204
        assert response["Cache-Control"] == "no-store"
    client.get(f"{BEACON}?p=/rings")
    assert counts() == {"/rings/gold": 2, "/rings": 1}
    assert set(PageViewCount.objects.values_list("day", flat=True)) == {timezone.localdate()}


def test_the_row_holds_only_day_path_and_count(client: Client, db: None) -> None:
    client.cookies["pledge_consent"] = COOKIE_ID
    response = client.post(
        f"{BEACON}?p=/rings/gold?utm_source=mail#top",
        headers={"User-Agent": USER_AGENT, "Referer": "https://search.example/?q=ring"},
        REMOTE_ADDR=CLIENT_ADDRESS,
    )
    assert response.status_code == 204
    assert not response.cookies  # and it sets none
    # The model has nothing else to hold, and the stored row holds nothing of the request.
    assert {f.name for f in PageViewCount._meta.get_fields()} == {"id", "day", "path", "count"}
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM consent_pageviewcount")
        rows = cursor.fetchall()
    assert len(rows) == 1
    dumped = repr(rows)
    for secret in (
        CLIENT_ADDRESS,
        "203.0.113",
        USER_AGENT,
        "TestBrowser",
        COOKIE_ID,
        "utm_source",
        "search.example",
        "top",
    ):
        assert secret not in dumped
    assert counts() == {"/rings/gold": 1}


class Tripwire(dict[str, str]):
    """A cookie jar that fails the test when anything looks inside."""

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the beacon view read a cookie")

    __getitem__ = get = __contains__ = __iter__ = __len__ = keys = items = values = _fail


def test_the_view_never_reads_cookies(rf: RequestFactory, db: None) -> None:
    request = rf.post(f"{BEACON}?p=/cart", REMOTE_ADDR=CLIENT_ADDRESS)
    request.COOKIES = Tripwire()
    assert beacon(request).status_code == 204
    assert counts() == {"/cart": 1}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/", "/"),
        ("/a?b=c", "/a"),
        ("/a#frag", "/a"),
        ("/s%E1%BA%A3n-ph%E1%BA%A9m", "/sản-phẩm"),
        ("/sa\u0309n", "/sản"),  # NFD becomes NFC: the same page counts once
        ("/" + "x" * 500, "/" + "x" * 199),
        # identifiers in a path are counted as :id (P08: anonymous statistics only)
        ("/u/an@example.vn/orders", "/u/:id/orders"),
        ("/orders/20260105123", "/orders/:id"),
        ("/me/verify/eyJ1IjoxfQ1a2b3c4d5e6f7g8h9/", "/me/verify/:id/"),
        ("/o/3f2a9c1e-7b4d-4e21-9a0b-1c2d3e4f5a6b", "/o/:id"),
        ("/nhan-kim-cuong-vang-trang-18k", "/nhan-kim-cuong-vang-trang-18k"),
        ("/collections/summer-2026", "/collections/summer-2026"),
    ],
)
def test_paths_are_normalised(raw: str, expected: str) -> None:
    assert normalise_path(raw) == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "p (the page path) is required"),
        ("?p=", "single /"),
        ("?p=rings", "single /"),
        ("?p=https://evil.example/x", "single /"),
        ("?p=//evil.example/x", "single /"),
        ("?p=/a%0Ab", "control characters"),
        ("?p=/a%25FFb", "not UTF-8"),  # the banner sends location.pathname, escapes and all
        ("?p=/a%2509b", "control characters"),
        ("?p=/" + "a" * 3000, "longer than 2048"),
    ],
)
def test_bad_paths_are_refused_and_nothing_is_counted(
    client: Client, db: None, query: str, message: str
) -> None:
    response = client.post(BEACON + query)
    assert response.status_code == 400
    body = response.json()
    assert body["errors"][0]["field"] == "p"
    assert message in body["detail"]
    assert PageViewCount.objects.count() == 0


def test_other_methods_are_refused(client: Client, db: None) -> None:
    assert client.put(f"{BEACON}?p=/").status_code == 405
    assert client.delete(f"{BEACON}?p=/").status_code == 405
    assert PageViewCount.objects.count() == 0


def test_new_paths_past_the_daily_cap_are_counted_together(
    db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(beacon_service, "MAX_PATHS_PER_DAY", 2)
    day = dt.date(2026, 3, 1)
    for path in ("/a", "/b", "/c", "/d", "/a"):
        count_page_view(path, day=day)
    assert counts() == {"/a": 2, "/b": 1, beacon_service.OTHER_PATH: 2}


def test_a_bad_path_error_is_a_value_error() -> None:
    with pytest.raises(BadPath):
        normalise_path("no-slash")
