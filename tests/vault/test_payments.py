"""Card payments (P02, P15; PCI DSS 3.3.1, 3.4.1) on preset B (Leman Jewelry), real database.

The acceptance test of issue 3: the CVC (and the full card number) of real payment calls is found
in no table, no log record and no file, in the test database and in a file database written by a
separate `pledge` process (SQLite main file, WAL and journal included).
"""

from __future__ import annotations

import copy
import logging
import os
import pickle
import re
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings
from django.db import connection

from pledge.audit.models import AuditEvent
from pledge.policy.enforcement import clear_policy_cache, enforced_policy
from pledge.policy.loader import parse_policy
from pledge.policy.services import publish_policy
from pledge.vault import services
from pledge.vault.access import SUBJECT_ACCESS, Actor
from pledge.vault.errors import AccessRefused, FieldsRefused, NotFound, ValuesInvalid
from pledge.vault.models import EncryptedValue, Order, Payment, PaymentMethod, RecordKind
from pledge.vault.payments import (
    CardInput,
    GatewayFailed,
    GatewayResult,
    OfflineTestGateway,
    authorize_payment,
    detect_brand,
    list_payments,
)
from pledge.vault.store import customer_key, read_values


def with_check_digit(partial: str) -> str:
    """`partial` + the Luhn check digit."""
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return partial + str((10 - total % 10) % 10)


# Distinctive, valid numbers that appear in no test-card list and in nothing Pledge writes.
VISA = with_check_digit("491633805127940")
AMEX = with_check_digit("37827395104628")
DECLINED_VISA = "4000000000000002"


def grouped(number: str) -> str:
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def card(number: str = VISA, cvc: str = "318", **changes: Any) -> CardInput:
    values: dict[str, Any] = {
        "number": grouped(number),
        "expiry_month": 11,
        "expiry_year": 2031,
        "holder": "NGUYEN THI HONG NHUNG",
        "cvc": cvc,
    }
    values.update(changes)
    return CardInput(**values)


def new_customer(actor: Actor, email: str = "hong.nhung@example.vn") -> uuid.UUID:
    return services.collect_customer(
        actor=actor,
        purpose="order_fulfilment",
        fields={"full_name": "Nguyễn Thị Hồng Nhung", "email": email, "phone": "0912 345 678"},
    )


_orders = iter(range(1, 1_000_000))


def new_order(actor: Actor, customer_id: uuid.UUID, total: str = "5200000") -> uuid.UUID:
    return services.place_order(
        actor=actor,
        purpose="order_fulfilment",
        customer_id=customer_id,
        number=f"LM-PAY-{next(_orders)}",
        items=[{"sku": "R-1", "name": "Nhẫn vàng 18K", "quantity": 1, "unit_price": total}],
        total=total,
    )


def last_event() -> AuditEvent:
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None
    return event


def pay(actor: Actor, customer_id: uuid.UUID, order_id: uuid.UUID, **kw: Any) -> Any:
    c = kw.pop("card", None) or card()
    return authorize_payment(
        actor=actor, purpose="payment", customer_id=customer_id, order_id=order_id, card=c, **kw
    )


# -- where a secret could end up ------------------------------------------------------------


# A 3- or 4-digit CVC turns up by chance inside any long enough run of hex or decimal digits
# (hashes, UUIDs, timestamps), so it is looked for where it is not part of such a run. Other
# letters may touch it: SQLite writes the columns of a row side by side, with no separator.
NOT_HEX_BEFORE, NOT_HEX_AFTER = rb"(?<![0-9A-Fa-f])", rb"(?![0-9A-Fa-f])"


def token_in(token: str, blob: bytes) -> bool:
    pattern = NOT_HEX_BEFORE + re.escape(token.encode()) + NOT_HEX_AFTER
    return re.search(pattern, blob) is not None


def _as_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode("utf-8", "surrogatepass")


