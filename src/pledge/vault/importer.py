"""CSV import of customers: streaming, batched, idempotent and audited (issue 3, item 6).

The file is read twice, line by line, never whole: a first pass checks what would make the whole
file unusable (not UTF-8, a line over `MAX_LINE_BYTES`, broken CSV quoting, no header, no rows) so
that such a file changes nothing; the second pass imports.

Every row goes through the same policy checks as `services.collect_customer`: the header once
through `services.check_collectable` (P01: a column the purpose does not collect refuses the whole
file, audited), each row through `services.clean_values`. Rows are then written in batches: one
transaction per batch holds its customers, data keys, encrypted values, blind indexes, consents and
ONE `record_events` call (a `vault:customer_created` event per customer, `source: import`, and a
`consent:given` one per customer for a purpose based on consent); a `vault:import_completed`
event with the counts closes the run. A crash leaves whole batches, which a re-run skips:

- with an `external_ref` (or `customer_ref`) column, a row whose reference already exists is
  skipped (`Customer.external_ref` is unique);
- without one, the email blind index decides: a row whose email belongs to a customer already in
  the vault is skipped, so such a file must have an `email` column.

An optional `language` column (vi/en) sets the customer's language. A rejected row is reported by
its row number (the line where it starts; the header is row 1), the field and the rule: never its
values. Memory stays constant: one batch is held at a time.
"""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from django.db import connection, transaction
from django.db.models import Field, Model
from django.utils import timezone

from pledge.audit.events import EventType
from pledge.audit.services import EventSpec, record_event, record_events
from pledge.consent.models import ConsentEvent, ConsentState
from pledge.consent.notices import purpose_data_types, render_purpose_notice
from pledge.consent.services import store_notice
from pledge.keyring import load_keyring
from pledge.policy.enforcement import EnforcedPolicy
from pledge.vault.access import Actor, authorize, policy, refuse
from pledge.vault.crypto import CustomerKey, blind_index, new_data_key, wrap_data_key
from pledge.vault.errors import ConsentRequired, FieldsRefused, NotFound, Problem, ValuesInvalid
from pledge.vault.keystore import StoredKey, keystore
from pledge.vault.models import BlindIndex, Customer, EncryptedValue, RecordKind
from pledge.vault.normalise import (
    DERIVED_FIELDS,
    INDEXED_FIELDS,
    index_value,
    nfc,
    normalise_email,
)
from pledge.vault.services import check_collectable, clean_values
from pledge.vault.store import KeyUnavailable, as_uuid, customer_key, read_values

# One physical line, line break included. Longer lines are refused, which also bounds the memory
# a hostile file can make the reader use (a file without line breaks is one huge line).
MAX_LINE_BYTES = 64 * 1024
# One CSV value (a quoted value may span lines).
MAX_FIELD_CHARS = 64 * 1024
DEFAULT_BATCH = 500
MAX_BATCH = 5000

REF_COLUMNS = ("external_ref", "customer_ref")
LANGUAGE_COLUMN = "language"
LANGUAGES = ("vi", "en")
REF_MAX_LENGTH = 100  # Customer.external_ref
CONSENT_METHOD_MAX_LENGTH = 32  # Consent.method
UTF8_BOM = b"\xef\xbb\xbf"

IdentityKey = Literal["external_ref", "email"]


