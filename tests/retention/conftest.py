from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import time_machine

from tests.retention.shop import NOW, publish_retention_policy


@pytest.fixture(autouse=True)
def separate_keystore(settings: Any, tmp_path: Any) -> None:
    """A key store of the test's own: the sweeps create a hundred thousand keys, and the shared
    one's files are scanned byte by byte by other tests (tests/vault/test_payments.py looks for
    a 3-digit CVC, which tens of megabytes of random key bytes would hold by chance)."""
    settings.PLEDGE_KEYSTORE_PATH = tmp_path / "keys" / "keystore.sqlite3"


@pytest.fixture
def frozen() -> Iterator[Any]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def retention_policy(leman: Any, frozen: Any) -> None:
    """Preset B plus the test's duration rules, in force on the frozen day."""
    publish_retention_policy()
