"""Who works the complaints desk (issue 7; P06, P09, P21).

Handlers are the roles the policy gives its `complaints` purpose: they read a complaint's thread
and answer it (the vault's checks enforce the same on every read and write). The owner (the role
that manages staff; Decree 356/2025 Art 5: it answers for the controller) is told when a complaint
runs late, so it sees the queue's times and the reports, which hold no personal data, even where
the policy does not let it read the texts.
"""

from __future__ import annotations

from pledge.policy.enforcement import EnforcedPolicy

PURPOSE = "complaints"


def handler_roles(enforced: EnforcedPolicy) -> frozenset[str]:
    return frozenset(enforced.roles.get(PURPOSE, ()))


def overseer_roles(enforced: EnforcedPolicy) -> frozenset[str]:
    """Handlers and the owner: who sees the queue and the reports (no personal data)."""
    owners = {r.key for r in enforced.policy.roles if "manage_staff" in r.console}
    return handler_roles(enforced) | frozenset(owners)
