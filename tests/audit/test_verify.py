"""`pledge audit verify` finds every edit, deletion, insertion, reordering and truncation of the
audit log, and names the first bad event (ARCHITECTURE.md, security invariants; docs/audit.md).

The chain is built by the real vault services (50 events, a signed checkpoint every 10). The
tampering is raw SQL (UPDATE / DELETE / INSERT), so no model or service code runs: the attacker
holds the database. Where the attacker also recomputes hashes, the test uses the published
format (audit/chain.py), as anyone reading the documentation could.
"""

from __future__ import annotations

import io
import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from pledge.audit.chain import at_text, canonical, chain_hash
from pledge.audit.models import AuditCheckpoint, AuditEvent
from pledge.audit.verify import verify_chain
from pledge.vault import services
from pledge.vault.access import Actor
from pledge.vault.errors import AccessRefused
from tests.security.helpers import RESULT_MARK, pledge_env, run_pledge, shell_result

REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS = 50
EVERY = 10
K = 23  # an ordinary event in the middle, not at a checkpoint

EVENT_TABLE = AuditEvent._meta.db_table
CHECKPOINT_TABLE = AuditCheckpoint._meta.db_table
COLUMNS = (
    "seq",
    "at",
    "type",
    "actor",
    "actor_role",
    "customer_id",
    "record",
    "purpose",
    "fields",
    "outcome",
    "details",
    "canonical",
    "prev_hash",
    "hash",
)


# -- the chain -------------------------------------------------------------------------------


def build_chain(shop: Actor) -> dict[str, Any]:
    """Exactly EVENTS events from real services: writes, reads, lookups, refusals."""
    sales = Actor(kind="staff", id="s1", role="sales")
    accounting = Actor(kind="staff", id="a1", role="accounting")
    a = services.collect_customer(
        actor=shop,
        purpose="order_fulfilment",
        fields={"full_name": "Đỗ Minh Châu", "phone": "0912 000 111", "email": "chau@example.vn"},
    )
    b = services.collect_customer(
        actor=shop, purpose="order_fulfilment", fields={"full_name": "Phan Anh Tú"}
    )
    i = 0
    while AuditEvent.objects.count() < EVENTS:
        step = i % 5
        if step == 0:
            services.read_customer(actor=sales, purpose="order_fulfilment", customer_id=a)
        elif step == 1:
            with pytest.raises(AccessRefused):
                services.read_customer(actor=accounting, purpose="order_fulfilment", customer_id=b)
        elif step == 2:
            services.lookup_customers(
                actor=shop, purpose="order_fulfilment", by="phone", value="0912000111"
            )
        elif step == 3:
            services.update_customer(
                actor=shop,
                purpose="order_fulfilment",
                customer_id=b,
                fields={"address": f"{i} Phố Huế, Hà Nội"},
            )
        else:
            services.list_orders(actor=sales, purpose="order_fulfilment", customer_id=a)
        i += 1
    assert AuditEvent.objects.count() == EVENTS
    assert list(AuditCheckpoint.objects.values_list("seq", flat=True)) == [10, 20, 30, 40, 50]
    refused = AuditEvent.objects.filter(outcome="refused").exclude(seq__in=[10, 20, 30, 40, 50])
    first_refused = refused.order_by("seq").values_list("seq", flat=True).first()
    assert first_refused is not None
    return {"a": a, "b": b, "refused": first_refused}


@pytest.fixture
def chain(leman: Any, shop_api: Actor, settings: Any) -> dict[str, Any]:
    settings.PLEDGE_AUDIT_CHECKPOINT_EVERY = EVERY
    built = build_chain(shop_api)
    code, out, err = verify("--json")
    assert code == 0, err
    assert json.loads(out)["ok"] is True
    return built


