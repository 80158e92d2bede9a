"""`pledge policy …`: list presets, check, render and publish a shop's policy."""

from __future__ import annotations

import datetime as dt
import json
import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import translation

from pledge.policy.lint import lint_policy
from pledge.policy.loader import LoadedPolicy, PolicyInvalid, load_policy, preset_names
from pledge.policy.render import render_policy
from pledge.policy.services import PublishRefused, publish_policy

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
        check.add_argument(
            "--lang", choices=["vi", "en"], default="en", help="language of the lint messages"
        )

        render = sub.add_parser("render", help="print the public policy page")
        render.add_argument("policy", help="a path to a policy YAML file, or a preset name")
        render.add_argument("--lang", choices=["vi", "en"], default=None)
        render.add_argument("--format", choices=["html", "md"], default="html", dest="fmt")
        render.add_argument("--output", "-o", default=None, help="write to this file")

        publish = sub.add_parser("publish", help="record a version of the policy in the database")
        publish.add_argument("policy", help="a path to a policy YAML file, or a preset name")
        publish.add_argument(
            "--effective", default=None, help="effective date YYYY-MM-DD (default: the file's)"
        )
        publish.add_argument(
            "--material",
            action="store_true",
            help="a significant change: needs the advance notice the policy promises (P24)",
        )
        publish.add_argument("--actor", default="cli", help="who publishes (kept on record)")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "presets":
            self._presets()
        elif action == "check":
            with translation.override(options["lang"]):
                self._check(options["policy"], strict=options["strict"], as_json=options["json"])
        elif action == "render":
            self._render(options["policy"], options["lang"], options["fmt"], options["output"])
        elif action == "publish":
            self._publish(
                options["policy"], options["effective"], options["material"], options["actor"]
            )

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
            self.stdout.write(
                f"{name:16} {loaded.policy.name} ({loaded.policy.controller.website})"
            )

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
                        "line": _line(loaded, w.location),
                        "message": w.message,
                        "article": w.article,
                    }
                    for w in warnings
                ],
            }
            self.stdout.write(json.dumps(report, ensure_ascii=False, indent=2))
        else:
            for w in warnings:
                line = _line(loaded, w.location)
                where = f"line {line}: " if line else ""
                loc = f"{w.location}: " if w.location else ""
                self.stdout.write(
                    f"{loaded.source}: {where}{w.code} {loc}{w.message} [{w.article}]"
                )
            self.stdout.write(
                f"{loaded.source}: valid, {len(warnings)} warning(s)"
                f" (content hash {loaded.content_hash[:12]})"
            )
        if strict and warnings:
            raise SystemExit(EXIT_WARNINGS)
        sys.stdout.flush()

    def _render(self, ref: str, lang: str | None, fmt: str, output: str | None) -> None:
        loaded = self._load(ref)
        page = render_policy(loaded.policy, lang or loaded.policy.default_language, fmt)
        if output:
            try:
                Path(output).write_text(page, encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"cannot write {output}: {exc.strerror or exc}") from None
            self.stderr.write(f"wrote {output}")
        else:
            self.stdout.write(page, ending="")

    def _publish(self, ref: str, effective: str | None, material: bool, actor: str) -> None:
        loaded = self._load(ref)
        effective_date = None
        if effective is not None:
            try:
                effective_date = dt.date.fromisoformat(effective)
            except ValueError:
                raise CommandError(
                    f"--effective {effective!r} is not a date as YYYY-MM-DD"
                ) from None
        try:
            version = publish_policy(
                loaded, actor=actor, effective_date=effective_date, material=material
            )
        except PublishRefused as exc:
            raise CommandError(f"not published: {exc}") from None
        self.stdout.write(
            f"published {version.shop} version {version.version!r}, effective "
            f"{version.effective_date.isoformat()}"
            f"{' (material change)' if version.material else ''}, "
            f"sha256 {version.content_hash}"
        )


def _line(loaded: LoadedPolicy, location: str) -> int | None:
    # A warning about the whole policy has no line worth pointing at.
    return loaded.document.line_of(_parse_loc(location)) if location else None


def _parse_loc(location: str) -> tuple[int | str, ...]:
    """Turn `purposes[2].fields[0]` back into ('purposes', 2, 'fields', 0)."""
    import re

    parts: list[int | str] = []
    for name, index in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]", location):
        parts.append(int(index) if index else name)
    return tuple(parts)
