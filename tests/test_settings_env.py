"""Env-driven settings: the typed readers in pledge.conf and how `pledge` reacts to bad values."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pledge.conf import ImproperlyConfiguredError, envbool, envint, envlist, envsecret

# --------------------------------------------------------------------------------------------
# envbool / envint / envlist
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", "yes", "on", " On "])
def test_envbool_true_values(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("PLEDGE_T_BOOL", raw)
    assert envbool("PLEDGE_T_BOOL", False) is True


@pytest.mark.parametrize("raw", ["0", "false", "False", "no", "off", ""])
def test_envbool_false_values(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("PLEDGE_T_BOOL", raw)
    assert envbool("PLEDGE_T_BOOL", True) is False


def test_envbool_unset_gives_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLEDGE_T_BOOL", raising=False)
    assert envbool("PLEDGE_T_BOOL", True) is True
    assert envbool("PLEDGE_T_BOOL", False) is False


@pytest.mark.parametrize("raw", ["maybe", "2", "y", "enabled"])
def test_envbool_rejects_other_values_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("PLEDGE_T_BOOL", raw)
    with pytest.raises(ImproperlyConfiguredError, match=r"PLEDGE_T_BOOL=.*not a boolean"):
        envbool("PLEDGE_T_BOOL", False)


def test_envint_parses_and_strips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLEDGE_T_INT", " 42 ")
    assert envint("PLEDGE_T_INT", 7) == 42


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_envint_unset_or_blank_gives_default(
    monkeypatch: pytest.MonkeyPatch, raw: str | None
) -> None:
    if raw is None:
        monkeypatch.delenv("PLEDGE_T_INT", raising=False)
    else:
        monkeypatch.setenv("PLEDGE_T_INT", raw)
    assert envint("PLEDGE_T_INT", 7) == 7


@pytest.mark.parametrize("raw", ["ten", "1.5", "0x10"])
def test_envint_rejects_non_integers(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("PLEDGE_T_INT", raw)
    with pytest.raises(ImproperlyConfiguredError, match=r"PLEDGE_T_INT=.*not an integer"):
        envint("PLEDGE_T_INT", 7)


def test_envint_enforces_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLEDGE_T_INT", "-1")
    with pytest.raises(ImproperlyConfiguredError, match=r"PLEDGE_T_INT=-1 must be at least 0"):
        envint("PLEDGE_T_INT", 7, minimum=0)
    monkeypatch.setenv("PLEDGE_T_INT", "0")
    assert envint("PLEDGE_T_INT", 7, minimum=0) == 0


def test_envlist_splits_on_commas_and_drops_blanks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLEDGE_T_LIST", " shop.example , ,www.shop.example,")
    assert envlist("PLEDGE_T_LIST", ["x"]) == ["shop.example", "www.shop.example"]
    monkeypatch.delenv("PLEDGE_T_LIST")
    assert envlist("PLEDGE_T_LIST", ["x"]) == ["x"]


# --------------------------------------------------------------------------------------------
# envsecret (NAME or NAME_FILE)
# --------------------------------------------------------------------------------------------


@pytest.fixture
def no_secret(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("PLEDGE_T_SECRET", raising=False)
    monkeypatch.delenv("PLEDGE_T_SECRET_FILE", raising=False)
    return monkeypatch


def test_envsecret_unset_gives_default(no_secret: pytest.MonkeyPatch) -> None:
    assert envsecret("PLEDGE_T_SECRET") is None
    assert envsecret("PLEDGE_T_SECRET", "fallback") == "fallback"


def test_envsecret_reads_the_variable(no_secret: pytest.MonkeyPatch) -> None:
    no_secret.setenv("PLEDGE_T_SECRET", "s3cret value")
    assert envsecret("PLEDGE_T_SECRET") == "s3cret value"


def test_envsecret_reads_the_file_and_strips_the_newline(
    no_secret: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file-ünïcode\n", encoding="utf-8")
    no_secret.setenv("PLEDGE_T_SECRET_FILE", str(secret_file))
    assert envsecret("PLEDGE_T_SECRET", "fallback") == "from-a-file-ünïcode"


def test_envsecret_refuses_both_variable_and_file(
    no_secret: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("one", encoding="utf-8")
    no_secret.setenv("PLEDGE_T_SECRET", "two")
    no_secret.setenv("PLEDGE_T_SECRET_FILE", str(secret_file))
    with pytest.raises(
        ImproperlyConfiguredError, match="either PLEDGE_T_SECRET or PLEDGE_T_SECRET_FILE"
    ):
        envsecret("PLEDGE_T_SECRET")


def test_envsecret_missing_file_is_an_error(no_secret: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    no_secret.setenv("PLEDGE_T_SECRET_FILE", str(missing))
    with pytest.raises(ImproperlyConfiguredError, match="PLEDGE_T_SECRET_FILE") as excinfo:
        envsecret("PLEDGE_T_SECRET", "fallback")
    assert str(missing) in str(excinfo.value)
    assert "does not exist" in str(excinfo.value)


def test_envsecret_empty_file_is_an_error(no_secret: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n", encoding="utf-8")
    no_secret.setenv("PLEDGE_T_SECRET_FILE", str(empty))
    with pytest.raises(ImproperlyConfiguredError, match=r"PLEDGE_T_SECRET_FILE=.* is empty"):
        envsecret("PLEDGE_T_SECRET")


def test_envsecret_unreadable_file_is_an_error(
    no_secret: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A directory cannot be read as a file, whoever we run as (root ignores file modes).
    no_secret.setenv("PLEDGE_T_SECRET_FILE", str(tmp_path))
    with pytest.raises(ImproperlyConfiguredError, match=r"PLEDGE_T_SECRET_FILE=.*cannot be read"):
        envsecret("PLEDGE_T_SECRET")


def test_envsecret_empty_variable_is_an_error(no_secret: pytest.MonkeyPatch) -> None:
    no_secret.setenv("PLEDGE_T_SECRET", "  ")
    with pytest.raises(ImproperlyConfiguredError, match="PLEDGE_T_SECRET is set but empty"):
        envsecret("PLEDGE_T_SECRET")


# --------------------------------------------------------------------------------------------
# The `pledge` command and settings.py, in fresh processes
# --------------------------------------------------------------------------------------------

GOOD_KEY = "k" * 48


def _clean_env(var_dir: Path, **extra: str) -> dict[str, str]:
    """The test process's environment without Pledge/database settings, plus `extra`."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PLEDGE_", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"))
    }
    env["DJANGO_SETTINGS_MODULE"] = "pledge.settings"
    env["PLEDGE_VAR_DIR"] = str(var_dir)
    env.update(extra)
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_pledge_check_passes_with_a_clean_environment(tmp_path: Path) -> None:
    result = _run(["-m", "pledge", "check"], _clean_env(tmp_path / "var"), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("variable", "extra"),
    [
        ("PLEDGE_DEBUG", {"PLEDGE_DEBUG": "maybe"}),
        ("DATABASE_URL", {"DATABASE_URL": "mysql://x"}),
        ("PLEDGE_SECRET_KEY", {"PLEDGE_SECRET_KEY": "short"}),
        ("PLEDGE_SECRET_KEY_FILE", {"PLEDGE_SECRET_KEY_FILE": "/nonexistent/pledge-secret"}),
        (
            "PLEDGE_SECRET_KEY_FILE",
            {"PLEDGE_SECRET_KEY": GOOD_KEY, "PLEDGE_SECRET_KEY_FILE": "/etc/hostname"},
        ),
        ("PLEDGE_HSTS_SECONDS", {"PLEDGE_HSTS_SECONDS": "-5"}),
        ("PLEDGE_MAX_BODY_BYTES", {"PLEDGE_MAX_BODY_BYTES": "lots"}),
        ("PLEDGE_HTTPS", {"PLEDGE_HTTPS": "sometimes"}),
    ],
)
def test_pledge_with_a_bad_setting_exits_78_with_a_clear_message(
    tmp_path: Path, variable: str, extra: dict[str, str]
) -> None:
    result = _run(["-m", "pledge", "check"], _clean_env(tmp_path / "var", **extra), tmp_path)
    assert result.returncode == 78, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert variable in result.stderr
    assert result.stderr.startswith("pledge: configuration error:")


