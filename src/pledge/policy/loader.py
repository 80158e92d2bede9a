"""Load a policy from a file or a bundled preset, and explain every problem with its location.

The messages are for a shop owner editing YAML by hand: `purposes[2].fields[0]: unknown field
'emial' (did you mean 'email'?)`, with the line number, and never a traceback.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from pledge.policy import schema
from pledge.policy.jurisdictions import profile_names
from pledge.policy.references import Loc, check_references
from pledge.policy.schema import Policy
from pledge.policy.yamlio import YamlDocument, YamlProblem, parse_yaml, read_limited


@dataclass(frozen=True)
class PolicyProblem:
    location: str  # e.g. "purposes[2].fields[0]"; "" for the whole file
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        loc = f"{self.location}: " if self.location else ""
        return f"{where}{loc}{self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"location": self.location, "line": self.line, "message": self.message}


class PolicyInvalid(Exception):
    def __init__(self, source: str, problems: list[PolicyProblem]) -> None:
        super().__init__(f"{source}: {len(problems)} problem(s)")
        self.source = source
        self.problems = problems


@dataclass(frozen=True)
class LoadedPolicy:
    policy: Policy
    source: str
    text: str
    document: YamlDocument = field(repr=False)

    @property
    def content_hash(self) -> str:
        return content_hash(self.policy)


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _schema_keys() -> list[str]:
    keys: set[str] = set()
    for obj in vars(schema).values():
        if isinstance(obj, type) and issubclass(obj, BaseModel):
            keys.update(obj.model_fields)
    return sorted(keys)


_PERIOD_TAGS = {"duration", "until_cancellation", "until_purpose_ends", "permanent"}


def _clean_loc(loc: tuple[int | str, ...]) -> Loc:
    # Tagged unions add the tag to the location (period.duration.amount); people want period.amount.
    out: list[int | str] = []
    for part in loc:
        if isinstance(part, str) and part in _PERIOD_TAGS and out and out[-1] == "period":
            continue
        out.append(part)
    return tuple(out)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _pydantic_problems(exc: ValidationError, doc: YamlDocument) -> list[PolicyProblem]:
    problems = []
    schema_keys = _schema_keys()
    for err in exc.errors(include_url=False):
        loc = _clean_loc(err["loc"])
        kind = err["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            close = difflib.get_close_matches(key, schema_keys, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            msg = f"unknown key {key!r}{hint}"
            location = format_loc(loc[:-1])
        elif kind == "missing":
            msg = f"missing required key {loc[-1]!r}"
            location = format_loc(loc[:-1])
        elif kind in {
            "string_type",
            "int_type",
            "bool_type",
            "list_type",
            "model_type",
            "dict_type",
        }:
            expected = {
                "string_type": "text",
                "int_type": "a whole number",
                "bool_type": "true or false",
                "list_type": "a list",
                "model_type": "a mapping of keys",
                "dict_type": "a mapping of keys",
            }[kind]
            msg = f"expected {expected}, found {_short(err['input'])}"
            location = format_loc(loc)
        else:
            message = err["msg"].removeprefix("Value error, ")
            msg = f"{message} (found {_short(err['input'])})" if kind != "value_error" else message
            location = format_loc(loc)
        problems.append(PolicyProblem(location, msg, doc.line_of(loc)))
    return problems


def parse_policy(raw: bytes | str, source: str = "<policy>") -> LoadedPolicy:
    """Validate policy text. Raises PolicyInvalid listing every problem found."""
    try:
        doc = parse_yaml(raw)
    except YamlProblem as exc:
        raise PolicyInvalid(source, [PolicyProblem("", exc.message, exc.line)]) from None
    try:
        policy = Policy.model_validate(doc.data)
    except ValidationError as exc:
        raise PolicyInvalid(source, _pydantic_problems(exc, doc)) from None
    refs = check_references(policy, profile_names())
    if refs:
        raise PolicyInvalid(
            source, [PolicyProblem(format_loc(p.loc), p.message, doc.line_of(p.loc)) for p in refs]
        )
    text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
    return LoadedPolicy(policy=policy, source=source, text=text, document=doc)


def preset_names() -> list[str]:
    folder = resources.files("pledge.policy") / "presets"
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def load_policy(ref: str) -> LoadedPolicy:
    """Load a policy from a path, or from a bundled preset by name (`leman-jewelry`)."""
    path = Path(ref)
    if path.exists():
        try:
            raw = read_limited(path)
        except YamlProblem as exc:
            raise PolicyInvalid(ref, [PolicyProblem("", exc.message, exc.line)]) from None
        return parse_policy(raw, source=ref)
    if ref in preset_names():
        raw = (resources.files("pledge.policy") / "presets" / f"{ref}.yaml").read_bytes()
        return parse_policy(raw, source=f"preset {ref}")
    close = difflib.get_close_matches(ref, preset_names(), n=1)
    hint = f"; did you mean the preset {close[0]!r}?" if close else ""
    raise PolicyInvalid(
        ref,
        [
            PolicyProblem(
                "",
                f"no such file, and no preset named {ref!r}{hint} "
                f"(presets: {', '.join(preset_names())})",
            )
        ],
    )


def canonical_json(policy: Policy) -> str:
    """The canonical serialisation that a published version's hash is taken over."""
    return json.dumps(
        policy.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def content_hash(policy: Policy) -> str:
    return hashlib.sha256(canonical_json(policy).encode("utf-8")).hexdigest()
