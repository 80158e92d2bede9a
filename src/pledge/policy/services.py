"""State changes of the policy app: publishing a version (P24)."""

from __future__ import annotations

import datetime as dt
import json

from django.db import transaction
from django.utils import timezone

from pledge.policy.enforcement import clear_policy_cache
from pledge.policy.loader import LoadedPolicy, canonical_json
from pledge.policy.models import PolicyVersion
from pledge.policy.schema import Policy


class PublishRefused(Exception):
    """Publishing would break a rule; the message says which and what to do."""


def today() -> dt.date:
    return timezone.localdate()


@transaction.atomic
def publish_policy(
    loaded: LoadedPolicy,
    *,
    actor: str,
    effective_date: dt.date | None = None,
    material: bool = False,
) -> PolicyVersion:
    """Record a version of the policy. Content, version label and hash are each published once.

    P24 (seed C): a material change is announced in advance, so its effective date must leave the
    notice period the policy promises (`changes.advance_notice_days`) after today.
    """
    policy = loaded.policy
    effective = effective_date or policy.effective_date
    digest = loaded.content_hash
    existing = PolicyVersion.objects.select_for_update().filter(shop=policy.shop)
    same = existing.filter(content_hash=digest).first()
    if same is not None:
        raise PublishRefused(
            f"this exact policy is already published as version {same.version!r} "
            f"(effective {same.effective_date.isoformat()})"
        )
    if existing.filter(version=policy.version).exists():
        raise PublishRefused(
            f"version {policy.version!r} is already published with different content; "
            "change `version` in the policy file"
        )
    if material and existing.exists():
        notice_days = policy.changes.advance_notice_days if policy.changes else 0
        earliest = today() + dt.timedelta(days=notice_days)
        if effective < earliest:
            raise PublishRefused(
                f"a material change needs {notice_days} days' advance notice (P24, "
                f"changes.advance_notice_days): use --effective {earliest.isoformat()} or later"
            )
    # Enforcement follows the new version as soon as it is committed (this process at once,
    # others within PLEDGE_POLICY_CACHE_SECONDS).
    transaction.on_commit(clear_policy_cache)
    return PolicyVersion.objects.create(
        shop=policy.shop,
        version=policy.version,
        content_hash=digest,
        content=canonical_content(policy),
        source_text=loaded.text,
        effective_date=effective,
        material=material,
        published_by=actor,
    )


def canonical_content(policy: Policy) -> dict[str, object]:
    content: dict[str, object] = json.loads(canonical_json(policy))
    return content


def active_version(shop: str | None = None, on: dt.date | None = None) -> PolicyVersion | None:
    """The version in force on `on` (today by default): the latest effective on or before it."""
    day = on or today()
    qs = PolicyVersion.objects.filter(effective_date__lte=day)
    if shop is not None:
        qs = qs.filter(shop=shop)
    return qs.order_by("-effective_date", "-published_at").first()


def policy_of(version: PolicyVersion) -> Policy:
    return Policy.model_validate_json(json.dumps(version.content, ensure_ascii=False))
