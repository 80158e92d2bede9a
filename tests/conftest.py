"""Shared test set-up: database switch, isolated var/, PostgreSQL server, Playwright browser.

Database: ``PLEDGE_TEST_DB=sqlite`` (default) or ``PLEDGE_TEST_DB=postgresql``. For PostgreSQL a
throw-away server is started for the session with pytest-postgresql's ``PostgreSQLExecutor``
using the machine's ``pg_ctl``, on a free port, in a temp dir. PostgreSQL refuses to run as root,
so the executor is always handed ``scripts/pg_ctl_as_postgres.sh``: as root it runs pg_ctl as
the unprivileged ``postgres`` system user (data and socket dirs are chowned to it); as anyone
else it just execs pg_ctl. If PostgreSQL or Chromium is missing, ``scripts/ensure-system-deps.sh``
is run (it installs with apt-get when root) and the tests FAIL with its message if that does not
help; nothing is skipped.

Browser: session-scoped ``browser`` (Playwright sync API driving Debian's /usr/bin/chromium),
``new_page(locale=...)`` / ``page`` with a fresh context per test, and ``screenshot(page, name)``
writing full-page PNGs to tests/artifacts/ (git-ignored). Tests using ``browser`` are marked
``browser`` automatically.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page
    from pytest_django.live_server_helper import LiveServer

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
SCRIPTS_DIR = REPO_ROOT / "scripts"
ENSURE_SYSTEM_DEPS = SCRIPTS_DIR / "ensure-system-deps.sh"
PG_CTL_WRAPPER = SCRIPTS_DIR / "pg_ctl_as_postgres.sh"
ARTIFACTS_DIR = TESTS_DIR / "artifacts"

CHROMIUM = "/usr/bin/chromium"
NOTO_FONT = Path("/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf")  # fonts-noto-core
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

TEST_DB_BACKENDS = ("sqlite", "postgresql")
PG_OS_USER = os.environ.get("PLEDGE_PG_USER", "postgres")  # only used when running as root
PG_DB_USER = "postgres"  # superuser created by initdb (--username), trust auth on 127.0.0.1


def requested_test_db() -> str:
    """The backend asked for with PLEDGE_TEST_DB (validated in pytest_configure)."""
    return os.environ.get("PLEDGE_TEST_DB", "sqlite").strip().lower() or "sqlite"


# --------------------------------------------------------------------------------------------
# Session configuration: isolated var/ dir and the database switch
# --------------------------------------------------------------------------------------------

_created_var_dir: Path | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    global _created_var_dir

    backend = requested_test_db()
    if backend not in TEST_DB_BACKENDS:
        raise pytest.UsageError(
            f"PLEDGE_TEST_DB={os.environ['PLEDGE_TEST_DB']!r} is not supported; "
            f"use one of: {', '.join(TEST_DB_BACKENDS)}"
        )

    # Keep the checkout's var/ out of test runs. pytest-django imports the settings before any
    # conftest runs, so export the variable (for subprocesses and anything reading it later) and
    # re-point the already-loaded path settings at the temp dir.
    var_dir_env = os.environ.get("PLEDGE_VAR_DIR")
    if var_dir_env:
        var_dir = Path(var_dir_env).resolve()
    else:
        var_dir = _created_var_dir = Path(tempfile.mkdtemp(prefix="pledge-test-var-"))
        os.environ["PLEDGE_VAR_DIR"] = str(var_dir)

    from django.conf import settings

    if not settings.configured:  # pragma: no cover - DJANGO_SETTINGS_MODULE is set in pyproject
        raise pytest.UsageError("Django settings are not configured (DJANGO_SETTINGS_MODULE)")
    settings.VAR_DIR = var_dir
    settings.STATIC_ROOT = var_dir / "static"
    settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns if it is absent
    settings.PLEDGE_KEYRING_PATH = var_dir / "keys" / "keyring.json"
    settings.PLEDGE_KEYSTORE_PATH = var_dir / "keys" / "keystore.sqlite3"
    settings.PLEDGE_FILES_DIR = var_dir / "files"
    settings.PLEDGE_EVIDENCE_DIR = var_dir / "evidence"

    if backend == "sqlite":
        # Ignore any DATABASE_URL from the caller's environment: the switch decides. The test
        # database itself is in memory; NAME only matters to code that asks for the path.
        current = settings.DATABASES["default"]
        options = current.get("OPTIONS", {}) if current["ENGINE"].endswith("sqlite3") else {}
        _use_database(
            {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": var_dir / "pledge.sqlite3",
                "OPTIONS": dict(options),
            }
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    if _created_var_dir is not None:
        shutil.rmtree(_created_var_dir, ignore_errors=True)


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"pledge: PLEDGE_TEST_DB={requested_test_db()}, "
        f"PLEDGE_VAR_DIR={os.environ.get('PLEDGE_VAR_DIR')}"
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
    # Tests of PostgreSQL itself (its data files, its locking) belong to the PostgreSQL run:
    # deselected, not skipped, on SQLite, where their SQLite counterparts run instead.
    if requested_test_db() != "postgresql":
        kept = [i for i in items if i.get_closest_marker("postgresql_only") is None]
        if len(kept) != len(items):
            config.hook.pytest_deselected(items=[i for i in items if i not in kept])
            items[:] = kept


def _use_database(config: dict[str, Any]) -> None:
    """Replace the ``default`` database settings in place and drop cached connections."""
    from django.conf import settings
    from django.db import connections

    connections.close_all()
    default = settings.DATABASES["default"]
    default.clear()
    default.update(config)
    connections.configure_settings(settings.DATABASES)  # fills in Django's per-alias defaults
    connections.__dict__.pop("settings", None)  # the handler's cached_property
    if hasattr(connections._connections, "default"):
        delattr(connections._connections, "default")


# --------------------------------------------------------------------------------------------
# System dependencies
# --------------------------------------------------------------------------------------------


def _ensure_system_deps(what: str) -> str | None:
    """Run scripts/ensure-system-deps.sh because `what` is missing; return an error or None.

    As root (or with passwordless sudo) the script installs the missing Debian packages;
    otherwise it prints the apt-get command to run and exits 1.
    """
    if not os.access(ENSURE_SYSTEM_DEPS, os.X_OK):
        return f"{what} is missing and {ENSURE_SYSTEM_DEPS} is not executable"
    result = subprocess.run(
        [str(ENSURE_SYSTEM_DEPS)], capture_output=True, text=True, check=False, timeout=1800
    )
    sys.stderr.write(result.stdout + result.stderr)
    if result.returncode != 0:
        return (
            f"{what} is missing and could not be installed by {ENSURE_SYSTEM_DEPS} "
            f"(exit {result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return None


def find_pg_ctl() -> str | None:
    """The machine's pg_ctl: $PLEDGE_PG_CTL, pg_config --bindir, /usr/lib/postgresql, PATH."""
    explicit = os.environ.get("PLEDGE_PG_CTL")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    pg_config = shutil.which("pg_config")
    if pg_config:
        bindir = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        candidate = os.path.join(bindir, "pg_ctl")
        if bindir and os.access(candidate, os.X_OK):
            return candidate

    def major(path: str) -> int:
        part = Path(path).parts[-3]
        return int(part) if part.isdigit() else 0

    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=major, reverse=True):
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("pg_ctl")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --------------------------------------------------------------------------------------------
# PostgreSQL server (only started when PLEDGE_TEST_DB=postgresql)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostgresServer:
    """The session's throw-away PostgreSQL server."""

    pg_ctl: str
    port: int
    datadir: Path

    def django_settings(self) -> dict[str, Any]:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "pledge",
            "USER": PG_DB_USER,
            "PASSWORD": "",
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "TEST": {"NAME": "test_pledge"},
        }