_DUMP_SETTINGS = """
import json
from django.conf import settings
print(json.dumps({
    "debug": settings.DEBUG,
    "secret_key": settings.SECRET_KEY,
    "engine": settings.DATABASES["default"]["ENGINE"],
    "db_name": str(settings.DATABASES["default"]["NAME"]),
    "db_host": settings.DATABASES["default"].get("HOST", ""),
    "session_cookie_secure": settings.SESSION_COOKIE_SECURE,
    "ssl_redirect": settings.SECURE_SSL_REDIRECT,
    "hsts": settings.SECURE_HSTS_SECONDS,
    "allowed_hosts": settings.ALLOWED_HOSTS,
}))
"""


def _settings(tmp_path: Path, **extra: str) -> dict[str, object]:
    result = _run(["-c", _DUMP_SETTINGS], _clean_env(tmp_path / "var", **extra), tmp_path)
    assert result.returncode == 0, result.stderr
    loaded: dict[str, object] = json.loads(result.stdout)
    return loaded


def test_defaults_are_sqlite_under_var_dir_and_not_debug(tmp_path: Path) -> None:
    loaded = _settings(tmp_path)
    assert loaded["debug"] is False
    assert loaded["engine"] == "django.db.backends.sqlite3"
    assert loaded["db_name"] == str((tmp_path / "var" / "pledge.sqlite3").resolve())
    assert loaded["session_cookie_secure"] is False
    assert loaded["hsts"] == 0


