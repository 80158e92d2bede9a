"""Every user-visible string exists in Vietnamese, and the committed catalogs match their sources.

The compiled .mo files are committed so that installing Pledge needs no gettext tools; this test
fails when a .po was edited without `make messages`.
"""

from __future__ import annotations

import gettext
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest

LOCALE = Path(__file__).resolve().parent.parent / "src" / "pledge" / "locale"
VI_PO = LOCALE / "vi" / "LC_MESSAGES" / "django.po"


def catalog(mo: Path) -> dict[object, str]:
    with mo.open("rb") as fh:
        return dict(gettext.GNUTranslations(fh)._catalog)  # type: ignore[attr-defined]


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_committed_catalog_matches_its_source(lang: str, tmp_path: Path) -> None:
    msgfmt = shutil.which("msgfmt")
    assert msgfmt, "msgfmt (gettext) is needed: scripts/ensure-system-deps.sh installs it"
    po = LOCALE / lang / "LC_MESSAGES" / "django.po"
    fresh = tmp_path / "django.mo"
    subprocess.run([msgfmt, "--check-format", "-o", str(fresh), str(po)], check=True)
    assert catalog(po.with_suffix(".mo")) == catalog(fresh), "run `make messages`"


def test_every_string_is_translated_to_vietnamese() -> None:
    msgattrib = shutil.which("msgattrib")
    assert msgattrib
    untranslated = subprocess.run(
        [msgattrib, "--untranslated", "--no-obsolete", str(VI_PO)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    fuzzy = subprocess.run(
        [msgattrib, "--only-fuzzy", "--no-obsolete", str(VI_PO)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "msgid" not in untranslated, untranslated[:2000]
    assert "msgid" not in fuzzy, fuzzy[:2000]


def test_vietnamese_text_is_nfc() -> None:
    text = VI_PO.read_text(encoding="utf-8")
    assert unicodedata.is_normalized("NFC", text)