@pytest.fixture(scope="session")
def pledge_postgresql() -> Iterator[PostgresServer]:
    """Start a PostgreSQL server for the session (via the pg_ctl wrapper) and stop it after."""
    from pytest_postgresql.executors import PostgreSQLExecutor

    pg_ctl = find_pg_ctl()
    if pg_ctl is None:
        error = _ensure_system_deps("PostgreSQL (pg_ctl)")
        pg_ctl = find_pg_ctl()
        if pg_ctl is None:
            pytest.fail(error or "pg_ctl still missing after ensure-system-deps", pytrace=False)
    # The wrapper runs exactly this pg_ctl (it inherits our environment).
    os.environ["PLEDGE_PG_CTL"] = pg_ctl

    base = Path(tempfile.mkdtemp(prefix="pledge-test-pg-"))
    socket_dir = base / "socket"
    socket_dir.mkdir()
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam(PG_OS_USER)
        except KeyError:
            shutil.rmtree(base, ignore_errors=True)
            pytest.fail(
                f"running as root, PostgreSQL must run as the unprivileged system user "
                f"{PG_OS_USER!r}, which does not exist; install the postgresql package "
                f"({ENSURE_SYSTEM_DEPS}) or set PLEDGE_PG_USER",
                pytrace=False,
            )
        for path in (base, socket_dir):
            os.chown(path, owner.pw_uid, owner.pw_gid)

    port = _free_port()
    datadir = base / "data"
    logfile = base / "postgresql.log"
    executor = PostgreSQLExecutor(
        executable=str(PG_CTL_WRAPPER),
        host="127.0.0.1",
        port=port,
        datadir=str(datadir),
        unixsocketdir=str(socket_dir),
        logfile=str(logfile),
        startparams="-w",
        dbname="pledge",
        user=PG_DB_USER,
        timeout=120,
    )
    try:
        executor.start()
    except Exception as exc:
        log = _tail(logfile)
        with contextlib.suppress(Exception):
            executor.stop()
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(
            f"could not start PostgreSQL ({pg_ctl} via {PG_CTL_WRAPPER}) on port {port}: "
            f"{exc.__class__.__name__}: {exc}\n--- postgresql.log ---\n{log}",
            pytrace=False,
        )
    _wait_until_accepting(port, logfile)
    try:
        yield PostgresServer(pg_ctl=pg_ctl, port=port, datadir=datadir)
    finally:
        try:
            executor.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)


