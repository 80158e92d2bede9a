"""Cross-reference checks a schema alone cannot express, each with the location it concerns.

A purpose naming an undeclared field, a recipient receiving a field none of its purposes covers, a
CVC declared as stored: these are errors (exit 1), not lint warnings, because Pledge could not
enforce such a policy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pledge.policy.schema import Policy
from pledge.policy.taxonomy import DATA_CATEGORIES, is_within
from pledge.policy.vocabulary import STANDARD_FIELDS

Loc = tuple[int | str, ...]


@dataclass(frozen=True)
class Problem:
    loc: Loc
    message: str


def _duplicates(items: Iterable[str], where: Loc) -> list[Problem]:
    seen: set[str] = set()
    problems = []
    for i, key in enumerate(items):
        if key in seen:
            problems.append(Problem((*where, i, "key"), f"duplicate key {key!r}"))
        seen.add(key)
    return problems


def _unknown(kind: str, value: str, known: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(value, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {kind} {value!r}{hint}"


def check_references(policy: Policy, known_jurisdictions: Iterable[str]) -> list[Problem]:
    problems: list[Problem] = []
    problems += _duplicates((f.key for f in policy.fields), ("fields",))
    problems += _duplicates((r.key for r in policy.roles), ("roles",))
    problems += _duplicates((p.key for p in policy.purposes), ("purposes",))
    problems += _duplicates((r.key for r in policy.retention), ("retention",))
    problems += _duplicates((r.key for r in policy.recipients), ("recipients",))

    fields = {f.key: f for f in policy.fields}
    roles = {r.key for r in policy.roles}
    purposes = {p.key: p for p in policy.purposes}
    jurisdictions = set(known_jurisdictions)

    if policy.default_language not in policy.languages:
        problems.append(
            Problem(("default_language",), f"{policy.default_language!r} is not in languages")
        )
    for i, name in enumerate(policy.jurisdictions):
        if name not in jurisdictions:
            problems.append(
                Problem(("jurisdictions", i), _unknown("jurisdiction", name, jurisdictions))
            )

    for i, f in enumerate(policy.fields):
        std = STANDARD_FIELDS.get(f.key)
        if std is None:
            if f.category is None:
                problems.append(
                    Problem(
                        ("fields", i), f"field {f.key!r} is not a standard field: give its category"
                    )
                )
            if f.label is None:
                problems.append(
                    Problem(
                        ("fields", i), f"field {f.key!r} is not a standard field: give its label"
                    )
                )
        if f.category is not None:
            if f.category not in DATA_CATEGORIES:
                problems.append(
                    Problem(
                        ("fields", i, "category"),
                        _unknown("data category", f.category, DATA_CATEGORIES),
                    )
                )
            elif std is not None and not is_within(f.category, std.category):
                problems.append(
                    Problem(
                        ("fields", i, "category"),
                        f"standard field {f.key!r} has category {std.category!r} "
                        f"(or a narrower one), not {f.category!r}",
                    )
                )
        if std is not None and std.sensitive and f.sensitive is False:
            problems.append(
                Problem(
                    ("fields", i, "sensitive"),
                    f"{f.key!r} is sensitive personal data by law (Decree 356/2025 Art 4) "
                    "and cannot be declared non-sensitive",
                )
            )
        if std is not None and f.storage not in std.storages:
            problems.append(
                Problem(
                    ("fields", i, "storage"),
                    f"{f.key!r} may never be stored, not even encrypted (PCI DSS v4.0.1 "
                    "Req 3.3.1); declare storage: transient",
                )
            )
        for j, role in enumerate(f.access_roles or []):
            if role not in roles:
                problems.append(
                    Problem(("fields", i, "access_roles", j), _unknown("role", role, roles))
                )

    for i, p in enumerate(policy.purposes):
        for attr in ("fields", "read_only", "unmasked"):
            for j, key in enumerate(getattr(p, attr)):
                if key not in fields:
                    problems.append(
                        Problem(("purposes", i, attr, j), _unknown("field", key, fields))
                    )
                elif attr != "fields" and fields[key].storage == "transient":
                    problems.append(
                        Problem(
                            ("purposes", i, attr, j),
                            f"{key!r} is transient (never stored), so it cannot be read later",
                        )
                    )
        readable = set(p.fields) | set(p.read_only)
        for j, key in enumerate(p.unmasked):
            if key in fields and key not in readable:
                problems.append(
                    Problem(
                        ("purposes", i, "unmasked", j),
                        f"{key!r} is unmasked but the purpose neither collects nor reads it",
                    )
                )
        for j, role in enumerate(p.roles):
            if role not in roles:
                problems.append(Problem(("purposes", i, "roles", j), _unknown("role", role, roles)))

    for i, rule in enumerate(policy.retention):
        for j, key in enumerate(rule.fields):
            if key not in fields:
                problems.append(
                    Problem(("retention", i, "fields", j), _unknown("field", key, fields))
                )

    for i, r in enumerate(policy.recipients):
        covered: set[str] = set()
        for j, key in enumerate(r.purposes):
            if key not in purposes:
                problems.append(
                    Problem(("recipients", i, "purposes", j), _unknown("purpose", key, purposes))
                )
            else:
                covered |= set(purposes[key].fields) | set(purposes[key].read_only)
        for j, key in enumerate(r.fields):
            if key not in fields:
                problems.append(
                    Problem(("recipients", i, "fields", j), _unknown("field", key, fields))
                )
            elif key not in covered:
                problems.append(
                    Problem(
                        ("recipients", i, "fields", j),
                        f"recipient {r.key!r} would receive {key!r}, "
                        "which none of its purposes covers",
                    )
                )

    if policy.cookies is not None:
        keys = [c.key for c in policy.cookies.categories]
        problems += _duplicates(keys, ("cookies", "categories"))
        for i, cat in enumerate(policy.cookies.categories):
            services = [s.key for s in cat.services]
            for j, key in enumerate(services):
                if key in services[:j]:
                    problems.append(
                        Problem(
                            ("cookies", "categories", i, "services", j, "key"),
                            f"duplicate key {key!r}",
                        )
                    )

    if policy.rights is not None:
        offered = set(policy.rights.offered)
        for i, ch in enumerate(policy.rights.channels):
            for j, right in enumerate(ch.rights):
                if right not in offered:
                    problems.append(
                        Problem(
                            ("rights", "channels", i, "rights", j),
                            f"right {right!r} has a channel but is not listed in rights.offered",
                        )
                    )
    return problems
