"""Tiny typed helpers that read settings from the environment.

Modelled on healthchecks' `envbool`/`envint`: every setting comes from the environment, a secret may
come from a file named by `NAME_FILE` (Docker/systemd credentials), and a bad value stops the
process with a message that names the variable and what was wrong with it.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


class ImproperlyConfiguredError(ImproperlyConfigured):
    """A setting read from the environment is missing or malformed."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfiguredError(
        f"{name}={raw!r} is not a boolean; use one of 1/0, true/false, yes/no, on/off"
    )


def envint(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfiguredError(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfiguredError(f"{name}={value} must be at least {minimum}")
    return value


def envlist(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def envsecret(name: str, default: str | None = None) -> str | None:
    """Read a secret from `NAME`, or from the file that `NAME_FILE` points to.

    Setting both is refused: it is ambiguous which one the operator meant.
    """
    direct = os.environ.get(name)
    file_name = os.environ.get(f"{name}_FILE")
    if direct is not None and file_name is not None:
        raise ImproperlyConfiguredError(f"set either {name} or {name}_FILE, not both")
    if file_name is not None:
        path = Path(file_name)
        try:
            value = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise ImproperlyConfiguredError(
                f"{name}_FILE points to {file_name}, which does not exist"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ImproperlyConfiguredError(
                f"{name}_FILE={file_name} cannot be read: {exc.__class__.__name__}"
            ) from None
        if not value:
            raise ImproperlyConfiguredError(f"{name}_FILE={file_name} is empty")
        return value
    if direct is not None:
        if not direct.strip():
            raise ImproperlyConfiguredError(f"{name} is set but empty")
        return direct
    return default