def database_cells() -> Iterator[tuple[str, bytes]]:
    """(table, raw value) for every column of every row of every table, as the driver returns
    them (bytea/BLOB bytes, text, JSON text…)."""
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        assert "vault_payment" in tables and "audit_auditevent" in tables
        for table in tables:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                for value in row:
                    yield table, _as_bytes(value)


def files_under(root: Path) -> Iterator[tuple[Path, bytes]]:
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            try:
                yield path, path.read_bytes()
            except (FileNotFoundError, IsADirectoryError):
                continue


class Leaks:
    """Finds secrets (CVCs as whole tokens, card numbers as substrings) in byte blobs."""

    def __init__(self, cvcs: list[str], numbers: list[str]) -> None:
        self.cvcs = cvcs
        self.numbers = [n for number in numbers for n in (number, grouped(number))]

    def in_blob(self, blob: bytes) -> list[str]:
        hits = [f"CVC {c}" for c in self.cvcs if token_in(c, blob)]
        hits += [f"number {n}" for n in self.numbers if n.encode() in blob]
        return hits

    def scan(self, places: Iterator[tuple[Any, bytes]]) -> list[str]:
        return [f"{where}: {hit}" for where, blob in places for hit in self.in_blob(blob)]


# Attributes every LogRecord has: timings, line numbers, thread ids… (numbers that a 3-digit CVC
# would match by chance); what a record carries is its message, its exception and its extras.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "duration"}
_QUERY_TIME = re.compile(r"^\(\d+\.\d{3}\) ")


def record_text(record: logging.LogRecord) -> str:
    parts = [_QUERY_TIME.sub("", record.getMessage())]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        parts.append(record.stack_info)
    parts += [f"{k}={v!r}" for k, v in vars(record).items() if k not in _STANDARD]
    return "\n".join(parts)


class RecordCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> Iterator[tuple[str, bytes]]:
        for record in self.records:
            yield f"log {record.name}", record_text(record).encode("utf-8", "surrogatepass")


