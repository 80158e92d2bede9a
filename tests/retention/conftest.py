from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import time_machine

from tests.retention.shop import NOW, publish_retention_policy


@pytest.fixture
def frozen() -> Iterator[Any]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def retention_policy(leman: Any, frozen: Any) -> None:
    """Preset B plus the test's duration rules, in force on the frozen day."""
    publish_retention_policy()
