"""API keys of the shop's backend.

A key is shown once, when it is created, as `pledge_<prefix>_<secret>`. Pledge keeps the public
prefix (to find the key and to name it in the audit log, `api:<prefix>`) and the SHA-256 of the
whole token, never the token itself: the secret is 32 random bytes, so a fast hash is enough (a
slow password hash protects guessable secrets, and this one is not guessable).
"""

from __future__ import annotations

from django.db import models


class ApiKey(models.Model):
    name = models.CharField(max_length=63, unique=True)
    # Public, random, unique: in the token, in the audit log, in `pledge apikey list`.
    prefix = models.CharField(max_length=16, unique=True)
    # hex SHA-256 of the whole token.
    secret_hash = models.CharField(max_length=64)
    # Policy purpose keys this key may act for (P06); the vault refuses any other.
    purposes = models.JSONField(default=list)
    # Optional policy role: lets the key see sensitive fields restricted to that role (P09).
    role = models.CharField(max_length=63, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"API key {self.name} ({self.prefix})"

    @property
    def active(self) -> bool:
        return self.revoked_at is None