def test_generated_secret_key_is_private_and_stable(tmp_path: Path) -> None:
    first = _settings(tmp_path)
    key_file = tmp_path / "var" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(str(first["secret_key"])) >= 32
    assert key_file.read_text(encoding="utf-8").strip() == first["secret_key"]
    assert _settings(tmp_path)["secret_key"] == first["secret_key"]


def test_secret_key_from_file(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(GOOD_KEY + "\n", encoding="utf-8")
    loaded = _settings(tmp_path, PLEDGE_SECRET_KEY_FILE=str(key_file))
    assert loaded["secret_key"] == GOOD_KEY
    assert not (tmp_path / "var" / "secret_key").exists()


def test_database_url_selects_postgresql(tmp_path: Path) -> None:
    loaded = _settings(tmp_path, DATABASE_URL="postgresql://shop:pw@db.internal:5432/pledge")
    assert loaded["engine"] == "django.db.backends.postgresql"
    assert loaded["db_name"] == "pledge"
    assert loaded["db_host"] == "db.internal"


def test_https_switches_on_secure_cookies_redirect_and_hsts(tmp_path: Path) -> None:
    loaded = _settings(
        tmp_path, PLEDGE_HTTPS="1", PLEDGE_ALLOWED_HOSTS="shop.example, www.shop.example"
    )
    assert loaded["session_cookie_secure"] is True
    assert loaded["ssl_redirect"] is True
    assert loaded["hsts"] == 31_536_000
    assert loaded["allowed_hosts"] == ["shop.example", "www.shop.example"]


def test_every_setting_is_documented() -> None:
    """datasette's habit: a setting read from the environment but missing from the docs fails."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    sources = [root / "src/pledge/settings.py", root / "src/pledge/keyring.py"]
    names = set()
    for source in sources:
        names |= set(re.findall(r"env\w*\(\s*\"(PLEDGE_\w+|DATABASE_URL)\"", source.read_text()))
    doc = (root / "docs/settings.md").read_text(encoding="utf-8")
    assert names, "no settings found: the pattern is out of date"
    assert sorted(n for n in names if f"`{n}`" not in doc) == []