def verify(*args: str, record: bool = False) -> tuple[int, str, str]:
    """`pledge audit verify` through call_command: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    extra = [] if record else ["--no-record"]
    try:
        call_command("audit", "verify", *extra, *args, stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def assert_caught(bad_seq: int, *, fragment: str = "") -> dict[str, Any]:
    """Verification fails (exit 1) naming `bad_seq`, in text and in JSON; nothing appended."""
    count = AuditEvent.objects.count()
    code, out, err = verify()
    assert code == 1, (out, err)
    first = err.splitlines()[0]
    assert first == f"audit log NOT intact: first bad event {bad_seq}", err
    if fragment:
        assert fragment in err, err
    code, out, err = verify("--json")
    assert code == 1
    result = json.loads(out)
    assert result["ok"] is False
    assert result["bad_seq"] == bad_seq, result
    assert str(bad_seq) in result["problem"] or fragment in result["problem"], result
    # A failed verification appends nothing, even when asked to record.
    code, _, _ = verify(record=True)
    assert code == 1
    assert AuditEvent.objects.count() == count
    return result


# -- raw SQL, as an attacker with the database --------------------------------------------------


def sql(query: str, params: list[Any] | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(query, params or [])
        return cursor.rowcount


def rows(from_seq: int = 1) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(COLUMNS)} FROM {EVENT_TABLE} WHERE seq >= %s ORDER BY seq",
            [from_seq],
        )
        return [dict(zip(COLUMNS, row, strict=True)) for row in cursor.fetchall()]


def head_hash(seq: int) -> str:
    return str(rows(seq)[0]["hash"])


def canonical_of(row: dict[str, Any]) -> str:
    return canonical(
        row["seq"],
        at_text(row["at"]),
        row["type"],
        row["actor"],
        row["actor_role"],
        row["customer_id"],
        row["record"],
        row["purpose"],
        row["fields"],
        row["outcome"],
        row["details"],
    )


def rewrite_from(first_seq: int, new_rows: list[dict[str, Any]]) -> None:
    """Replace every event from first_seq on by new_rows, renumbered and re-hashed into a
    chain that is internally consistent (what an attacker who knows the format can do)."""
    prev = head_hash(first_seq - 1) if first_seq > 1 else "0" * 64
    sql(f"DELETE FROM {EVENT_TABLE} WHERE seq >= %s", [first_seq])
    for offset, row in enumerate(new_rows):
        row = dict(row, seq=first_seq + offset)
        row["canonical"] = canonical_of(row)
        row["prev_hash"] = prev
        row["hash"] = prev = chain_hash(prev, row["canonical"])
        insert(row)


def insert(row: dict[str, Any]) -> None:
    sql(
        f"INSERT INTO {EVENT_TABLE} ({', '.join(COLUMNS)}) "
        f"VALUES ({', '.join(['%s'] * len(COLUMNS))})",
        [row[c] for c in COLUMNS],
    )


def uuid_param(value: uuid.UUID) -> object:
    return value if connection.vendor == "postgresql" else value.hex


# -- intact ----------------------------------------------------------------------------------


def test_intact_chain_verifies_and_records_the_check(chain: dict[str, Any]) -> None:
    code, out, err = verify(record=True)
    assert (code, err) == (0, "")
    assert out.startswith(f"audit log intact: {EVENTS} events, 5 signed checkpoints")
    last = AuditEvent.objects.order_by("-seq").first()
    assert last is not None
    assert (last.seq, last.type, last.outcome) == (EVENTS + 1, "audit:verified", "ok")
    assert json.loads(last.details)["events"] == EVENTS
    # The audit:verified event chains correctly, and --no-record appends nothing.
    assert verify()[0] == 0
    assert AuditEvent.objects.count() == EVENTS + 1
    assert verify_chain().ok


def test_intact_chain_json(chain: dict[str, Any]) -> None:
    code, out, _ = verify("--json")
    assert code == 0
    result = json.loads(out)
    assert result == {
        **result,
        "ok": True,
        "events": EVENTS,
        "checkpoints": 5,
        "last_seq": EVENTS,
        "head_hash": head_hash(EVENTS),
        "bad_seq": None,
        "problem": "",
    }
    assert isinstance(result["seconds"], float | int)


# -- changed events --------------------------------------------------------------------------


def test_outcome_refused_changed_to_ok_is_caught(chain: dict[str, Any]) -> None:
    seq = chain["refused"]
    assert sql(f"UPDATE {EVENT_TABLE} SET outcome = 'ok' WHERE seq = %s", [seq]) == 1
    assert_caught(seq, fragment="was changed")


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("purpose", "fraud_prevention"),
        ("fields", ""),
        ("actor", "staff:someone-else"),
        ("actor_role", "owner"),
        ("type", "vault:lookup"),
        ("details", '{"rule":"none"}'),
        ("record", "order:00000000-0000-0000-0000-000000000000"),
    ],
)
def test_changed_column_is_caught(chain: dict[str, Any], column: str, value: str) -> None:
    assert sql(f"UPDATE {EVENT_TABLE} SET {column} = %s WHERE seq = %s", [value, K]) == 1
    assert_caught(K, fragment=f"event {K} was changed")


def test_changed_customer_is_caught(chain: dict[str, Any]) -> None:
    target = AuditEvent.objects.filter(customer_id=chain["a"], seq__gt=2).order_by("seq").first()
    assert target is not None
    sql(
        f"UPDATE {EVENT_TABLE} SET customer_id = %s WHERE seq = %s",
        [uuid_param(chain["b"]), target.seq],
    )
    assert_caught(target.seq)


def test_changed_time_is_caught(chain: dict[str, Any]) -> None:
    if connection.vendor == "postgresql":
        query = f"UPDATE {EVENT_TABLE} SET at = at + interval '1 second' WHERE seq = %s"
    else:
        query = f"UPDATE {EVENT_TABLE} SET at = datetime(at, '+1 second') WHERE seq = %s"
    assert sql(query, [K]) == 1
    assert_caught(K)


def test_changed_canonical_text_is_caught(chain: dict[str, Any]) -> None:
    sql(f"UPDATE {EVENT_TABLE} SET canonical = canonical || 'x' WHERE seq = %s", [K])
    assert_caught(K, fragment=f"event {K} was changed")


@pytest.mark.parametrize("column", ["hash", "prev_hash"])
def test_changed_hash_is_caught(chain: dict[str, Any], column: str) -> None:
    sql(f"UPDATE {EVENT_TABLE} SET {column} = %s WHERE seq = %s", ["f" * 64, K])
    assert_caught(K)


def test_event_rewritten_with_its_own_hash_breaks_the_next_link(chain: dict[str, Any]) -> None:
    """Purpose, canonical and hash of one event all consistent: the next event no longer
    follows it."""
    (row,) = rows(K)[:1]
    row["purpose"] = "fraud_prevention"
    row["canonical"] = canonical_of(row)
    row["hash"] = chain_hash(row["prev_hash"], row["canonical"])
    sql(
        f"UPDATE {EVENT_TABLE} SET purpose = %s, canonical = %s, hash = %s WHERE seq = %s",
        [row["purpose"], row["canonical"], row["hash"], K],
    )
    assert_caught(K + 1, fragment=f"event {K + 1} does not follow event {K}")


def test_chain_rewritten_from_the_change_to_the_head_is_caught_by_the_checkpoint(
    chain: dict[str, Any],
) -> None:
    tail = rows(K)
    tail[0]["outcome"] = "failed"
    rewrite_from(K, tail)
    assert AuditEvent.objects.count() == EVENTS
    assert_caught(30, fragment="differs from the signed checkpoint")


# -- deleted, inserted, reordered, truncated -------------------------------------------------


def test_deleted_event_in_the_middle_is_caught(chain: dict[str, Any]) -> None:
    assert sql(f"DELETE FROM {EVENT_TABLE} WHERE seq = %s", [25]) == 1
    assert_caught(25, fragment="event 25 is missing")


def test_deleted_first_event_is_caught(chain: dict[str, Any]) -> None:
    assert sql(f"DELETE FROM {EVENT_TABLE} WHERE seq = 1") == 1
    assert_caught(1, fragment="event 1 is missing")


def test_first_event_not_chained_to_genesis_is_caught(chain: dict[str, Any]) -> None:
    sql(f"UPDATE {EVENT_TABLE} SET prev_hash = %s WHERE seq = 1", ["1" * 64])
    assert_caught(1)


def test_inserted_event_with_renumbering_and_rehashing_is_caught_by_the_checkpoint(
    chain: dict[str, Any],
) -> None:
    tail = rows(25)
    forged = dict(tail[0], type="vault:read", outcome="ok", purpose="order_fulfilment")
    rewrite_from(25, [forged, *tail])
    assert AuditEvent.objects.count() == EVENTS + 1
    assert_caught(30, fragment="differs from the signed checkpoint")


def test_event_appended_with_a_forged_link_is_caught(chain: dict[str, Any]) -> None:
    row = rows(EVENTS)[0]
    row = dict(row, seq=EVENTS + 1, prev_hash="a" * 64)
    row["canonical"] = canonical_of(row)
    row["hash"] = chain_hash(row["prev_hash"], row["canonical"])
    insert(row)
    assert_caught(EVENTS + 1, fragment=f"event {EVENTS + 1} does not follow")


def test_two_events_swapped_are_caught(chain: dict[str, Any]) -> None:
    first, second = rows(24)[:2]
    for seq, row in ((24, second), (25, first)):
        columns = [c for c in COLUMNS if c != "seq"]
        sql(
            f"UPDATE {EVENT_TABLE} SET {', '.join(f'{c} = %s' for c in columns)} WHERE seq = %s",
            [*(row[c] for c in columns), seq],
        )
    assert_caught(24)


def test_two_events_swapped_and_rehashed_are_caught_by_the_checkpoint(
    chain: dict[str, Any],
) -> None:
    tail = rows(24)
    tail[0], tail[1] = tail[1], tail[0]
    rewrite_from(24, tail)
    assert_caught(30, fragment="differs from the signed checkpoint")


def test_tail_truncated_behind_a_checkpoint_is_caught(chain: dict[str, Any]) -> None:
    assert sql(f"DELETE FROM {EVENT_TABLE} WHERE seq > 30") == EVENTS - 30
    assert AuditCheckpoint.objects.filter(seq=40).exists()
    result = assert_caught(31, fragment="truncated")
    assert result["last_seq"] == 30


def test_tail_truncated_with_its_last_checkpoint_is_caught_by_an_earlier_one(
    chain: dict[str, Any],
) -> None:
    sql(f"DELETE FROM {EVENT_TABLE} WHERE seq > 35")
    sql(f"DELETE FROM {CHECKPOINT_TABLE} WHERE seq = 50")
    assert_caught(36, fragment="truncated")


# -- checkpoints -----------------------------------------------------------------------------


def test_altered_checkpoint_signature_is_caught(chain: dict[str, Any]) -> None:
    signature = AuditCheckpoint.objects.get(seq=20).signature
    changed = ("0" if signature[0] != "0" else "1") + signature[1:]
    sql(f"UPDATE {CHECKPOINT_TABLE} SET signature = %s WHERE seq = 20", [changed])
    assert_caught(20, fragment="invalid signature")


def test_checkpoint_moved_to_a_forged_head_is_caught(chain: dict[str, Any]) -> None:
    """The attacker rewrites the chain and points the checkpoint at the new hash: without the
    signing key the signature no longer matches."""
    tail = rows(K)
    tail[0]["outcome"] = "failed"
    rewrite_from(K, tail)
    for seq in (30, 40, 50):
        sql(f"UPDATE {CHECKPOINT_TABLE} SET hash = %s WHERE seq = %s", [head_hash(seq), seq])
    assert_caught(30, fragment="invalid signature")


def test_garbage_checkpoint_signature_is_caught(chain: dict[str, Any]) -> None:
    sql(f"UPDATE {CHECKPOINT_TABLE} SET signature = %s WHERE seq = 10", ["not hex at all"])
    assert_caught(10, fragment="invalid signature")


# -- the real command, as a subprocess, on a file database --------------------------------------

CHAIN_SCRIPT = f"""
import json
from pledge.audit.models import AuditEvent
from pledge.vault import services
from pledge.vault.access import Actor
shop = Actor(kind="api", id="verify-test", purposes=frozenset({{"order_fulfilment"}}))
cid = services.collect_customer(
    actor=shop, purpose="order_fulfilment", fields={{"full_name": "Mai Thu Hà"}}
)
while AuditEvent.objects.count() < {EVENTS}:
    services.read_customer(actor=shop, purpose="order_fulfilment", customer_id=cid)