class ImportFileError(Exception):
    """The file as a whole cannot be imported (exit 2). `committed` rows were written before the
    problem was found: zero unless the file changed between the check and the import."""

    def __init__(self, message: str, *, line: int | None = None, committed: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.committed = committed

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass(frozen=True)
class RowProblem:
    """Why a row was rejected: its number, the field and the rule. Never a value."""

    row: int
    field: str | None
    rule: str
    message: str


@dataclass(frozen=True)
class CsvLayout:
    """What the first pass learnt: the header (normalised names) and the number of data rows."""

    columns: tuple[str, ...]
    rows: int


@dataclass
class ImportResult:
    rows: int = 0
    imported: int = 0
    skipped: int = 0
    rejected: int = 0
    batches: int = 0
    identity: IdentityKey = "external_ref"
    fields: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        return 1 if self.rejected else 0


@dataclass(frozen=True)
class _Plan:
    """How the columns of a checked header map onto a customer."""

    columns: tuple[str, ...]
    fields: tuple[str, ...]
    ref_column: str | None
    language_column: str | None

    @property
    def identity(self) -> IdentityKey:
        return "external_ref" if self.ref_column else "email"


@dataclass
class _Row:
    number: int
    values: dict[str, Any]
    ref: str | None
    language: str
    email_digest: bytes | None = None
    email_normalised: str | None = None


@dataclass
class _Context:
    enforced: EnforcedPolicy
    actor: Actor
    purpose: str
    plan: _Plan
    region: str
    consent_method: str | None
    result: ImportResult = field(default_factory=ImportResult)
    # language -> the stored notice of the purpose (when consenting), see `_consent_notices`
    notices: dict[str, int] = field(default_factory=dict)


# -- reading ----------------------------------------------------------------------------------


class _Lines:
    """Decoded lines of a binary file, at most MAX_LINE_BYTES each, counting as it goes."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.line = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        chunk = self._raw.readline(MAX_LINE_BYTES + 1)
        if not chunk:
            raise StopIteration
        self.line += 1
        if len(chunk) > MAX_LINE_BYTES:
            raise ImportFileError(
                f"the line is longer than {MAX_LINE_BYTES:,} bytes, the most a line may hold",
                line=self.line,
            )
        if self.line == 1:
            if chunk.startswith((b"\xff\xfe", b"\xfe\xff")):
                raise ImportFileError(
                    "the file is UTF-16; save it as UTF-8 (in a spreadsheet: CSV UTF-8)", line=1
                )
            chunk = chunk.removeprefix(UTF8_BOM)
        try:
            return chunk.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ImportFileError(
                f"the line is not valid UTF-8 (byte {exc.start + 1} of the line); save the file "
                "as UTF-8 (in a spreadsheet: CSV UTF-8)",
                line=self.line,
            ) from None


@contextmanager
def _csv_records(path: Path) -> Iterator[Iterator[tuple[int, list[str]]]]:
    """(row number, cells) for each CSV record; the row number is the line where it starts."""
    previous_limit = csv.field_size_limit(MAX_FIELD_CHARS)
    try:
        with open(path, "rb") as raw:
            lines = _Lines(raw)
            reader = csv.reader(lines, strict=True)

            def records() -> Iterator[tuple[int, list[str]]]:
                while True:
                    start = lines.line + 1
                    try:
                        record = next(reader)
                    except StopIteration:
                        return
                    except csv.Error as exc:
                        raise ImportFileError(_csv_message(exc), line=lines.line) from None
                    yield start, record

            yield records()
    finally:
        csv.field_size_limit(previous_limit)


def _csv_message(exc: csv.Error) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return f"a value is longer than {MAX_FIELD_CHARS:,} characters, the most a value may hold"
    # The csv module's messages name the structure, never the content.
    return f"the CSV is malformed ({text}); check the quoting"


def _blank(record: list[str]) -> bool:
    return all(not cell.strip() for cell in record)


def scan_csv(path: Path) -> CsvLayout:
    """First pass: refuse a file that cannot be imported as a whole; nothing is written."""
    with _csv_records(path) as records:
        header: list[str] | None = None
        rows = 0
        for row, record in records:
            if header is None:
                if row == 1 and _blank(record):
                    header = []  # an empty first line: refused below if anything follows
                    continue
                header = record
                continue
            if not _blank(record):
                rows += 1
    if not header:
        if header is None or rows == 0:
            raise ImportFileError("the file is empty")
        raise ImportFileError(
            "the header is empty: the first line must name the columns (e.g. "
            "external_ref,full_name,email,phone)",
            line=1,
        )
    columns = tuple(nfc(name).strip().lower() for name in header)
    for position, name in enumerate(columns, start=1):
        if not name:
            raise ImportFileError(f"column {position} of the header has no name", line=1)
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            raise ImportFileError(f"the header names the column {_label(name)!r} twice", line=1)
        seen.add(name)
    return CsvLayout(columns=columns, rows=rows)


def _label(name: str) -> str:
    return name if len(name) <= 63 else name[:60] + "…"


# -- checks before anything is written --------------------------------------------------------


def _plan(enforced: EnforcedPolicy, actor: Actor, purpose: str, columns: tuple[str, ...]) -> _Plan:
    known = set(enforced.field_records) | set(REF_COLUMNS) | {LANGUAGE_COLUMN}
    if not known.intersection(columns):
        # The first line is data, or a header in another vocabulary: do not echo it (it may be
        # personal data), say what a header looks like.
        allowed = sorted(enforced.collects.get(purpose, frozenset()) - set(DERIVED_FIELDS))
        raise ImportFileError(
            "the file has no header: the first line must name the columns, with the policy's "
            f"field keys ({', '.join(allowed) or 'none for this purpose'}) and optionally "
            f"{' or '.join(REF_COLUMNS)} and {LANGUAGE_COLUMN}",
            line=1,
        )
    refs = [c for c in columns if c in REF_COLUMNS]
    if len(refs) > 1:
        raise ImportFileError(
            f"the header has both {refs[0]} and {refs[1]}: give one reference column", line=1
        )
    special = {*REF_COLUMNS, LANGUAGE_COLUMN}
    fields = tuple(c for c in columns if c not in special)
    problems = check_collectable(enforced, purpose, dict.fromkeys(fields), RecordKind.PROFILE)
    problems += [
        Problem(f, "derived_field", f"{f} cannot be imported: {DERIVED_FIELDS[f]}")
        for f in fields
        if f in DERIVED_FIELDS and f in enforced.collects.get(purpose, frozenset())
    ]
    if problems:
        # P01, refused and recorded (P06) like any other write of undeclared fields.
        named = ", ".join(repr(p.field) for p in problems if p.field)
        refuse(
            FieldsRefused(
                f"these columns cannot be imported for the purpose {purpose!r}: {named}"
                if named
                else problems[0].message,
                problems,
            ),
            event=EventType.WRITE_REFUSED,
            actor=actor,
            purpose=purpose,
            fields=[p.field or "" for p in problems],
        )
    if not fields:
        raise ImportFileError("the header names no personal-data column to import", line=1)
    ref_column = refs[0] if refs else None
    if ref_column is None and "email" not in fields:
        raise ImportFileError(
            "a re-run must recognise customers already imported: add an external_ref (or "
            "customer_ref) column, or an email column",
            line=1,
        )
    return _Plan(
        columns=columns,
        fields=fields,
        ref_column=ref_column,
        language_column=LANGUAGE_COLUMN if LANGUAGE_COLUMN in columns else None,
    )


def _consenting(
    enforced: EnforcedPolicy, actor: Actor, purpose: str, consent_method: str | None
) -> bool:
    """P04: a purpose based on consent needs the consent of every customer imported for it; the
    operator says how it was given, and it is recorded for each customer. True when it applies."""
    declared = enforced.purpose(purpose)
    basis = declared.basis if declared is not None else ""
    if basis != "consent":
        if consent_method:
            raise ImportFileError(
                f"--consent-method is only for a purpose based on consent; {purpose!r} is based "
                f"on {basis or 'nothing the policy declares'}"
            )
        return False
    if consent_method:
        return True
    refuse(
        ConsentRequired(
            f"the purpose {purpose!r} is based on consent: give --consent-method to say how "
            "these customers consented (it is recorded for each of them)",
            [Problem("purpose", "consent_required", f"no consent for {purpose!r} (P04)")],
        ),
        event=EventType.WRITE_REFUSED,
        actor=actor,
        purpose=purpose,
    )


def _consent_notices(enforced: EnforcedPolicy, purpose: str) -> dict[str, int]:
    """language -> id of the stored notice of the purpose: what the imported consents cover, in
    the words of the policy in force (the paper or form the shop used is the operator's to keep)."""
    declared = enforced.purpose(purpose)
    assert declared is not None  # _consenting checked it
    return {
        language: store_notice(
            render_purpose_notice(enforced.policy, declared, language),
            language=language,
            policy_version=enforced.version,
        ).pk
        for language in LANGUAGES
    }


def _check_consent_method(method: str | None) -> None:
    if method is None:
        return
    if not 1 <= len(method) <= CONSENT_METHOD_MAX_LENGTH or not method.isprintable():
        raise ImportFileError(
            f"--consent-method must be 1-{CONSENT_METHOD_MAX_LENGTH} printable characters"
        )


# -- rows -------------------------------------------------------------------------------------


def _parse_row(ctx: _Context, number: int, record: list[str]) -> _Row | list[RowProblem]:
    plan = ctx.plan
    if len(record) != len(plan.columns):
        return [
            RowProblem(
                number,
                None,
                "columns",
                f"the row has {len(record)} values; the header names {len(plan.columns)} columns",
            )
        ]
    problems: list[RowProblem] = []
    cells = dict(zip(plan.columns, record, strict=True))
    ref = None
    if plan.ref_column:
        ref = nfc(cells[plan.ref_column]).strip()
        if not ref:
            problems.append(
                RowProblem(number, plan.ref_column, "required", f"{plan.ref_column} is empty")
            )
        elif len(ref) > REF_MAX_LENGTH or not ref.isprintable():
            problems.append(
                RowProblem(
                    number,
                    plan.ref_column,
                    "ref_format",
                    f"{plan.ref_column} must be at most {REF_MAX_LENGTH} printable characters",
                )
            )
    language = "vi"
    if plan.language_column:
        given = cells[plan.language_column].strip().lower()
        if given in LANGUAGES:
            language = given
        elif given:
            problems.append(
                RowProblem(number, LANGUAGE_COLUMN, "language", "language must be vi or en")
            )
    # An empty cell is a value the shop does not have: the field is left out, not stored empty.
    values = {f: cells[f] for f in plan.fields if cells[f].strip()}
    if not values:
        problems.append(RowProblem(number, None, "required", "the row has no personal data"))
    elif plan.identity == "email" and "email" not in values:
        problems.append(
            RowProblem(
                number,
                "email",
                "required",
                "email is needed to recognise the customer on a re-run (the file has no "
                "external_ref column)",
            )
        )
    try:
        cleaned = clean_values(values, ctx.region, allow_none=False)
    except ValuesInvalid as exc:
        problems += [RowProblem(number, p.field, p.rule, p.message) for p in exc.problems]
        cleaned = {}
    if problems:
        return problems
    return _Row(number=number, values=cleaned, ref=ref, language=language)


def _skip_known(ctx: _Context, rows: list[_Row]) -> list[_Row]:
    """The rows whose customer is not in the vault yet (nor earlier in this batch)."""
    fresh: list[_Row] = []
    if ctx.plan.identity == "external_ref":
        refs = [r.ref for r in rows]
        seen = set(
            Customer.objects.filter(external_ref__in=refs).values_list("external_ref", flat=True)
        )
        for row in rows:
            if row.ref not in seen:
                seen.add(row.ref)
                fresh.append(row)
        return fresh
    keyring = load_keyring()
    for row in rows:
        row.email_normalised = index_value("email", row.values["email"], ctx.region)
        row.email_digest = blind_index("email", row.email_normalised, keyring)
    # The truncated digests give candidates; their emails are decrypted to see which really match.
    candidates = BlindIndex.objects.filter(
        kind="email",
        record_kind=RecordKind.PROFILE,
        digest__in={r.email_digest for r in rows},
    ).values_list("customer_id", "record_id")
    known = known_emails(list(candidates))
    for row in rows:
        assert row.email_normalised is not None
        if row.email_normalised not in known:
            known.add(row.email_normalised)
            fresh.append(row)
    return fresh


def known_emails(candidates: list[tuple[Any, Any]]) -> set[str]:
    """The normalised profile emails of these (customer, record) candidates, decrypted."""
    out: set[str] = set()
    for customer_id, record_id in candidates:
        try:
            key = customer_key(as_uuid(customer_id))
        except (KeyUnavailable, NotFound):
            continue
        rid = as_uuid(record_id)
        value = read_values(key, RecordKind.PROFILE, [rid], ["email"])[rid].get("email")
        if isinstance(value, str):
            out.add(normalise_email(value))
    return out


# The four vault tables (and consents) are written with one multi-row INSERT per table and batch,
# not with bulk_create: building a model instance and running each value through the ORM's
# compiler costs ~50 µs a row, ten rows a customer, which alone would spend ~50 s of the 60 s budget
# for 100,000 customers (docs/benchmarks.md). The values are made by the same primitives as
# `store.create_data_key`, `store.encrypted_rows` and `store.index_rows`, so what is stored is the
# same; tests/vault/test_import.py reads it back through the services and checks that these column
# lists still cover every column of the models.
CUSTOMER_COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "language",
    "external_ref",
    "key_generation",
    "erased_at",
    "held_until",
    "restricted_at",
    "restriction_reason",
)
VALUE_COLUMNS = ("customer", "record_kind", "record_id", "field", "ciphertext", "updated_at")
INDEX_COLUMNS = ("customer", "kind", "digest", "record_kind", "record_id")
# The consent ledger (consent/models.py): a `given` event per customer, then its derived state,
# written with one INSERT … SELECT per batch (the events' ids are only known to the database).
CONSENT_EVENT_COLUMNS = (
    "receipt_id",
    "customer_id",
    "visitor",
    "purpose",
    "action",
    "notice",
    "policy_version",
    "policy_hash",
    "method",
    "channel",
    "language",
    "data_types",
    "at",
    "actor",
)
CONSENT_STATE_COLUMNS = ("customer_id", "visitor", "purpose", "live", "event", "updated_at")


def _column(model: type[Model], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, Field) and field.column
    return field.column


def _insert(model: type[Model], fields: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(_column(model, f)) for f in fields)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY: 2-3 times the rows/s of executemany's pipelined INSERTs (psycopg 3).
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        # SQLite: one prepared statement stepped in C.
        marks = ", ".join(["%s"] * len(fields))
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)  # noqa: S608