@pytest.fixture
def every_log(caplog: pytest.LogCaptureFixture) -> Iterator[RecordCollector]:
    """Every logger at DEBUG, SQL with its parameters included, into caplog and a root handler."""
    collector = RecordCollector()
    root = logging.getLogger()
    loggers = [root] + [
        logging.getLogger(name)
        for name, obj in list(logging.root.manager.loggerDict.items())
        if isinstance(obj, logging.Logger)
    ]
    saved = [(lg, lg.level, lg.disabled) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.disabled = False
        if lg is not root and not lg.propagate:
            lg.addHandler(collector)
    root.addHandler(collector)
    caplog.set_level(logging.DEBUG)
    debug_cursor = connection.force_debug_cursor
    connection.force_debug_cursor = True  # django.db.backends logs each query and its params
    try:
        yield collector
    finally:
        connection.force_debug_cursor = debug_cursor
        for lg, level, disabled in saved:
            lg.setLevel(level)
            lg.disabled = disabled
            if collector in lg.handlers:
                lg.removeHandler(collector)


# -- P02 / PCI DSS 3.3.1: the acceptance test -----------------------------------------------


def test_the_cvc_of_a_payment_call_is_found_nowhere(
    leman: Any, shop_api: Actor, every_log: RecordCollector, caplog: pytest.LogCaptureFixture
) -> None:
    cvcs = {"amex": "7305", "visa": "862", "declined": "594"}
    leaks = Leaks(list(cvcs.values()), [VISA, AMEX, DECLINED_VISA])
    # The check is meaningful only if none of these occurs before the payments.
    assert leaks.scan(database_cells()) == []
    assert leaks.scan(files_under(settings.VAR_DIR)) == []

    cid = new_customer(shop_api)
    me = Actor(kind="customer", id=str(cid))
    results = [
        pay(shop_api, cid, new_order(shop_api, cid), card=card(AMEX, cvcs["amex"])),
        pay(shop_api, cid, new_order(shop_api, cid), card=card(DECLINED_VISA, cvcs["declined"])),
        pay(me, cid, new_order(shop_api, cid, "750000"), card=card(VISA, cvcs["visa"])),
    ]
    assert [r.status for r in results] == ["authorized", "declined", "authorized"]
    history = list_payments(actor=me, purpose=SUBJECT_ACCESS, customer_id=cid)
    assert len(history) == 3
    list_payments(actor=shop_api, purpose="payment", customer_id=cid)
    with pytest.raises(ValuesInvalid) as err:  # a refused card: its error carries no value
        pay(shop_api, cid, new_order(shop_api, cid), card=card(VISA, "12"))
    logging.getLogger("pledge.test").exception("a failed payment", exc_info=err.value)

    # The scans are not vacuous: SQL with parameters was logged, cells and files were read.
    assert any(
        r.name == "django.db.backends" and "vault_payment" in r.getMessage()
        for r in every_log.records
    )
    assert caplog.records
    cells = list(database_cells())
    assert any(b"LM-PAY-" in blob for _, blob in cells)
    files = list(files_under(settings.VAR_DIR))
    assert any(path.name == "keyring.json" for path, _ in files)

    found = leaks.scan(iter(cells))
    found += leaks.scan(every_log.texts())
    found += leaks.scan((f"caplog {r.name}", record_text(r).encode()) for r in caplog.records)
    found += leaks.scan(files_under(settings.VAR_DIR))
    found += leaks.scan((f"result {r.id}", repr(r).encode()) for r in [*results, *history])
    assert found == []


SUBPROCESS_SCRIPT = """
import logging, os, shutil
from django.db import connection
logging.getLogger().setLevel(logging.DEBUG)
for name in list(logging.root.manager.loggerDict):
    logging.getLogger(name).setLevel(logging.DEBUG)
connection.force_debug_cursor = True
from pledge.vault import services
from pledge.vault.access import Actor
from pledge.vault.payments import CardInput, authorize_payment, list_payments
api = Actor(kind="api", id="shop", purposes=frozenset({"order_fulfilment", "payment"}))
cid = services.collect_customer(actor=api, purpose="order_fulfilment",
    fields={"full_name": "Trần Văn Bình", "email": "binh@example.vn"})
oid = services.place_order(actor=api, purpose="order_fulfilment", customer_id=cid,
    number="SUB-1", items=[{"sku": "W-1", "name": "Watch", "quantity": 1,
    "unit_price": "1250000"}], total="1250000")
card = CardInput(os.environ["T_CARD"], 12, 2031, "TRAN VAN BINH", os.environ["T_CVC"])
result = authorize_payment(actor=api, purpose="payment", customer_id=cid, order_id=oid, card=card)
print("payment", result.status, result.card)
me = Actor(kind="customer", id=str(cid))
print(list_payments(actor=me, purpose="subject_access", customer_id=cid))
# A copy of the var dir while this process still holds the database open (-wal, -shm present).
shutil.copytree(os.environ["PLEDGE_VAR_DIR"], os.environ["T_SNAPSHOT"])
print("snapshot", sorted(os.listdir(os.environ["T_SNAPSHOT"])))
"""


def sqlite_cells(folder: Path, work: Path) -> list[bytes]:
    """Every cell of every table of the SQLite database in `folder`, read from a copy (opening a
    database checkpoints its WAL, which would change the files under test)."""
    shutil.copytree(folder, work)
    con = sqlite3.connect(work / "pledge.sqlite3")
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert "vault_payment" in tables
        return [
            _as_bytes(value)
            for table in tables
            for row in con.execute(f'SELECT * FROM "{table}"')
            for value in row
        ]
    finally:
        con.close()


def raw_leaks(
    files: list[tuple[Path, bytes]], cells: list[bytes], cvc: str, digits: str
) -> list[str]:
    """Byte-scan of database files. A cell holding the CVC as a token is a leak. Elsewhere in the
    raw bytes the CVC is looked for as any substring, since SQLite puts the columns of a row side
    by side, after masking the cells where it occurs by chance inside a longer value (a UUID, a
    hash): what remains can only be a CVC written on its own, live or in an old page."""
    token = cvc.encode()
    hits = [f"cell {c[:80]!r}" for c in cells if token_in(cvc, c) or digits.encode() in c]
    benign = sorted({c for c in cells if token in c}, key=len, reverse=True)
    for path, data in files:
        for value in benign:
            data = data.replace(value, b"\0" * len(value))
        if token in data or digits.encode() in data or grouped(digits).encode() in data:
            hits.append(str(path))
    return hits


def test_the_cvc_reaches_no_file_of_a_file_database(tmp_path: Path) -> None:
    """A separate `pledge` process on a SQLite file (the default deployment): after migrate,
    publish and a payment, neither the CVC nor the card number is in any file of its var dir
    (database, -wal, -shm, -journal, keyring), in a copy taken while the database was still open,
    nor in its output, SQL debug logging included."""
    pledge = Path(sys.executable).with_name("pledge")
    var_dir, snapshot = tmp_path / "var", tmp_path / "snapshot"
    digits, cvc = with_check_digit("34567392018473"), "5917"
    number = grouped(digits)
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "DATABASE_URL"
        and not k.startswith(("PLEDGE_KEYRING", "PLEDGE_FILES", "PLEDGE_TEST"))
    }
    env.update(
        PLEDGE_VAR_DIR=str(var_dir),
        PLEDGE_LOG_LEVEL="DEBUG",
        DJANGO_SETTINGS_MODULE="pledge.settings",
        T_CARD=number,
        T_CVC=cvc,
        T_SNAPSHOT=str(snapshot),
    )
    outputs: list[tuple[str, bytes]] = []

    def run(*args: str) -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run(
            [str(pledge), *args], env=env, capture_output=True, timeout=300, check=False
        )
        outputs.append((f"{args[0]} stdout", done.stdout))
        outputs.append((f"{args[0]} stderr", done.stderr))
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
        return done

    run("migrate", "--no-input", "-v", "0")
    run("policy", "publish", "leman-jewelry", "--actor", "test")
    done = run("shell", "-c", SUBPROCESS_SCRIPT)
    out = done.stdout.decode()
    assert "payment authorized" in out and f"AMEX •••• {digits[-4:]}" in out
    # SQL was logged with its parameters, so the output scan means something.
    assert b"INSERT INTO" in done.stderr and b"vault_payment" in done.stderr

    taken = list(files_under(snapshot))
    assert {p.name for p, _ in taken} >= {"pledge.sqlite3", "pledge.sqlite3-wal", "keyring.json"}
    cells = sqlite_cells(snapshot, tmp_path / "open-snapshot")
    assert any(b"SUB-1" in c for c in cells)  # the payment's order is there to be found
    after = list(files_under(var_dir))
    assert {p.name for p, _ in after} >= {"pledge.sqlite3", "keyring.json"}

    found = Leaks([cvc], [digits]).scan(iter(outputs))
    found += raw_leaks(taken, cells, cvc, digits)
    found += raw_leaks(after, sqlite_cells(var_dir, tmp_path / "open-after"), cvc, digits)
    assert found == []


