"""Every audit event type is documented in docs/audit.md (STYLE.md: a closed, documented enum)."""

from __future__ import annotations

from pathlib import Path

from pledge.audit.events import EventType

DOC = Path(__file__).resolve().parents[2] / "docs" / "audit.md"


def test_every_event_type_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [t.value for t in EventType if f"`{t.value}`" not in text]
    assert missing == []


def test_event_types_are_source_colon_action() -> None:
    for t in EventType:
        source, _, action = t.value.partition(":")
        assert source and action and action == action.lower(), t
