"""Read-only queries of the policy app."""

from __future__ import annotations

from django.conf import settings

from pledge.policy.models import PolicyVersion
from pledge.policy.render import VersionRow
from pledge.policy.schema import Policy
from pledge.policy.services import active_version, policy_of, today


def version_rows(shop: str) -> list[VersionRow]:
    day = today()
    current = active_version(shop, day)
    return [
        VersionRow(
            version=v.version,
            effective_date=v.effective_date,
            material=v.material,
            content_hash=v.content_hash,
            current=current is not None and v.pk == current.pk,
            upcoming=v.effective_date > day,
        )
        for v in PolicyVersion.objects.filter(shop=shop).order_by(
            "-effective_date", "-published_at"
        )
    ]


def current_policy() -> tuple[Policy, list[VersionRow]] | None:
    """The policy in force today and the version history of its shop; None if none is published."""
    # One Pledge instance serves one shop: PLEDGE_SHOP, or else the shop published last.
    shop = settings.PLEDGE_SHOP
    if not shop:
        latest = PolicyVersion.objects.order_by("-published_at").only("shop").first()
        shop = latest.shop if latest is not None else ""
    version = active_version(shop) if shop else None
    if version is None:
        return None
    return policy_of(version), version_rows(version.shop)
