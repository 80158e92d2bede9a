"""The consent ledger is append-only in the database too, not only through the ORM (P04: a consent
must stay provable; LAW.md "Consent"). `ConsentEvent.save/delete` and its queryset already refuse
changes; these triggers also refuse raw SQL, `QuerySet._raw_delete` and any future code path.

- PostgreSQL: UPDATE and DELETE of a row raise. (TRUNCATE, a whole-table operation only the test
  suite's flush uses, is left alone.)
- SQLite: UPDATE raises. DELETE is allowed: SQLite has no TRUNCATE, and `flush` (the test suite
  between transactional tests) empties tables with DELETE. Note that SQLite rebuilds a table for
  most ALTERs, which drops its triggers: a later migration that alters ConsentEvent must create
  this trigger again (tests/consent/test_append_only.py fails otherwise).
"""

from typing import Any

from django.db import migrations

TABLE = "consent_consentevent"
PG_FUNCTION = "pledge_consent_event_append_only"
PG_TRIGGER = "consent_event_append_only"
SQLITE_TRIGGER = "consent_event_no_update"


def forwards(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            f"""
            CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'consent events are append-only: % refused (P04)', TG_OP
                    USING ERRCODE = 'integrity_constraint_violation';
            END;
            $$ LANGUAGE plpgsql
            """,
            None,  # no parameters: the % above is PL/pgSQL's, not a placeholder
        )
        schema_editor.execute(
            f"CREATE TRIGGER {PG_TRIGGER} BEFORE UPDATE OR DELETE ON {TABLE} "
            f"FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()"
        )
    elif vendor == "sqlite":
        schema_editor.execute(
            f"CREATE TRIGGER {SQLITE_TRIGGER} BEFORE UPDATE ON {TABLE} "
            "BEGIN SELECT RAISE(ABORT, 'consent events are append-only: UPDATE refused (P04)'); "
            "END"
        )


def backwards(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {PG_TRIGGER} ON {TABLE}")
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()")
    elif vendor == "sqlite":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {SQLITE_TRIGGER}")


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0003_state_due_index"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
