"""The suite really runs on the backend PLEDGE_TEST_DB asks for (no silent fallback to SQLite)."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection

REPO_ROOT = Path(__file__).resolve().parents[1]
REQUESTED = os.environ.get("PLEDGE_TEST_DB", "sqlite").strip().lower() or "sqlite"

pytestmark = pytest.mark.django_db


def test_connection_vendor_is_the_requested_backend() -> None:
    assert connection.vendor == REQUESTED


def test_a_real_query_runs_on_the_requested_backend() -> None:
    with connection.cursor() as cursor:
        if REQUESTED == "postgresql":
            cursor.execute("SELECT version()")
            (version,) = cursor.fetchone()
            assert "PostgreSQL" in version
        else:
            cursor.execute("SELECT sqlite_version()")
            (version,) = cursor.fetchone()
            assert version.startswith("3.")


def test_orm_round_trip_through_the_test_database() -> None:
    Group.objects.create(name="Khách hàng thân thiết")  # non-ASCII survives the round trip
    assert list(Group.objects.values_list("name", flat=True)) == ["Khách hàng thân thiết"]


def test_test_database_is_throwaway_and_outside_the_checkout(
    request: pytest.FixtureRequest,
) -> None:
    var_dir = Path(os.environ["PLEDGE_VAR_DIR"]).resolve()
    assert var_dir != (REPO_ROOT / "var").resolve()
    assert Path(settings.VAR_DIR) == var_dir

    if REQUESTED == "sqlite":
        assert connection.is_in_memory_db(), connection.settings_dict["NAME"]
        return

    # PostgreSQL: the server is the one this session started, and not running as root.
    server = request.getfixturevalue("pledge_postgresql")
    assert connection.settings_dict["NAME"] == "test_pledge"
    with connection.cursor() as cursor:
        cursor.execute("SHOW data_directory")
        (data_directory,) = cursor.fetchone()
        cursor.execute("SHOW port")
        (port,) = cursor.fetchone()
    assert Path(data_directory).resolve() == server.datadir.resolve()
    assert int(port) == server.port
    owner = Path(data_directory).stat().st_uid
    if os.geteuid() == 0:
        assert owner == pwd.getpwnam("postgres").pw_uid, "PostgreSQL must not run as root"
    else:
        assert owner == os.geteuid()