# -- what is kept of a card (PCI DSS 3.4.1, 3.5.1) ------------------------------------------


def test_authorized_payment_keeps_the_card_truncated_and_encrypted(
    leman: Any, shop_api: Actor
) -> None:
    cid = new_customer(shop_api)
    oid = new_order(shop_api, cid, "5200000")
    result = pay(shop_api, cid, oid)
    assert result.authorized and result.status == "authorized"
    assert result.amount == Decimal("5200000.00") and result.currency == "VND"
    assert result.card == f"VISA •••• {VISA[-4:]}"
    assert result.gateway == "offline-test" and result.gateway_reference.startswith("test_")

    payment = Payment.objects.get(pk=result.id)
    assert (payment.status, payment.amount, payment.order_id) == (
        "authorized",
        Decimal(5200000),
        oid,
    )
    assert Order.objects.get(pk=oid).status == Order.Status.PAID
    method = PaymentMethod.objects.get(pk=payment.method_id)
    assert method.brand == "visa" and method.customer_id == cid
    rows = EncryptedValue.objects.filter(customer_id=cid, record_kind=RecordKind.PAYMENT)
    assert [(r.record_id, r.field) for r in rows] == [(method.id, "card")]
    kept = read_values(customer_key(cid), RecordKind.PAYMENT, [method.id], ["card"])[method.id]
    assert kept["card"] == {
        "brand": "visa",
        "bin": VISA[:6],
        "last4": VISA[-4:],
        "expiry": "11/2031",
        "holder": "NGUYEN THI HONG NHUNG",
    }
    event = last_event()
    assert (event.type, event.outcome, event.record) == (
        "vault:payment_authorized",
        "ok",
        f"payment:{result.id}",
    )
    assert event.fields == "card,card_cvc,payment_history"
    assert VISA not in event.canonical and "318" not in event.details