def _wait_until_accepting(port: int, logfile: Path, seconds: float = 60) -> None:
    """The executor returns once the port is open, which can be before the server accepts
    connections ("the database system is starting up"): wait for a real connection."""
    import time

    import psycopg

    deadline = time.monotonic() + seconds
    while True:
        try:
            with psycopg.connect(
                host="127.0.0.1", port=port, user=PG_DB_USER, dbname="postgres", connect_timeout=5
            ):
                return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                pytest.fail(
                    f"PostgreSQL on port {port} never accepted connections: {exc}\n"
                    f"--- postgresql.log ---\n{_tail(logfile)}",
                    pytrace=False,
                )
            time.sleep(0.2)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(request: pytest.FixtureRequest) -> None:
    """pytest-django hook fixture: point Django at the requested backend before the test DB."""
    if requested_test_db() == "postgresql":
        server: PostgresServer = request.getfixturevalue("pledge_postgresql")
        _use_database(server.django_settings())


@pytest.fixture(scope="session")
def live_server(django_db_setup: None, live_server: LiveServer) -> LiveServer:
    """pytest-django's live server, started only after the test database exists.

    Without this, the session-scoped server can be created before ``django_db_setup`` switches
    the database, and would not share an in-memory SQLite test database with the tests.
    """
    return live_server


# --------------------------------------------------------------------------------------------
# Browser (Playwright sync API + Debian's Chromium)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK) or not NOTO_FONT.is_file():
        error = _ensure_system_deps(f"Chromium ({CHROMIUM}) or the Noto fonts ({NOTO_FONT})")
        if not os.access(CHROMIUM, os.X_OK) or not NOTO_FONT.is_file():
            pytest.fail(
                error or f"{CHROMIUM} still missing after ensure-system-deps", pytrace=False
            )

    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an asyncio loop in this thread, so Django would raise
    # SynchronousOnlyOperation on ORM use in tests; this is Django's documented opt-out.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            try:
                launched = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
            except PlaywrightError as exc:
                pytest.fail(f"could not launch {CHROMIUM} with Playwright: {exc}", pytrace=False)
            try:
                yield launched
            finally:
                launched.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """Factory: ``new_page(locale="vi-VN")`` opens a page in a fresh browser context.

    The locale sets both ``navigator.language`` and the Accept-Language header. Extra keyword
    arguments go to ``browser.new_context``. Contexts are closed after the test.
    """
    contexts = []

    def make(*, locale: str = "en-US", **context_args: Any) -> Page:
        context_args.setdefault("viewport", {"width": 1280, "height": 900})
        context = browser.new_context(locale=locale, **context_args)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    """A page in a fresh browser context (locale en-US)."""
    return new_page()


def save_screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG of `page` as tests/artifacts/<name>.png and return its path."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS_DIR / (name if name.endswith(".png") else f"{name}.png")
    page.screenshot(path=str(path), full_page=True)
    if not path.is_file() or path.stat().st_size == 0:
        pytest.fail(f"screenshot {path} was not written", pytrace=False)
    return path


@pytest.fixture
def screenshot() -> Callable[[Page, str], Path]:
    """``screenshot(page, "policy-vi")`` -> tests/artifacts/policy-vi.png (full page)."""
    return save_screenshot


# --------------------------------------------------------------------------------------------
# Vault: a published policy and the actors of the shop
# --------------------------------------------------------------------------------------------


@pytest.fixture
def leman(db: None) -> Iterator[Any]:
    """Preset B (Leman Jewelry) published and in force; the compiled policy is returned."""
    from pledge.policy.enforcement import clear_policy_cache, enforced_policy
    from pledge.policy.loader import load_policy
    from pledge.policy.services import publish_policy

    clear_policy_cache()
    loaded = load_policy("leman-jewelry")
    publish_policy(loaded, actor="test", effective_date=loaded.policy.effective_date)
    clear_policy_cache()
    yield enforced_policy()
    clear_policy_cache()


@pytest.fixture
def shop_api() -> Any:
    """The shop's backend: an API actor scoped to every purpose of preset B."""
    from pledge.vault.access import Actor

    return Actor(
        kind="api",
        id="test-backend",
        purposes=frozenset(
            {
                "order_fulfilment",
                "payment",
                "guarantee",
                "customer_database",
                "service_notices",
                "transaction_confirmation",
            }
        ),
    )


@pytest.fixture
def staff() -> Callable[[str], Any]:
    """staff("customer_service") -> a staff actor with that policy role."""
    from pledge.vault.access import Actor

    def make(role: str, ident: str = "1") -> Any:
        return Actor(kind="staff", id=ident, role=role)

    return make


from tests.smtp import mailbox  # noqa: E402,F401 - the real SMTP server fixture, for every test directory