def _write_batch(ctx: _Context, rows: list[_Row]) -> None:
    """One transaction: the batch's customers, their keys, values, indexes, consents, events."""
    result = ctx.result
    with transaction.atomic():
        fresh = _skip_known(ctx, rows)
        if fresh:
            _insert_customers(ctx, fresh)
    result.imported += len(fresh)
    result.skipped += len(rows) - len(fresh)
    result.batches += 1


def _insert_customers(ctx: _Context, rows: list[_Row]) -> None:
    native_uuid = connection.features.has_native_uuid_field
    now = timezone.now()
    at = connection.ops.adapt_datetimefield_value(now)
    keyring = load_keyring()
    profile = RecordKind.PROFILE.value
    customers: list[tuple[Any, ...]] = []
    data_keys: list[StoredKey] = []
    values: list[tuple[Any, ...]] = []
    indexes: list[tuple[Any, ...]] = []
    consents: list[tuple[Any, ...]] = []
    events: list[EventSpec] = []
    declared = ctx.enforced.purpose(ctx.purpose)
    data_types = json.dumps(purpose_data_types(declared) if declared is not None else [])
    for row in rows:
        customer_id = uuid.uuid4()
        cid = customer_id if native_uuid else customer_id.hex
        raw_key = new_data_key()
        version, wrapped = wrap_data_key(raw_key, customer_id, keyring)
        key = CustomerKey.from_bytes(customer_id, raw_key)
        customers.append((cid, at, at, row.language, row.ref, 0, None, None, None, ""))
        data_keys.append(StoredKey(customer_id, 0, version, wrapped))
        for name, value in row.values.items():
            blob = key.encrypt(profile, customer_id, name, value)
            values.append((cid, profile, cid, name, blob, at))
        for name in INDEXED_FIELDS:
            value = row.values.get(name)
            if isinstance(value, str):
                # A cleaned phone is E.164 already: parsing it again would give the same string.
                normalised = value if name == "phone" else index_value(name, value, ctx.region)
                digest = (
                    row.email_digest
                    if name == "email" and row.email_digest is not None
                    else blind_index(name, normalised, keyring)
                )
                indexes.append((cid, name, digest, profile, cid))
        events.append(
            EventSpec(
                EventType.CUSTOMER_CREATED,
                actor=ctx.actor.label,
                actor_role=ctx.actor.role,
                customer_id=customer_id,
                purpose=ctx.purpose,
                fields=tuple(row.values),
                details={"source": "import"},
            )
        )
        if ctx.consent_method:
            receipt = uuid.uuid4()
            consents.append(
                (
                    receipt if native_uuid else receipt.hex,
                    cid,
                    None,
                    ctx.purpose,
                    ConsentEvent.Action.GIVEN.value,
                    ctx.notices[row.language],
                    ctx.enforced.version,
                    ctx.enforced.content_hash,
                    ctx.consent_method,
                    "import",
                    row.language,
                    data_types,
                    at,
                    ctx.actor.label,
                )
            )
            # The event consent.services.give_consent records, one per customer.
            events.append(
                EventSpec(
                    EventType.CONSENT_GIVEN,
                    actor=ctx.actor.label,
                    customer_id=customer_id,
                    purpose=ctx.purpose,
                    details={
                        "method": ctx.consent_method,
                        "channel": "import",
                        "policy_version": ctx.enforced.version,
                        "receipt": str(receipt),
                    },
                )
            )
    # The keys go to the key store first: a batch that then rolls back leaves keys that decrypt
    # nothing, never ciphertext without its key.
    keystore().put(data_keys)
    _insert(Customer, CUSTOMER_COLUMNS, customers)
    _insert(EncryptedValue, VALUE_COLUMNS, values)
    _insert(BlindIndex, INDEX_COLUMNS, indexes)
    if consents:
        _insert(ConsentEvent, CONSENT_EVENT_COLUMNS, consents)
        _insert_consent_states(ctx.purpose, [c[0] for c in consents])
    record_events(events)