def test_a_short_card_number_keeps_fewer_bin_digits(leman: Any, shop_api: Actor) -> None:
    """6 + 4 digits of a 13-digit number would leave 3 unknown (one of them the check digit)."""
    thirteen = with_check_digit("491633805127")
    checked = card(thirteen).checked()
    assert checked.brand == "visa" and len(checked.digits) == 13
    summary = checked.stored_summary()
    assert summary["bin"] == thirteen[:3] and summary["last4"] == thirteen[-4:]
    assert "cvc" not in summary and thirteen not in repr(summary)


def test_declined_test_card_records_a_declined_payment_and_no_card_number(
    leman: Any, shop_api: Actor
) -> None:
    cid = new_customer(shop_api)
    oid = new_order(shop_api, cid)
    result = pay(shop_api, cid, oid, card=card(DECLINED_VISA, "407"))
    assert not result.authorized
    assert (result.status, result.decline_reason) == ("declined", "card_declined")
    payment = Payment.objects.get(pk=result.id)
    assert (payment.status, payment.decline_reason) == ("declined", "card_declined")
    assert Order.objects.get(pk=oid).status == Order.Status.PLACED
    event = last_event()
    assert (event.type, event.outcome) == ("vault:payment_declined", "ok")
    leaks = Leaks(["407"], [DECLINED_VISA])
    assert leaks.scan(database_cells()) == []


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("4000000000009995", "insufficient_funds"),
        ("4000000000000069", "expired_card"),
        ("4000000000000127", "incorrect_cvc"),
    ],
)
def test_offline_gateway_documented_declines(number: str, reason: str) -> None:
    answer = OfflineTestGateway().authorize(
        card=card(number).checked(), amount=Decimal(100), currency="VND", reference="r"
    )
    assert (answer.approved, answer.decline_reason) == (False, reason)
    assert reason in (OfflineTestGateway.__doc__ or "") and number in (
        OfflineTestGateway.__doc__ or ""
    )


def test_card_is_shown_as_at_most_bin_and_last4(leman: Any, shop_api: Actor, staff: Any) -> None:
    cid = new_customer(shop_api)
    pay(shop_api, cid, new_order(shop_api, cid))
    pay(shop_api, cid, new_order(shop_api, cid), card=card(AMEX, "7305"))

    # The customer's own access shows the card whole: BIN + last 4 at most.
    me = Actor(kind="customer", id=str(cid))
    mine = list_payments(actor=me, purpose=SUBJECT_ACCESS, customer_id=cid)
    assert [v.card for v in mine] == [
        f"AMEX {AMEX[:6]}•• •••• {AMEX[-4:]}",
        f"VISA {VISA[:6]}•• •••• {VISA[-4:]}",
    ]
    for view in mine:
        assert view.card is not None and len(re.sub(r"\D", "", view.card)) <= 10
        assert not view.card_masked
    assert {v.order_number for v in mine} == set(Order.objects.values_list("number", flat=True))
    assert (
        last_event().type == "vault:payments_read" and last_event().fields == "card,payment_history"
    )

    # The payment purpose does not show the card whole: brand + last 4.
    masked = list_payments(actor=staff("accounting"), purpose="payment", customer_id=cid)
    assert [v.card for v in masked] == [f"AMEX •••• {AMEX[-4:]}", f"VISA •••• {VISA[-4:]}"]
    assert all(v.card_masked for v in masked)

    # Transaction confirmation reads the payment history, not the card.
    no_card = list_payments(
        actor=staff("accounting"), purpose="transaction_confirmation", customer_id=cid
    )
    assert [v.card for v in no_card] == [None, None]
    assert [v.status for v in no_card] == ["authorized", "authorized"]
    assert last_event().fields == "payment_history"


