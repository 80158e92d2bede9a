"""Staff identities (P09, P16). A staff member is a Django user with a `StaffProfile` naming their
policy role; what the role may do comes from the policy in force, never from this table.

Sign-in throttling keeps no email address and no client address: only an HMAC of each
(`throttle.throttle_key`), so the tables say nothing about who tried to sign in.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class StaffProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff"
    )
    # A `roles[].key` of the policy; a role the policy no longer declares grants nothing.
    role = models.CharField(max_length=63)
    # The language of the emails this staff member receives (vi or en).
    language = models.CharField(max_length=8, default="vi")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=120)  # an audit actor label
    disabled_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"staff {self.user_id} ({self.role})"


class StaffSession(models.Model):
    """One signed-in console session, for the "where am I signed in" list and its revoke button.

    The Django session itself lives in the session store; this row only describes it. Revoking
    deletes both.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_sessions"
    )
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    # The client's network, not its address: 203.0.113.0/24 or 2001:db8:1::/48.
    client_network = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return f"session of staff {self.user_id} since {self.created_at:%Y-%m-%d %H:%M}"


class ThrottleEvent(models.Model):
    """One failed sign-in (or one password-reset request) counted against a throttle key.

    `key` is an HMAC (settings.SECRET_KEY) of the scope and the normalised email or the client
    address; rows older than the window are deleted as new ones arrive.
    """

    key = models.CharField(max_length=64)
    at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["key", "at"], name="accounts_throttle_key_at")]

    def __str__(self) -> str:
        return f"throttle event {self.key[:8]}… at {self.at:%Y-%m-%d %H:%M:%S}"


class ThrottleLock(models.Model):
    """A lockout: sign-in for this key (an account or a client address) is refused until `until`."""

    key = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=16)
    until = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.scope} lock {self.key[:8]}… until {self.until:%Y-%m-%d %H:%M:%S}"


# ── Customer accounts (privacy center, issue 5) ───────────────────────────────────────────────


class CustomerAccount(models.Model):
    """A customer's sign-in to the privacy center (P16, P18).

    Holds no plaintext personal data: the login email lives in the vault, encrypted under the
    customer's data key on the customer's `account` record and found by its blind index
    (`pledge.vault.accounts`). The password is an Argon2id hash.
    """

    id = models.UUIDField(primary_key=True)
    customer = models.OneToOneField(
        "vault.Customer", on_delete=models.CASCADE, related_name="account"
    )
    password = models.CharField(max_length=128)
    language = models.CharField(max_length=8, default="vi")
    created_at = models.DateTimeField()
    verified_at = models.DateTimeField(null=True, blank=True)
    password_changed_at = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"customer account {self.id}"


class CustomerSession(models.Model):
    """One signed-in privacy-center session (list and revoke, P16)."""

    account = models.ForeignKey(CustomerAccount, on_delete=models.CASCADE, related_name="sessions")
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    client_network = models.CharField(max_length=64, blank=True)
    # "Firefox on Android": the browser family only, never the user-agent string.
    device_label = models.CharField(max_length=80, blank=True)

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return f"session of customer account {self.account_id}"


class CustomerDevice(models.Model):
    """A browser this account signed in from before: a new one triggers a notice (P16).

    `device` is an HMAC of the random id in the signed `pledge_device` cookie.
    """

    account = models.ForeignKey(CustomerAccount, on_delete=models.CASCADE, related_name="devices")
    device = models.CharField(max_length=64)
    label = models.CharField(max_length=80, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "device"], name="customer_device_once")
        ]

    def __str__(self) -> str:
        return f"device of customer account {self.account_id}"
