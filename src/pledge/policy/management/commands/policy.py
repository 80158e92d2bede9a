"""`pledge policy …`: list presets, check, render and publish a shop's policy."""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from pledge.policy.lint import lint_policy
from pledge.policy.loader import LoadedPolicy, PolicyInvalid, load_policy, preset_names

EXIT_INVALID = 1
EXIT_WARNINGS = 2


class Command(BaseCommand):
    help = "Work with a shop's privacy policy: presets, check, render, publish."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, parser_class=ArgumentParser)
        sub.add_parser("presets", help="list the bundled presets")

        check = sub.add_parser("check", help="validate and lint a policy file or preset")
        check.add_argument("policy", help="a path to a policy YAML file, or a preset name")
        check.add_argument("--strict", action="store_true", help="exit 2 when lint warnings exist")
        check.add_argument("--json", action="store_true", help="print a JSON report")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "presets":
            self._presets()
        elif action == "check":
            self._check(options["policy"], strict=options["strict"], as_json=options["json"])

    def _load(self, ref: str) -> LoadedPolicy:
        try:
            return load_policy(ref)
        except PolicyInvalid as exc:
            for problem in exc.problems:
                self.stderr.write(f"{exc.source}: {problem}")
            raise SystemExit(EXIT_INVALID) from None

    def _presets(self) -> None:
        for name in preset_names():
            loaded = load_policy(name)
            self.stdout.write(f"{name:16} {loaded.policy.name} ({loaded.policy.controller.website})")

    def _check(self, ref: str, *, strict: bool, as_json: bool) -> None:
        try:
            loaded = load_policy(ref)
        except PolicyInvalid as exc:
            if as_json:
                report = {
                    "source": exc.source,
                    "valid": False,
                    "errors": [p.as_dict() for p in exc.problems],
                    "warnings": [],
                }
                self.stdout.write(json.dumps(report, ensure_ascii=False, indent=2))
            else:
                for problem in exc.problems:
                    self.stderr.write(f"{exc.source}: {problem}")
                self.stderr.write(f"{exc.source}: invalid ({len(exc.problems)} error(s))")
            raise SystemExit(EXIT_INVALID) from None
        warnings = lint_policy(loaded.policy)
        if as_json:
            report = {
                "source": loaded.source,
                "valid": True,
                "shop": loaded.policy.shop,
                "version": loaded.policy.version,
                "content_hash": loaded.content_hash,
                "errors": [],
                "warnings": [
                    {
                        "code": w.code,
                        "location": w.location,
                        "line": loaded.document.line_of(_parse_loc(w.location)),
                        "message": w.message,
                        "article": w.article,
                    }
                    for w in warnings
                ],
            }
            self.stdout.write(json.dumps(report, ensure_ascii=False, indent=2))
        else:
            for w in warnings:
                line = loaded.document.line_of(_parse_loc(w.location))
                where = f"line {line}: " if line else ""
                loc = f"{w.location}: " if w.location else ""
                self.stdout.write(f"{loaded.source}: {where}{w.code} {loc}{w.message} [{w.article}]")
            self.stdout.write(
                f"{loaded.source}: valid, {len(warnings)} warning(s)"
                f" (content hash {loaded.content_hash[:12]})"
            )
        if strict and warnings:
            raise SystemExit(EXIT_WARNINGS)
        sys.stdout.flush()


def _parse_loc(location: str) -> tuple[int | str, ...]:
    """Turn `purposes[2].fields[0]` back into ('purposes', 2, 'fields', 0)."""
    import re

    parts: list[int | str] = []
    for name, index in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]", location):
        parts.append(int(index) if index else name)
    return tuple(parts)