def test_payment_history_needs_a_purpose_that_reads_it(
    leman: Any, shop_api: Actor, staff: Any
) -> None:
    cid = new_customer(shop_api)
    with pytest.raises(AccessRefused) as err:
        list_payments(actor=staff("sales"), purpose="guarantee", customer_id=cid)
    assert err.value.problems[0].rule == "field_not_visible"
    event = last_event()
    assert (event.type, event.outcome, event.fields) == (
        "vault:access_refused",
        "refused",
        "payment_history",
    )
    other = new_customer(shop_api, email="other@example.vn")
    with pytest.raises(AccessRefused):
        list_payments(
            actor=Actor(kind="customer", id=str(cid)), purpose=SUBJECT_ACCESS, customer_id=other
        )


def test_save_card_false_keeps_no_trace_of_the_card(leman: Any, shop_api: Actor) -> None:
    cid = new_customer(shop_api)
    result = pay(shop_api, cid, new_order(shop_api, cid), save_card=False)
    assert result.authorized and result.card is None
    assert Payment.objects.get(pk=result.id).method_id is None
    assert not PaymentMethod.objects.exists()
    assert not EncryptedValue.objects.filter(record_kind=RecordKind.PAYMENT).exists()
    assert last_event().fields == "card_cvc,payment_history"


# -- refusals -------------------------------------------------------------------------------


def test_a_purpose_that_does_not_collect_the_card_is_refused_and_audited(
    leman: Any, shop_api: Actor
) -> None:
    cid = new_customer(shop_api)
    oid = new_order(shop_api, cid)
    with pytest.raises(FieldsRefused) as err:
        authorize_payment(
            actor=shop_api, purpose="order_fulfilment", customer_id=cid, order_id=oid, card=card()
        )
    assert {(p.field, p.rule) for p in err.value.problems} == {
        ("card", "not_declared_for_purpose"),
        ("payment_history", "not_declared_for_purpose"),
        ("card_cvc", "not_declared_for_purpose"),
    }
    event = last_event()
    assert (event.type, event.outcome, event.purpose) == (
        "vault:write_refused",
        "refused",
        "order_fulfilment",
    )
    assert not Payment.objects.exists() and not PaymentMethod.objects.exists()


def test_an_undeclared_purpose_is_refused_and_audited(leman: Any, staff: Any) -> None:
    shop = Actor(kind="api", id="backend")
    cid = new_customer(shop)
    oid = new_order(shop, cid)
    with pytest.raises(AccessRefused) as err:
        authorize_payment(
            actor=shop, purpose="card_collection", customer_id=cid, order_id=oid, card=card()
        )
    assert err.value.problems[0].rule == "purpose_undeclared"
    event = last_event()
    assert (event.type, event.outcome, event.purpose) == (
        "vault:write_refused",
        "refused",
        "card_collection",
    )
    with pytest.raises(AccessRefused) as err:
        pay(staff("sales"), cid, oid)
    assert err.value.problems[0].rule == "role_not_allowed"
    assert last_event().outcome == "refused"
    assert not Payment.objects.exists()
    assert Order.objects.get(pk=oid).status == Order.Status.PLACED


