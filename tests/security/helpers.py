"""Shared helpers of the security tests: the real `pledge` command in a throw-away var/ dir, and a
raw-byte scanner that looks for personal values in every spelling they could take on disk.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import phonenumbers

# The console script of this virtualenv (pyproject: [project.scripts] pledge).
PLEDGE = Path(sys.executable).with_name("pledge")

# Variables of the test session that must not leak into a subprocess: it configures itself from
# its own PLEDGE_VAR_DIR alone (SQLite file, keyring file), like a fresh installation.
_DROPPED_PREFIXES = ("PLEDGE_", "DATABASE_URL", "DJANGO_")


def pledge_env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES)}
    env["PLEDGE_VAR_DIR"] = str(var_dir)
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra)
    return env


def run_pledge(
    var_dir: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    """Run `pledge ARGS…` against the var dir; with check, fail the test with its output."""
    result = subprocess.run(
        [str(PLEDGE), *args],
        env=dict(env) if env is not None else pledge_env(var_dir),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"`pledge {' '.join(args)[:200]}` exited {result.returncode}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
    return result


RESULT_MARK = "PLEDGE-TEST-RESULT:"


def shell_result(result: subprocess.CompletedProcess[str]) -> object:
    """The JSON a `pledge shell -c` script printed after RESULT_MARK."""
    for line in result.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK) :])
    raise AssertionError(f"the script printed no result line:\n{result.stdout}\n{result.stderr}")


# -- spellings of a value --------------------------------------------------------------------


def text_forms(value: str) -> set[bytes]:
    """Every byte spelling of a text value: NFC and NFD; as given, lower, upper and case-folded;
    UTF-8, UTF-16-LE, UTF-16-BE (less a leading NUL) and JSON with \\u escapes (ensure_ascii),
    as a JSON column on SQLite would hold it."""
    forms: set[bytes] = set()
    for norm in ("NFC", "NFD"):
        for cased in {value, value.lower(), value.upper(), value.casefold()}:
            text = unicodedata.normalize(norm, cased)
            forms.add(text.encode("utf-8"))
            forms.add(text.encode("utf-16-le"))
            # UTF-16-BE from its second byte on: a leading NUL would make the scan crawl
            # through zero-filled pages, and the rest of the form still proves the leak.
            forms.add(text.encode("utf-16-be").lstrip(b"\x00"))
            forms.add(json.dumps(text, ensure_ascii=True)[1:-1].encode("ascii"))
    return forms


def phone_forms(value: str, region: str = "VN") -> set[bytes]:
    """A phone as given plus its national, international and E.164 forms, and bare digits."""
    number = phonenumbers.parse(value, region)
    spellings = {
        value,
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL),
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:],
        "0" + phonenumbers.national_significant_number(number),
        phonenumbers.national_significant_number(number),
    }
    forms: set[bytes] = set()
    for spelling in spellings:
        forms |= text_forms(spelling)
    return forms


def key_forms(key: bytes) -> set[bytes]:
    """Raw key bytes and their usual text spellings (base64, urlsafe base64, hex)."""
    import base64

    return {
        key,
        base64.b64encode(key),
        base64.b64encode(key).rstrip(b"="),
        base64.urlsafe_b64encode(key).rstrip(b"="),
        key.hex().encode(),
        key.hex().upper().encode(),
    }


# -- the scanner -----------------------------------------------------------------------------


class Scanner:
    """Finds any of many byte strings in files with one compiled pattern per scan."""

    def __init__(self, needles: Mapping[str, Iterable[bytes]]) -> None:
        self._label: dict[bytes, str] = {}
        for label, forms in needles.items():
            for form in forms:
                if len(form) < 6:
                    raise ValueError(f"{label}: {form!r} is too short to scan for reliably")
                self._label.setdefault(form, label)
        self._pattern = re.compile(_trie_pattern(self._label))

    def scan_bytes(self, data: bytes, where: str) -> list[str]:
        return [
            f"{self._label[m.group()]} as {m.group()!r} in {where} at byte {m.start()}"
            for m in self._pattern.finditer(data)
        ]

    def scan_files(self, paths: Iterable[Path]) -> list[str]:
        hits: list[str] = []
        for path in paths:
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                # A running PostgreSQL server replaces some files as it goes (global/
                # pg_internal.init): one listed a moment ago may be gone; its successor is
                # scanned by the next listing, and a vanished file holds nothing any more.
                continue
            hits += self.scan_bytes(data, str(path))
        return hits


def _trie_pattern(words: Iterable[bytes]) -> bytes:
    """One regular expression for many literals, shaped as a trie: a plain alternation of
    hundreds of literals scans a data directory at a few MB/s, the trie at ~100 MB/s."""
    trie: dict[int | None, Any] = {}
    for word in words:
        node = trie
        for byte in word:
            node = node.setdefault(byte, {})
        node[None] = {}

    def build(node: dict[int | None, Any]) -> bytes:
        ends = None in node
        branches = [
            re.escape(bytes([byte])) + build(child)
            for byte, child in sorted((k, v) for k, v in node.items() if k is not None)
        ]
        if not branches:
            return b""
        if len(branches) == 1 and not ends:
            return branches[0]
        return b"(?:" + b"|".join(branches) + b")" + (b"?" if ends else b"")

    return build(trie)


def files_under(root: Path) -> list[Path]:
    """Every regular file under root (recursively)."""
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
