"""The policy in force, precomputed for enforcement on every read and write (P01, P06, P09).

Looking up the active version and validating its JSON costs milliseconds; a purpose-checked read
must cost microseconds (ARCHITECTURE.md budgets). So each process keeps the compiled policy for
`PLEDGE_POLICY_CACHE_SECONDS` and drops it at once when this process publishes a version.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from django.conf import settings

from pledge.policy.models import PolicyVersion
from pledge.policy.schema import Policy, Purpose


class NoPolicyInForce(Exception):
    """No policy is published (or none is effective yet): nothing may be collected or read."""


@dataclass(frozen=True)
class EnforcedPolicy:
    policy: Policy
    version: str
    content_hash: str
    # purpose -> fields it may collect, read, and show whole
    collects: dict[str, frozenset[str]]
    reads: dict[str, frozenset[str]]
    unmasked: dict[str, frozenset[str]]
    roles: dict[str, frozenset[str]]
    # field -> the only roles that may ever see it (sensitive data, Decree 356 Art 4)
    field_roles: dict[str, frozenset[str] | None]
    # field -> record kinds it may be held on (empty: any)
    field_records: dict[str, frozenset[str]]
    transient: frozenset[str]

    def purpose(self, key: str) -> Purpose | None:
        try:
            return self.policy.purpose(key)
        except KeyError:
            return None

    @property
    def role_keys(self) -> frozenset[str]:
        return frozenset(r.key for r in self.policy.roles)

    def purposes_of_role(self, role: str) -> list[str]:
        return [p for p, roles in self.roles.items() if role in roles]


def compile_policy(policy: Policy, *, version: str, content_hash: str) -> EnforcedPolicy:
    return EnforcedPolicy(
        policy=policy,
        version=version,
        content_hash=content_hash,
        collects={p.key: frozenset(p.fields) for p in policy.purposes},
        reads={p.key: frozenset(p.fields) | frozenset(p.read_only) for p in policy.purposes},
        unmasked={p.key: frozenset(p.unmasked) for p in policy.purposes},
        roles={p.key: frozenset(p.roles) for p in policy.purposes},
        field_roles={
            f.key: frozenset(f.access_roles) if f.access_roles is not None else None
            for f in policy.fields
        },
        field_records={f.key: frozenset(f.records) for f in policy.fields},
        transient=frozenset(f.key for f in policy.fields if f.storage == "transient"),
    )


_lock = threading.Lock()
_cache: tuple[float, EnforcedPolicy] | None = None


def enforced_policy() -> EnforcedPolicy:
    global _cache
    now = time.monotonic()
    cached = _cache
    if cached is not None and now - cached[0] < settings.PLEDGE_POLICY_CACHE_SECONDS:
        return cached[1]
    from pledge.policy.services import active_version, policy_of

    shop = settings.PLEDGE_SHOP
    if not shop:
        latest = PolicyVersion.objects.order_by("-published_at").only("shop").first()
        shop = latest.shop if latest is not None else ""
    version = active_version(shop) if shop else None
    if version is None:
        raise NoPolicyInForce(
            "no privacy policy is in force: publish one with `pledge policy publish`"
        )
    if cached is not None and cached[1].content_hash == version.content_hash:
        compiled = cached[1]
    else:
        compiled = compile_policy(
            policy_of(version), version=version.version, content_hash=version.content_hash
        )
    with _lock:
        _cache = (now, compiled)
    return compiled


def clear_policy_cache() -> None:
    global _cache
    with _lock:
        _cache = None