def test_the_cvc_must_be_declared_for_the_purpose(db: None, shop_api: Actor) -> None:
    data = yaml.safe_load(
        (resources.files("pledge.policy") / "presets" / "leman-jewelry.yaml").read_text("utf-8")
    )
    data["version"] = "1-no-cvc"
    for purpose in data["purposes"]:
        if purpose["key"] == "payment":
            purpose["fields"] = ["card", "payment_history"]
    for recipient in data["recipients"]:
        if "card_cvc" in recipient["fields"]:
            recipient["fields"].remove("card_cvc")
    clear_policy_cache()
    loaded = parse_policy(yaml.safe_dump(data, allow_unicode=True), source="test")
    publish_policy(loaded, actor="test", effective_date=loaded.policy.effective_date)
    clear_policy_cache()
    assert enforced_policy().version == "1-no-cvc"
    cid = new_customer(shop_api)
    oid = new_order(shop_api, cid)
    with pytest.raises(FieldsRefused) as err:
        pay(shop_api, cid, oid)
    assert [(p.field, p.rule) for p in err.value.problems] == [
        ("card_cvc", "not_declared_for_purpose")
    ]
    assert last_event().type == "vault:write_refused"
    clear_policy_cache()


def test_the_order_must_belong_to_the_customer(leman: Any, shop_api: Actor) -> None:
    cid = new_customer(shop_api)
    other = new_customer(shop_api, email="other@example.vn")
    their_order = new_order(shop_api, other)
    with pytest.raises(NotFound):
        pay(shop_api, cid, their_order)
    with pytest.raises(NotFound):
        pay(shop_api, cid, uuid.uuid4())
    assert not Payment.objects.exists()
    assert Order.objects.get(pk=their_order).status == Order.Status.PLACED


def test_a_paid_order_is_not_paid_twice(leman: Any, shop_api: Actor) -> None:
    cid = new_customer(shop_api)
    oid = new_order(shop_api, cid)
    assert pay(shop_api, cid, oid).authorized
    with pytest.raises(ValuesInvalid) as err:
        pay(shop_api, cid, oid)
    assert err.value.problems[0].rule == "order_not_payable"
    assert Payment.objects.count() == 1


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"number": "4916 3380 5127 9401"}, "card.number", "card_checksum"),
        ({"number": "4916-33x0-5127"}, "card.number", "card_format"),
        ({"number": "49163380512"}, "card.number", "card_length"),
        ({"number": with_check_digit("123456789012345")}, "card.number", "card_brand_unknown"),
        ({"expiry_year": 2020}, "card.expiry_year", "card_expired"),
        ({"expiry_month": 13}, "card.expiry_month", "expiry_month"),
        ({"expiry_month": "11"}, "card.expiry_month", "expiry_month"),
        ({"cvc": "31"}, "card.cvc", "cvc_format"),
        ({"cvc": 318}, "card.cvc", "type"),
        ({"holder": "  "}, "card.holder", "required"),
        ({"holder": "A\x00B"}, "card.holder", "control_characters"),
    ],
)
def test_invalid_cards_name_the_field_never_the_value(
    leman: Any, shop_api: Actor, changes: dict[str, Any], field: str, rule: str
) -> None:
    cid = new_customer(shop_api)
    oid = new_order(shop_api, cid)
    bad = card(**changes)
    with pytest.raises(ValuesInvalid) as err:
        pay(shop_api, cid, oid, card=bad)
    assert [(p.field, p.rule) for p in err.value.problems] == [(field, rule)]
    said = str(err.value) + repr([p.as_dict() for p in err.value.problems])
    if isinstance(bad.number, str):
        assert re.sub(r"\D", "", bad.number) not in re.sub(r"\D", "", said)
    assert "318" not in said
    assert err.value.__cause__ is None and err.value.__context__ is None
    assert not Payment.objects.exists() and not PaymentMethod.objects.exists()


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("4111111111111111", "visa"),
        ("5555555555554444", "mastercard"),
        ("2223003122003222", "mastercard"),
        ("378282246310005", "amex"),
        ("3530111333300000", "jcb"),
        ("6200000000000005", "unionpay"),
        ("9704198526191432198", "napas"),
        ("9704000000000018", "napas"),
        ("6011111111111117", "discover"),
        ("36227206271667", "diners"),
    ],
)
def test_card_networks_are_told_by_their_iin_ranges(number: str, brand: str) -> None:
    assert detect_brand(number) == brand
    checked = card(number, cvc="1234" if brand == "amex" else "123").checked()
    assert checked.brand == brand and checked.digits == number


