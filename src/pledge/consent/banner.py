"""What the cookie banner shows and asks, built from the policy in force (P07; LAW.md, Cookies).

The banner (assets/banner.js) runs on the shop's own site and fetches `config.json`, built here:
the cookie categories and services of `policy.cookies` in the visitor's language, the banner's
own texts through Django's translation, the policy version and content hash (a new hash makes
the banner ask again, P24), and whether Global Privacy Control is honoured.

The same builder gives the ledger the exact text a visitor saw (`notice_text`), so a recorded
choice can be reproduced word for word (LAW.md, Consent: "store the exact notice text").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import translation
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from pledge.policy.enforcement import EnforcedPolicy
from pledge.policy.vocabulary import COOKIE_CATEGORIES

# The only cookie the banner sets: strictly necessary, first-party on the shop's site, holding a
# random visitor id, the policy content hash and the choices (docs/banner.md).
CONSENT_COOKIE = "pledge_consent"
NECESSARY = "necessary"
# The banner's texts exist in these languages; category texts come from the policy, which gives
# every text in both (schema.Text).
BANNER_LANGUAGES = ("vi", "en")


@dataclass(frozen=True)
class BannerCategory:
    key: str
    # False only for `necessary`: see `consent_categories` for why the policy cannot say otherwise.
    needs_consent: bool


def banner_categories(enforced: EnforcedPolicy) -> list[BannerCategory]:
    cookies = enforced.policy.cookies
    if cookies is None:
        return []
    # Legal floor (LAW.md, Cookies; ePrivacy Art 5(3); PDPL: processing needs consent): every
    # category but the strictly necessary one waits for the visitor's choice, even where the
    # policy says `prior_consent: false` (preset B copies its seed, which sets them at once; the
    # linter flags it as PL007). A policy may promise more than the law, never less, so the
    # banner ignores that flag instead of setting cookies before a choice.
    return [BannerCategory(c.key, needs_consent=c.key != NECESSARY) for c in cookies.categories]


def consent_categories(enforced: EnforcedPolicy) -> list[str]:
    """The category keys a visitor is asked about (all but `necessary`)."""
    return [c.key for c in banner_categories(enforced) if c.needs_consent]


def honours_gpc(enforced: EnforcedPolicy) -> bool:
    # LAW.md, Cookies: GPC is a refusal of advertising and sharing where no explicit choice
    # exists. The policy page states whether it is honoured (policy/render.py); the banner does
    # exactly what the page says. Without a cookies section there is nothing to refuse.
    cookies = enforced.policy.cookies
    return cookies.honour_gpc if cookies is not None else False


def banner_language(requested: str | None, enforced: EnforcedPolicy) -> str | None:
    """The language to answer in, or None when `requested` is not one the banner speaks."""
    if not requested:
        return enforced.policy.default_language
    return requested if requested in BANNER_LANGUAGES else None


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of an absolute http(s) URL, lower-cased; None for anything else."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default_port = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname.lower()
    if ":" in host:  # an IPv6 literal keeps its brackets in an origin
        host = f"[{host}]"
    suffix = f":{port}" if port is not None and port != default_port else ""
    return f"{parts.scheme}://{host}{suffix}"


def allowed_origins(enforced: EnforcedPolicy) -> frozenset[str]:
    """Sites that may read the config and post choices: the shop's website named in the policy
    and the origins configured in PLEDGE_BANNER_ORIGINS (same-origin pages are always allowed)."""
    candidates = [enforced.policy.controller.website, *settings.PLEDGE_BANNER_ORIGINS]
    origins = set()
    for candidate in candidates:
        # The policy may write the website without a scheme ("leman.jewelry"): take it as https.
        url = candidate if "://" in candidate else f"https://{candidate}"
        origin = origin_of(url)
        if origin is not None:
            origins.add(origin)
    return frozenset(origins)


def _banner_texts(shop: str) -> dict[str, str]:
    return {
        "title": _("Cookies on %(shop)s") % {"shop": shop},
        "intro": _(
            "We use strictly necessary cookies to run this site. With your permission we would "
            "also use the cookies below. You can accept or reject them all, or choose in "
            "Preferences, and change your mind at any time."
        ),
        "accept_all": _("Accept all"),
        "reject_all": _("Reject all"),
        "preferences": _("Preferences"),
        "preferences_title": _("Cookie preferences"),
        "save": _("Save my choices"),
        "back": _("Back"),
        "always_on": _("Always on"),
        "provider": _("Provider"),
        "policy_link": _("Privacy policy"),
        "gpc_note": _(
            "Your browser sent a Global Privacy Control signal, so advertising cookies are "
            "refused. You can still choose the others."
        ),
    }


def build_config(
    enforced: EnforcedPolicy, language: str, *, policy_url: str, gpc_signal: bool = False
) -> dict[str, Any]:
    """The banner's configuration in `language` (a JSON-ready dict)."""
    policy = enforced.policy
    shop = policy.controller.trade_name or policy.name
    categories: list[dict[str, Any]] = []
    cookies = policy.cookies
    with translation.override(language):
        if cookies is not None:
            for category in cookies.categories:
                categories.append(
                    {
                        "key": category.key,
                        "label": capfirst(str(COOKIE_CATEGORIES[category.key])),
                        "description": category.description.get(language),
                        "required": category.key == NECESSARY,
                        "services": [
                            {
                                "name": s.name.get(language),
                                "provider": s.provider.get(language),
                                "description": s.description.get(language),
                            }
                            for s in category.services
                        ],
                    }
                )
        texts = _banner_texts(shop)
    return {
        "version": enforced.version,
        "hash": enforced.content_hash,
        "language": language,
        "gpc": honours_gpc(enforced),
        # The config request itself carried `Sec-GPC: 1` (a browser whose script cannot see
        # navigator.globalPrivacyControl still sends the header).
        "gpc_signal": gpc_signal,
        "policy_url": policy_url,
        # Lifetime of the consent cookie (its name is fixed: CONSENT_COOKIE).
        "cookie_days": settings.PLEDGE_COOKIE_CONSENT_DAYS,
        "categories": categories,
        "texts": texts,
    }


def notice_text(config: dict[str, Any]) -> str:
    """The exact text of the banner as the visitor saw it, for the consent ledger.

    Built from the same config the banner rendered (and so reproducible from the policy version
    and the translation catalogue): title, introduction, then each category with its services.
    """
    texts = config["texts"]
    lines = [texts["title"], texts["intro"]]
    for category in config["categories"]:
        suffix = f" ({texts['always_on']})" if category["required"] else ""
        lines.append(f"{category['label']}{suffix}: {category['description']}")
        for service in category["services"]:
            lines.append(
                f"- {service['name']} ({texts['provider']}: {service['provider']}): "
                f"{service['description']}"
            )
    return "\n".join(lines)