print({RESULT_MARK!r} + json.dumps(AuditEvent.objects.count()))
"""


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("verify-var")
    env = pledge_env(path, PLEDGE_AUDIT_CHECKPOINT_EVERY=str(EVERY), PYTHONPATH=str(REPO_ROOT))
    run_pledge(path, "migrate", "--no-input", "-v", "0", env=env)
    run_pledge(path, "policy", "publish", "leman-jewelry", env=env)
    assert shell_result(run_pledge(path, "shell", "--no-imports", "-c", CHAIN_SCRIPT, env=env)) == (
        EVENTS
    )
    return path


def test_pledge_audit_verify_subprocess(var_dir: Path) -> None:
    env = pledge_env(var_dir, PLEDGE_AUDIT_CHECKPOINT_EVERY=str(EVERY))
    db = var_dir / "pledge.sqlite3"

    def run(*args: str) -> Any:
        return run_pledge(var_dir, "audit", "verify", *args, env=env, check=False)

    intact = run("--json", "--no-record")
    assert intact.returncode == 0, intact.stderr
    assert json.loads(intact.stdout)["ok"] is True
    assert json.loads(intact.stdout)["checkpoints"] == 5

    recorded = run()
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout.startswith(f"audit log intact: {EVENTS} events, 5 signed checkpoints")

    def count() -> int:
        with sqlite3.connect(db) as conn:
            return int(conn.execute(f"SELECT count(*) FROM {EVENT_TABLE}").fetchone()[0])

    assert count() == EVENTS + 1  # the audit:verified event

    tamper: list[tuple[str, tuple[Any, ...], int]] = [
        (f"UPDATE {EVENT_TABLE} SET outcome = 'refused' WHERE seq = ?", (K,), K),
        (f"DELETE FROM {EVENT_TABLE} WHERE seq = ?", (17,), 17),
    ]
    for query, params, bad in tamper:
        conn = sqlite3.connect(db)
        with conn:
            conn.execute(query, params)
        conn.close()
        broken = run()
        assert broken.returncode == 1, (broken.stdout, broken.stderr)
        assert broken.stderr.splitlines()[0] == f"audit log NOT intact: first bad event {bad}"
        assert "Traceback" not in broken.stderr
        as_json = run("--json")
        assert as_json.returncode == 1
        assert json.loads(as_json.stdout)["bad_seq"] == bad
        assert count() == EVENTS + 1 - (1 if "DELETE" in query else 0)


# -- a helper of this module must itself catch a rewrite, or the tests above prove nothing ------


def test_rewrite_helper_makes_an_internally_consistent_chain(chain: dict[str, Any]) -> None:
    """Without checkpoints, a consistent rewrite passes the link checks: the helper is a fair
    attacker, so the checkpoint is what catches it above."""
    tail = rows(K)
    tail[0]["outcome"] = "failed"
    rewrite_from(K, tail)
    sql(f"DELETE FROM {CHECKPOINT_TABLE}")
    assert verify_chain().ok
