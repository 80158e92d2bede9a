"""Synthetic customers for the benchmarks: CSV files for the importer and field sets for the
vault services.

The people come from `pledge.vault.demo_data.SyntheticCustomers` (Faker `vi_VN` and `en_US`:
names with diacritics, addresses, valid Vietnamese mobile numbers, emails under example domains,
orders with items), so `pledge demo` and the benchmarks share one generator. A share of the names
is written decomposed (NFD), as some Vietnamese keyboards and macOS send them, so the import pays
for normalisation as it would in a shop's real export.

    .venv/bin/python bench/datagen.py customers.csv --count 100000   # write a CSV
    .venv/bin/python bench/datagen.py --check 5000                   # every value passes the vault
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import tempfile
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import django

if TYPE_CHECKING:  # imported when used: the vault needs Django set up first
    from pledge.vault.demo_data import SyntheticCustomer

CSV_COLUMNS = ("external_ref", "full_name", "email", "phone", "address", "language")
# The fields a purpose-checked write of the vault benchmark sends: every field preset B
# (leman-jewelry) lets order_fulfilment keep on a customer profile. (It also collects cookie_id,
# held on cookie records only, and id_document and purchase_history, which have services of their
# own.) Three of them get a blind index: email, phone, full_name.
WRITE_FIELDS = frozenset({"full_name", "email", "phone", "address"})
NFD_SHARE = 0.1


def customers(
    count: int, *, seed: int = 2026, ref_prefix: str = "bench-", start: int = 1
) -> Iterator[SyntheticCustomer]:
    from pledge.vault.demo_data import SyntheticCustomers

    people = SyntheticCustomers(seed, max_orders=2)
    for index in range(start, start + count):
        yield people.customer(index, ref_prefix=ref_prefix)


def write_fields(person: SyntheticCustomer) -> dict[str, str]:
    """What the shop's checkout sends for a new customer."""
    return person.values(WRITE_FIELDS)


def write_customers_csv(
    path: Path, count: int, *, seed: int = 2026, ref_prefix: str = "bench-"
) -> Path:
    """A shop's customer export: one customer per row, `NFD_SHARE` of the names decomposed."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for person in customers(count, seed=seed, ref_prefix=ref_prefix):
            name = person.full_name
            if rng.random() < NFD_SHARE:
                name = unicodedata.normalize("NFD", name)
            writer.writerow(
                (person.ref, name, person.email, person.phone, person.address, person.language)
            )
    return path


def check(count: int) -> int:
    """Every generated value passes the vault's own validation (phones: E.164 for VN)."""
    from pledge.vault.normalise import ValueInvalid, clean_value, normalise_phone

    bad = 0
    started = time.perf_counter()
    for person in customers(count):
        try:
            assert normalise_phone(person.phone, "VN").startswith("+84")
            for field, value in person.values(set(WRITE_FIELDS)).items():
                clean_value(field, value, region="VN")
        except (ValueInvalid, AssertionError) as exc:
            bad += 1
            print(f"{person.ref}: {exc}", file=sys.stderr)
    seconds = time.perf_counter() - started
    print(f"{count:,} customers checked in {seconds:.1f} s, {bad} invalid")
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", type=Path, help="CSV file to write")
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--check", type=int, metavar="N", help="validate N generated customers")
    args = parser.parse_args()
    # The generator uses Django's time zone settings; nothing is written to a database.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pledge.settings")
    os.environ.setdefault("PLEDGE_VAR_DIR", tempfile.mkdtemp(prefix="pledge-datagen-"))
    django.setup()
    if args.check:
        return check(args.check)
    if args.output is None:
        parser.error("give an output file or --check N")
    started = time.perf_counter()
    write_customers_csv(args.output, args.count, seed=args.seed)
    print(
        f"wrote {args.count:,} customers to {args.output} in {time.perf_counter() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(main())
