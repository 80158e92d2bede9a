"""Security invariant: no plaintext of an encrypted field anywhere in the database files
(including the WAL and journals), and no key of the keyring in them (ARCHITECTURE.md).

SQLite: the test database of the suite lives in memory, so a real installation is made in a temp
var dir by real `pledge` subprocesses (migrate, policy publish, shell); its files are read raw.
The WAL is read while another connection keeps the database open, so no checkpoint has folded it
into the main file yet; then again after the last connection closed (checkpointed).

PostgreSQL: customers are written through the services into the suite's own server, committed
(transactional_db), CHECKPOINT is run, and every file of the server's data directory is read.

Each scan also looks for control values held in plain columns (an order number, a product name):
they must be found, or the scanner proves nothing.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import phonenumbers
import pytest

from tests.security import scenario
from tests.security.helpers import (
    Scanner,
    files_under,
    key_forms,
    phone_forms,
    pledge_env,
    run_pledge,
    shell_result,
    text_forms,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SCENARIO = "from tests.security.scenario import main; main()"


def personal_needles() -> dict[str, set[bytes]]:
    needles: dict[str, set[bytes]] = {}
    phones = scenario.phone_labels()
    for label, value in scenario.personal_values().items():
        needles[label] = phone_forms(value) if label in phones else text_forms(value)
    return needles


PERSONAL = Scanner(personal_needles())


def control_found(data: bytes) -> dict[str, bool]:
    """Which plain-column control values appear (UTF-8, NFC: as the columns hold them)."""
    return {
        **{n: n.encode() in data for n in scenario.ORDER_NUMBERS},
        scenario.PRODUCT: unicodedata.normalize("NFC", scenario.PRODUCT).encode() in data,
    }


def keyring_needles(document: dict[str, Any]) -> dict[str, set[bytes]]:
    needles = {
        f"master key v{entry['version']}": key_forms(base64.b64decode(entry["key"]))
        for entry in document["master_keys"]
    }
    needles["index key"] = key_forms(base64.b64decode(document["index_key"]))
    needles["signing key"] = key_forms(base64.b64decode(document["signing_key"]))
    return needles


def e164(value: str) -> str:
    number = phonenumbers.parse(value, "VN")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value)


def assert_read_back(result: dict[str, Any]) -> None:
    """The values are really stored: the services give every one of them back, whole."""
    c1, c2, c3 = (c["profile"] for c in result["customers"])
    assert c1 == {
        "full_name": scenario.C1["full_name"],
        "email": scenario.C1["email"],
        "phone": e164(scenario.C1_UPDATE["phone"]),
        "address": scenario.C1_UPDATE["address"],
    }
    assert c2 == {
        "full_name": nfc(scenario.C2["full_name"]),
        "email": scenario.C2["email"],
        "phone": e164(scenario.C2["phone"]),
        "address": nfc(scenario.C2["address"]),
    }
    assert c3 == {**scenario.C3, "phone": e164(scenario.C3["phone"])}
    assert all(c["masked"] == [] for c in result["customers"])
    (order,) = result["customers"][1]["orders"]
    assert order["number"] == scenario.ORDER_NUMBERS[1]
    assert order["fields"] == {**scenario.ORDER_BUYER, "phone": e164(scenario.ORDER_BUYER["phone"])}
    assert result["guarantee"]["fields"]["guarantee_number"] == scenario.GUARANTEE_NUMBER
    assert result["guarantee"]["fields"]["full_name"] == scenario.C3["full_name"]
    ids = result["ids"]
    assert result["lookups"] == {"phone": [ids[0]], "email": [ids[0]], "full_name": [ids[1]]}


# -- SQLite: a real installation driven by the `pledge` command ------------------------------


@dataclass(frozen=True)
class Installation:
    var_dir: Path
    result: dict[str, Any]
    stderr: str
    # file name -> bytes, read while a second connection held the database open (WAL live)
    held: dict[str, bytes]
    # file name -> bytes, read after every connection closed (WAL checkpointed)
    closed: dict[str, bytes]


def _db_files(var_dir: Path) -> dict[str, bytes]:
    # pledge.sqlite3 and every companion: -wal, -shm, -journal.
    return {p.name: p.read_bytes() for p in sorted(var_dir.glob("pledge.sqlite3*"))}


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Installation:
    var_dir = tmp_path_factory.mktemp("scan-var")
    full_env = pledge_env(var_dir, PYTHONPATH=str(REPO_ROOT))
    stderr = ""
    stderr += run_pledge(var_dir, "migrate", "--no-input", "-v", "0", env=full_env).stderr
    stderr += run_pledge(
        var_dir, "policy", "publish", "leman-jewelry", "--actor", "test", env=full_env
    ).stderr
    db = var_dir / "pledge.sqlite3"
    # A second connection keeps the database open: when the writer exits it is not the last
    # connection, so SQLite does not checkpoint the WAL into the main file and delete it.
    holder = sqlite3.connect(db)
    try:
        assert holder.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        holder.execute("SELECT count(*) FROM sqlite_master").fetchone()
        shell = run_pledge(var_dir, "shell", "--no-imports", "-c", SCENARIO, env=full_env)
        stderr += shell.stderr
        held = _db_files(var_dir)
    finally:
        holder.close()
    closed = _db_files(var_dir)
    result = shell_result(shell)
    assert isinstance(result, dict)
    return Installation(var_dir, result, stderr, held, closed)


def test_sqlite_values_are_stored_and_read_back_through_the_services(
    installation: Installation,
) -> None:
    assert_read_back(installation.result)


def test_sqlite_wal_was_scanned_before_any_checkpoint(installation: Installation) -> None:
    wal = installation.held.get("pledge.sqlite3-wal", b"")
    assert len(wal) > 0, f"no WAL to scan: {sorted(installation.held)}"
    # The scenario's writes are in the WAL and not yet in the main file.
    assert all(control_found(wal).values()), control_found(wal)
    assert not any(control_found(installation.held["pledge.sqlite3"]).values())
    # After the last connection closed, the WAL was folded into the main file.
    assert all(control_found(installation.closed["pledge.sqlite3"]).values())


@pytest.mark.parametrize("moment", ["held", "closed"])
def test_sqlite_files_hold_no_plaintext_personal_value(
    installation: Installation, moment: str
) -> None:
    files: dict[str, bytes] = getattr(installation, moment)
    everything = b"".join(files.values())
    # The scanner works on these bytes: it finds the plain-column controls.
    assert all(control_found(everything).values()), control_found(everything)
    hits = [h for name, data in files.items() for h in PERSONAL.scan_bytes(data, name)]
    assert hits == []


def test_sqlite_command_output_has_no_personal_value(installation: Installation) -> None:
    # Logs go to stderr; stdout carries only the scenario's own read-back line.
    assert PERSONAL.scan_bytes(installation.stderr.encode(), "stderr") == []


def test_sqlite_files_hold_no_key_of_the_keyring(installation: Installation) -> None:
    keyring = installation.var_dir / "keys" / "keyring.json"
    assert keyring.is_file()
    assert keyring.name not in installation.held
    document = json.loads(keyring.read_text(encoding="utf-8"))
    scanner = Scanner(keyring_needles(document))
    for files in (installation.held, installation.closed):
        assert [h for n, d in files.items() for h in scanner.scan_bytes(d, n)] == []


def test_scanner_finds_a_planted_value_in_every_spelling() -> None:
    """The scanner itself: NFD, upper case, UTF-16 and E.164 spellings are all caught."""
    name = scenario.C1["full_name"]
    for planted in (
        nfc(name).encode(),
        unicodedata.normalize("NFD", name).encode(),
        name.upper().encode(),
        name.encode("utf-16-le"),
        name.encode("utf-16-be"),
        json.dumps(name).encode(),
    ):
        assert PERSONAL.scan_bytes(b"\x00junk" + planted + b"junk", "x"), planted
    assert PERSONAL.scan_bytes(b"..+84983417265..", "x")
    assert PERSONAL.scan_bytes(b"..0983417265..", "x")
    assert PERSONAL.scan_bytes(b"..BHQX7202604128841..", "x")
    assert PERSONAL.scan_bytes(b"nothing personal here", "x") == []


# -- PostgreSQL: the suite's own server, every file of its data directory ---------------------


@pytest.mark.postgresql_only
def test_postgresql_data_directory_holds_no_plaintext_personal_value(
    request: pytest.FixtureRequest, transactional_db: None, leman: Any
) -> None:
    from django.db import connection

    from pledge.keyring import load_keyring

    server = request.getfixturevalue("pledge_postgresql")
    assert connection.vendor == "postgresql"
    result = scenario.create_and_read()
    assert_read_back(json.loads(json.dumps(result)))

    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
        cursor.execute("SHOW data_directory")
        (data_directory,) = cursor.fetchone()
    datadir = Path(data_directory)
    assert datadir.resolve() == Path(server.datadir).resolve()

    files = files_under(datadir)
    wal_files = [p for p in files if p.parts[len(datadir.parts)] == "pg_wal"]
    heap_files = [p for p in files if p.parts[len(datadir.parts)] == "base"]
    assert wal_files and heap_files

    # The scanner works here: the controls are in the WAL and, after CHECKPOINT, in the tables.
    for group, paths in (("pg_wal", wal_files), ("base", heap_files)):
        seen = dict.fromkeys(control_found(b""), False)
        for path in paths:
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                # The server replaces relcache init files (pg_internal.init) as other sessions
                # come and go (a CREATE/DROP DATABASE elsewhere): a vanished file holds nothing.
                continue
            for name, hit in control_found(data).items():
                seen[name] = seen[name] or hit
        assert all(seen.values()), (group, seen)

    assert PERSONAL.scan_files(files) == []

    ring = load_keyring()
    document = ring.to_document()
    assert Scanner(keyring_needles(document)).scan_files(files) == []
