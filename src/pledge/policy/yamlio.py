"""Safe, strict YAML reading shared by policies and jurisdiction profiles.

- size-limited before parsing, binary and non-UTF-8 input refused with a plain message;
- YAML 1.2 scalars (only true/false are booleans; `17:30` stays a string, not a base-60 number);
- anchors/aliases refused (no "billion laughs"), duplicate keys refused (no silent override);
- every string NFC-normalised, since Vietnamese text arrives in both NFC and NFD;
- the node tree is kept so that an error can name the line it comes from.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_FILE_BYTES = 1_048_576  # a real policy is ~20 KB; 1 MiB leaves room and stops abuse early


class YamlProblem(Exception):
    """The input is not a readable YAML document; `line` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class _StrictLoader(yaml.SafeLoader):
    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise YamlProblem(
                "YAML aliases (*name) are not allowed in a policy; write the value out",
                event.start_mark.line + 1,
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                raise YamlProblem(
                    f"keys must be text, found {type(key).__name__} {key!r}",
                    key_node.start_mark.line + 1,
                )
            if key in seen:
                raise YamlProblem(
                    f"key {key!r} appears twice in the same mapping (first on line {seen[key]})",
                    key_node.start_mark.line + 1,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


# YAML 1.2 core schema scalars instead of PyYAML's YAML 1.1 ones, with one change: a number with a
# leading zero stays text, so a Vietnamese phone number written `0589157979` is not read as a float.
_StrictLoader.yaml_implicit_resolvers = {}
_RESOLVERS = [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:int", r"^[-+]?(?:0|[1-9][0-9]*)$", list("-+0123456789")),
    (
        "tag:yaml.org,2002:float",
        r"^[-+]?(?:(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+)$",
        list("-+.0123456789"),
    ),
    ("tag:yaml.org,2002:timestamp", r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", list("0123456789")),
]
for _tag, _regex, _first in _RESOLVERS:
    _StrictLoader.add_implicit_resolver(_tag, re.compile(_regex), _first)


def _nfc(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, dict):
        return {_nfc(k): _nfc(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nfc(v) for v in value]
    return value


@dataclass(frozen=True)
class YamlDocument:
    data: Any
    root: Node | None

    def line_of(self, loc: tuple[int | str, ...]) -> int | None:
        """The 1-based line of the deepest node on the path `loc` (pydantic's error location)."""
        node = self.root
        line = node.start_mark.line + 1 if node is not None else None
        for part in loc:
            if isinstance(node, MappingNode):
                for key_node, value_node in node.value:
                    if isinstance(key_node, ScalarNode) and key_node.value == part:
                        line = key_node.start_mark.line + 1
                        node = value_node
                        break
                else:
                    return line
            elif isinstance(node, SequenceNode) and isinstance(part, int):
                if 0 <= part < len(node.value):
                    node = node.value[part]
                    line = node.start_mark.line + 1
                else:
                    return line
            else:
                return line
        return line


def read_limited(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise YamlProblem(
                f"the file is {size / 1_048_576:.1f} MB; a policy file may be at most "
                f"{MAX_FILE_BYTES // 1_048_576} MB"
            )
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except IsADirectoryError:
        raise YamlProblem("this is a directory, not a policy file") from None
    except PermissionError:
        raise YamlProblem("the file cannot be read: permission denied") from None
    except OSError as exc:
        raise YamlProblem(f"the file cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise YamlProblem(
            f"the file is larger than {MAX_FILE_BYTES // 1_048_576} MB, the limit for a policy"
        )
    return data


def parse_yaml(raw: bytes | str, *, what: str = "policy") -> YamlDocument:
    if isinstance(raw, bytes):
        if len(raw) > MAX_FILE_BYTES:
            raise YamlProblem(
                f"the input is {len(raw) / 1_048_576:.1f} MB; a {what} may be at most "
                f"{MAX_FILE_BYTES // 1_048_576} MB"
            )
        if b"\x00" in raw[:8192]:
            raise YamlProblem(f"this is a binary file, not a YAML {what}")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise YamlProblem(
                f"the file is not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start} "
                "cannot be decoded; save the file as UTF-8"
            ) from None
    else:
        text = raw
    if "\x00" in text:
        raise YamlProblem(f"this is a binary file, not a YAML {what}")
    if not text.strip():
        raise YamlProblem(f"the file is empty; a {what} is a YAML mapping of keys")
    loader = _StrictLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except YamlProblem:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if "expected a single document" in (exc.context or ""):
            problem = f"the file holds more than one YAML document; a {what} is exactly one"
        raise YamlProblem(
            f"the YAML cannot be parsed: {problem}", mark.line + 1 if mark else None
        ) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"the YAML cannot be parsed: {exc}") from None
    except RecursionError:
        raise YamlProblem("the YAML is nested too deeply") from None
    finally:
        loader.dispose()
    if data is None:
        raise YamlProblem(f"the file is empty; a {what} is a YAML mapping of keys")
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a single {type(data).__name__} value"
        raise YamlProblem(
            f"the top level of a {what} must be a mapping of keys (key: value), found {kind}",
            root.start_mark.line + 1 if root is not None else None,
        )
    return YamlDocument(data=_nfc(data), root=root)