def _insert_consent_states(purpose: str, receipts: list[Any]) -> None:
    """The derived state of the batch's new `given` events: live, pointing at each event."""
    quote = connection.ops.quote_name
    state = quote(ConsentState._meta.db_table)
    ledger = quote(ConsentEvent._meta.db_table)
    columns = ", ".join(quote(_column(ConsentState, f)) for f in CONSENT_STATE_COLUMNS)
    marks = ", ".join(["%s"] * len(receipts))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {state} ({columns}) "  # noqa: S608 - constant identifiers
            f"SELECT customer_id, NULL, purpose, %s, id, at FROM {ledger} "
            f"WHERE purpose = %s AND receipt_id IN ({marks})",
            [True, purpose, *receipts],
        )


# -- the import -------------------------------------------------------------------------------


def import_customers(
    path: Path,
    *,
    purpose: str,
    actor: Actor,
    batch_size: int = DEFAULT_BATCH,
    consent_method: str | None = None,
    on_start: Callable[[CsvLayout], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_reject: Callable[[RowProblem], None] | None = None,
) -> ImportResult:
    """Import customers from a UTF-8 CSV file for a purpose.

    Raises `ImportFileError` for a file that cannot be imported as a whole and the vault's errors
    (`FieldsRefused`, `ConsentRequired`, `AccessRefused`, `PolicyNotInForce`) when the header or
    the purpose is refused; in both cases nothing but the audited refusal is written.
    `on_progress(n)` is called after each batch with the rows it handled, `on_reject` once per
    problem of each rejected row.
    """
    if not 1 <= batch_size <= MAX_BATCH:
        raise ImportFileError(f"the batch size must be between 1 and {MAX_BATCH}")
    _check_consent_method(consent_method)
    layout = scan_csv(path)
    enforced = policy()
    authorize(enforced, actor, purpose, event=EventType.WRITE_REFUSED)
    plan = _plan(enforced, actor, purpose, layout.columns)
    consenting = _consenting(enforced, actor, purpose, consent_method)
    ctx = _Context(
        enforced=enforced,
        actor=actor,
        purpose=purpose,
        plan=plan,
        region=enforced.policy.phone_region,
        consent_method=consent_method if consenting else None,
    )
    if consenting:
        ctx.notices = _consent_notices(enforced, purpose)
    result = ctx.result
    result.identity = plan.identity
    result.fields = plan.fields
    if on_start is not None:
        on_start(layout)
    try:
        _import_rows(ctx, path, batch_size, on_progress, on_reject)
    except ImportFileError as exc:
        # Only when the file changed after the first pass: what was committed stays, and a re-run
        # skips it.
        exc.committed = result.imported
        raise
    record_event(
        EventType.IMPORT_COMPLETED,
        actor=actor.label,
        actor_role=actor.role,
        purpose=purpose,
        fields=plan.fields,
        details=_counts(result),
    )
    return result


def _counts(result: ImportResult) -> Mapping[str, object]:
    return {
        "rows": result.rows,
        "imported": result.imported,
        "skipped": result.skipped,
        "rejected": result.rejected,
        "batches": result.batches,
        "identity": result.identity,
    }


def _import_rows(
    ctx: _Context,
    path: Path,
    batch_size: int,
    on_progress: Callable[[int], None] | None,
    on_reject: Callable[[RowProblem], None] | None,
) -> None:
    result = ctx.result
    batch: list[_Row] = []
    handled = 0
    with _csv_records(path) as records:
        for number, record in records:
            if number == 1 or _blank(record):
                continue  # the header, checked by scan_csv; blank lines
            result.rows += 1
            handled += 1
            parsed = _parse_row(ctx, number, record)
            if isinstance(parsed, list):
                result.rejected += 1
                if on_reject is not None:
                    for problem in parsed:
                        on_reject(problem)
                continue
            batch.append(parsed)
            if len(batch) >= batch_size:
                _write_batch(ctx, batch)
                batch = []
                if on_progress is not None:
                    on_progress(handled)
                handled = 0
    if batch:
        _write_batch(ctx, batch)
    if on_progress is not None and handled:
        on_progress(handled)