def test_a_napas_domestic_card_may_have_no_cvc() -> None:
    assert card("9704198526191432198", cvc="").checked().cvc == ""
    with pytest.raises(ValuesInvalid):
        card(VISA, cvc="").checked()


# -- the card object itself -----------------------------------------------------------------


def test_card_input_never_shows_or_serialises_the_card() -> None:
    c = card(VISA, "318")
    for shown in (repr(c), str(c), f"{c}", "%s" % c, repr([c]), repr({"card": c})):  # noqa: UP031
        assert VISA not in shown and VISA[:4] not in shown and "318" not in shown
        assert "NGUYEN" not in shown
    for attempt in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError, match="never serialised"):
            attempt(c)
    assert not hasattr(c, "__dict__")


def test_a_failing_gateway_leaks_nothing_and_records_nothing(leman: Any, shop_api: Actor) -> None:
    class LeakyPSP:
        """A PSP library that puts the request in its exception message."""

        name = "leaky"

        def authorize(
            self, *, card: CardInput, amount: Decimal, currency: str, reference: str
        ) -> GatewayResult:
            raise RuntimeError(f"HTTP 500 for pan={card.digits}&cvc={card.cvc}")

    cid = new_customer(shop_api)
    oid = new_order(shop_api, cid)
    with pytest.raises(GatewayFailed) as err:
        pay(shop_api, cid, oid, gateway=LeakyPSP())
    assert err.value.__cause__ is None and err.value.__context__ is None
    assert VISA not in str(err.value) and "318" not in repr(err.value.problems)
    assert not Payment.objects.exists() and not PaymentMethod.objects.exists()
    assert Order.objects.get(pk=oid).status == Order.Status.PLACED


def test_a_gateway_answer_holding_card_data_is_not_stored(leman: Any, shop_api: Actor) -> None:
    class EchoingPSP:
        name = "echo"

        def authorize(
            self, *, card: CardInput, amount: Decimal, currency: str, reference: str
        ) -> GatewayResult:
            return GatewayResult(
                approved=False,
                reference=f"ref-{grouped(card.digits)}",
                decline_reason=f"bad cvc {card.cvc}",
            )

    cid = new_customer(shop_api)
    result = pay(shop_api, cid, new_order(shop_api, cid), gateway=EchoingPSP())
    payment = Payment.objects.get(pk=result.id)
    assert payment.gateway == "echo" and payment.status == "declined"
    assert VISA[-8:] not in payment.gateway_reference and "318" not in payment.decline_reason
    assert Leaks(["318"], [VISA]).scan(database_cells()) == []


def test_deploy_check_warns_about_the_offline_gateway(settings: Any) -> None:
    from django.core.checks import registry

    from pledge.vault.checks import check_payment_gateway

    # Registered as a deployment check (`pledge check --deploy`).
    assert check_payment_gateway in registry.registry.get_checks(include_deployment_checks=True)
    assert check_payment_gateway not in registry.registry.get_checks()
    settings.PLEDGE_PAYMENT_GATEWAY = ""
    assert [m.id for m in check_payment_gateway(None)] == ["pledge.W001"]
    settings.PLEDGE_PAYMENT_GATEWAY = "pledge.vault.payments.OfflineTestGateway"
    assert check_payment_gateway(None) == []
