"""A password hasher for tests that counts how often it runs (configured through
settings.PASSWORD_HASHERS; it is Django's Argon2 hasher otherwise)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.hashers import Argon2PasswordHasher


class CountingArgon2PasswordHasher(Argon2PasswordHasher):
    runs: ClassVar[int] = 0

    def encode(self, password: str, salt: str) -> str:
        type(self).runs += 1
        return str(super().encode(password, salt))

    def verify(self, password: str, encoded: str) -> bool:
        type(self).runs += 1
        return bool(super().verify(password, encoded))

    def harden_runtime(self, password: str, encoded: str) -> Any:
        return None
