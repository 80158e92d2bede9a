"""The cookie banner's endpoints, called from the shop's own site (P07, P08; docs/banner.md).

- `banner.js`, `banner.css`: the two hand-written assets (assets/), with a cache header.
- `config.json`: what the banner shows, from the policy in force (banner.py), readable
  cross-origin by the shop's site only (CORS).
- `choices`: each choice, recorded in the consent ledger against an anonymous visitor (or the
  signed-in customer on Pledge's own pages).
- `beacon`: an anonymous page-view counter (beacon.py).

Errors are RFC 9457 problem documents in the API's format (`{type, title, status, detail,
errors: [{field, rule, message}]}`), in English like the API's: the banner never shows them.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from pledge.consent.banner import (
    BANNER_LANGUAGES,
    NECESSARY,
    allowed_origins,
    banner_language,
    build_config,
    consent_categories,
    notice_text,
    origin_of,
)
from pledge.consent.beacon import BadPath, count_page_view, normalise_path
from pledge.consent.errors import ConsentError
from pledge.consent.services import record_cookie_choice, visitor_key
from pledge.policy.enforcement import EnforcedPolicy, NoPolicyInForce, enforced_policy

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "tag:pledge,2026:problems/"

# A choice is a handful of booleans: anything larger is not from the banner.
MAX_CHOICES_BYTES = 4096
CHOICE_FIELDS = frozenset({"visitor", "choices", "method", "language", "policy_hash"})
EXPLICIT_METHODS = {
    "banner_accept_all": True,  # every category given
    "banner_reject_all": False,  # every category refused
    "banner_custom": None,  # each as chosen
}
GPC_METHOD = "gpc"
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
HASH_TEXT = re.compile(r"[0-9a-f]{64}")
# The config changes when a policy is published: browsers and proxies keep it one minute.
CONFIG_CACHE_CONTROL = "public, max-age=60"
ASSET_CACHE_CONTROL = "public, max-age=3600"


# -- problems and CORS ---------------------------------------------------------------------------


def problem(
    status: int, code: str, detail: str, *, field: str | None = None, rule: str | None = None
) -> HttpResponse:
    """A problem+json answer naming the field at fault (never echoing a value it holds)."""
    body = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": code.replace("-", " ").capitalize(),
        "status": status,
        "detail": detail,
        "errors": [{"field": field, "rule": rule or code.replace("-", "_"), "message": detail}],
    }
    response = HttpResponse(
        json.dumps(body), status=status, content_type=f"{PROBLEM_CONTENT_TYPE}; charset=utf-8"
    )
    response["Cache-Control"] = "no-store"
    return response


def _own_origin(request: HttpRequest) -> str | None:
    return origin_of(request.build_absolute_uri("/"))


def _origin_allowed(origin: str, request: HttpRequest, enforced: EnforcedPolicy) -> bool:
    normalised = origin_of(origin)  # "null" (sandboxed frames, file:) is never allowed
    if normalised is None:
        return False
    return normalised == _own_origin(request) or normalised in allowed_origins(enforced)


def _allow_origin(response: HttpResponse, origin: str | None) -> HttpResponse:
    """Let the shop's page read the answer. Credentials are never allowed cross-origin: the
    only credential Pledge knows, the privacy-center session, is used on its own pages only."""
    if origin is not None:
        response["Access-Control-Allow-Origin"] = origin
    patch_vary_headers(response, ("Origin",))
    return response


def _policy() -> EnforcedPolicy | HttpResponse:
    try:
        return enforced_policy()
    except NoPolicyInForce:
        return problem(
            503,
            "no-policy-in-force",
            "no privacy policy is published yet, so the banner has nothing to ask",
        )


def _policy_url(request: HttpRequest, language: str) -> str:
    path = f"{reverse('policy:page')}?lang={language}"
    if settings.PLEDGE_PUBLIC_URL:
        return settings.PLEDGE_PUBLIC_URL + path
    return request.build_absolute_uri(path)


# -- the assets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    etag: str
    content_type: str


@functools.cache
def load_asset(name: str) -> Asset:
    body = (ASSETS_DIR / name).read_bytes()
    content_type = {
        "banner.js": "text/javascript; charset=utf-8",
        "banner.css": "text/css; charset=utf-8",
    }[name]
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return Asset(body, gzip.compress(body, 9, mtime=0), etag, content_type)


def _serve_asset(request: HttpRequest, name: str) -> HttpResponse:
    asset = load_asset(name)
    if request.headers.get("If-None-Match") == asset.etag:
        response: HttpResponse = HttpResponseNotModified()
    else:
        accepts_gzip = "gzip" in request.headers.get("Accept-Encoding", "")
        response = HttpResponse(
            asset.gzipped if accepts_gzip else asset.body, content_type=asset.content_type
        )
        if accepts_gzip:
            response["Content-Encoding"] = "gzip"
    response["ETag"] = asset.etag
    response["Cache-Control"] = ASSET_CACHE_CONTROL
    response["X-Content-Type-Options"] = "nosniff"
    # Loaded by the shop's pages: let sites that isolate themselves (COEP) embed it.
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    patch_vary_headers(response, ("Accept-Encoding",))
    return response


@require_safe
def banner_js(request: HttpRequest) -> HttpResponse:
    return _serve_asset(request, "banner.js")


@require_safe
def banner_css(request: HttpRequest) -> HttpResponse:
    return _serve_asset(request, "banner.css")


# -- config.json ---------------------------------------------------------------------------------


@require_safe
def config(request: HttpRequest) -> HttpResponse:
    enforced = _policy()
    if isinstance(enforced, HttpResponse):
        return enforced
    language = banner_language(request.GET.get("lang"), enforced)
    if language is None:
        return problem(
            400,
            "bad-language",
            f"lang must be one of: {', '.join(BANNER_LANGUAGES)}, or left out",
            field="lang",
            rule="choice",
        )
    body = build_config(
        enforced,
        language,
        policy_url=_policy_url(request, language),
        gpc_signal=request.headers.get("Sec-GPC", "").strip() == "1",
    )
    payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    etag = '"' + hashlib.sha256(payload).hexdigest()[:32] + '"'
    response = (
        HttpResponseNotModified()
        if request.headers.get("If-None-Match") == etag
        else HttpResponse(payload, content_type="application/json; charset=utf-8")
    )
    response["ETag"] = etag
    response["Cache-Control"] = CONFIG_CACHE_CONTROL
    patch_vary_headers(response, ("Sec-GPC",))
    origin = request.headers.get("Origin")
    allowed = origin if origin is not None and _origin_allowed(origin, request, enforced) else None
    return _allow_origin(response, allowed)


# -- choices -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    visitor: uuid.UUID
    choices: dict[str, bool]
    method: str
    language: str


class BadChoice(Exception):
    def __init__(self, status: int, code: str, detail: str, field: str | None, rule: str):
        super().__init__(detail)
        self.response = problem(status, code, detail, field=field, rule=rule)


def _bad(field: str | None, rule: str, detail: str) -> BadChoice:
    return BadChoice(400, "invalid-choice", detail, field, rule)


def _field_name(key: str) -> str:
    return key if len(key) <= 40 else key[:40] + "…"


def parse_choice(data: Any, enforced: EnforcedPolicy) -> Choice:
    """Validate a posted choice strictly; raise BadChoice naming the first field at fault."""
    if not isinstance(data, dict):
        raise _bad(None, "type", "the body must be a JSON object")
    for key in data:
        if key not in CHOICE_FIELDS:
            raise _bad(_field_name(key), "unknown_field", f"unknown field {_field_name(key)!r}")
    for key in sorted(CHOICE_FIELDS):
        if key not in data:
            raise _bad(key, "required", f"{key} is required")
    visitor = data["visitor"]
    if not isinstance(visitor, str) or not UUID_TEXT.fullmatch(visitor):
        raise _bad("visitor", "uuid", "visitor must be a UUID in lower-case hex (8-4-4-4-12)")
    method = data["method"]
    if method not in (*EXPLICIT_METHODS, GPC_METHOD):
        raise _bad("method", "choice", f"method must be one of: {', '.join(EXPLICIT_METHODS)}, gpc")
    language = data["language"]
    if language not in BANNER_LANGUAGES:
        raise _bad("language", "choice", f"language must be one of: {', '.join(BANNER_LANGUAGES)}")
    policy_hash = data["policy_hash"]
    if not isinstance(policy_hash, str) or not HASH_TEXT.fullmatch(policy_hash):
        raise _bad("policy_hash", "sha256", "policy_hash must be 64 lower-case hex digits")
    if policy_hash != enforced.content_hash:
        # The banner showed an older version: it fetches the config again and asks anew (P24).
        raise BadChoice(
            409,
            "stale-policy",
            "a newer policy version is in force; show the banner again with its config",
            "policy_hash",
            "current",
        )
    return Choice(
        uuid.UUID(visitor), _parse_categories(data["choices"], method, enforced), method, language
    )


def _parse_categories(raw: Any, method: str, enforced: EnforcedPolicy) -> dict[str, bool]:
    if not isinstance(raw, dict):
        raise _bad("choices", "type", "choices must be an object of category: true|false")
    asked = consent_categories(enforced)
    chosen: dict[str, bool] = {}
    for key, value in raw.items():
        name = f"choices.{_field_name(key)}"
        if key == NECESSARY:
            if value is not True:
                raise _bad(name, "required", "strictly necessary cookies cannot be refused")
            continue  # always on; nothing to record
        if key not in asked:
            raise _bad(name, "unknown_category", f"{name} is not a cookie category of the policy")
        if not isinstance(value, bool):
            raise _bad(name, "boolean", f"{name} must be true or false")
        chosen[key] = value
    if method == GPC_METHOD:
        # A Global Privacy Control signal can only refuse (LAW.md, Cookies).
        if not chosen or any(chosen.values()):
            raise _bad("choices", "gpc_refusal", "a gpc choice refuses categories, never gives")
        return chosen
    missing = [k for k in asked if k not in chosen]
    if missing:
        raise _bad(f"choices.{missing[0]}", "required", f"choices.{missing[0]} is required")
    everything = EXPLICIT_METHODS[method]
    if everything is not None and any(v is not everything for v in chosen.values()):
        raise _bad("choices", "method", f"{method} must set every category to {everything}")
    return chosen


def _read_json(request: HttpRequest) -> Any:
    if request.content_type != "application/json":
        raise BadChoice(
            415,
            "unsupported-media-type",
            "send the choice as application/json",
            "Content-Type",
            "media_type",
        )
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_CHOICES_BYTES:
        raise BadChoice(
            413, "body-too-large", f"at most {MAX_CHOICES_BYTES} bytes", None, "max_body_size"
        )
    raw = request.read(MAX_CHOICES_BYTES + 1)
    if len(raw) > MAX_CHOICES_BYTES:
        raise BadChoice(
            413, "body-too-large", f"at most {MAX_CHOICES_BYTES} bytes", None, "max_body_size"
        )
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _bad(None, "json", "the body is not valid UTF-8 JSON") from None


def _preflight(request: HttpRequest, origin: str | None) -> HttpResponse:
    if origin is None or request.headers.get("Access-Control-Request-Method") != "POST":
        return problem(
            400,
            "bad-preflight",
            "a CORS preflight needs Origin and Access-Control-Request-Method: POST",
            field="Access-Control-Request-Method",
            rule="cors",
        )
    response = HttpResponse(status=204)
    response["Access-Control-Allow-Methods"] = "POST"
    response["Access-Control-Allow-Headers"] = "Content-Type"
    response["Access-Control-Max-Age"] = "600"
    return _allow_origin(response, origin)


# CSRF-exempt because the shop's site posts here cross-origin with JSON and cannot hold our CSRF
# token. That is safe: an anonymous choice carries no ambient authority (the visitor id travels
# in the body, not in a cookie of ours), and the one ambient credential Pledge has, the
# privacy-center session, is honoured only when the browser's Origin header says the request
# comes from Pledge's own pages (browsers set Origin on every POST and scripts cannot forge it).
@csrf_exempt
@require_http_methods(["POST", "OPTIONS"])
def choices(request: HttpRequest) -> HttpResponse:
    enforced = _policy()
    if isinstance(enforced, HttpResponse):
        return enforced
    origin = request.headers.get("Origin")
    if origin is not None and not _origin_allowed(origin, request, enforced):
        return _allow_origin(
            problem(
                403,
                "origin-not-allowed",
                "this site may not post cookie choices; add its origin to PLEDGE_BANNER_ORIGINS",
                field="Origin",
                rule="cors",
            ),
            None,
        )
    if request.method == "OPTIONS":
        return _preflight(request, origin)
    same_origin = origin is not None and origin_of(origin) == _own_origin(request)
    try:
        choice = parse_choice(_read_json(request), enforced)
        recorded = _record(request, choice, enforced, same_origin=same_origin)
    except BadChoice as bad:
        return _allow_origin(bad.response, origin)
    except ConsentError as refused:
        # The ledger's own checks (parse_choice has already applied the same rules).
        response = problem(
            refused.status,
            "invalid-choice",
            refused.message,
            field=refused.field,
            rule=refused.rule,
        )
        return _allow_origin(response, origin)
    response = HttpResponse(
        json.dumps({"recorded": recorded, "choices": choice.choices}),
        content_type="application/json",
    )
    response["Cache-Control"] = "no-store"
    return _allow_origin(response, origin)


def _record(
    request: HttpRequest, choice: Choice, enforced: EnforcedPolicy, *, same_origin: bool
) -> int:
    customer = None
    if same_origin:
        # Imported here: the consent app otherwise never depends on the privacy center's face.
        from pledge.portal.access import customer_context

        customer = customer_context(request)
    if customer is not None:
        subject: Mapping[str, Any] = {"visitor_id": None, "customer_id": customer.customer_id}
        actor = customer.actor.label
    else:
        subject = {"visitor_id": str(choice.visitor), "customer_id": None}
        # The audit actor names the visitor by the ledger's HMAC, never by the id in the cookie.
        actor = f"visitor:{visitor_key(str(choice.visitor))[:12]}"
    config = build_config(
        enforced, choice.language, policy_url=_policy_url(request, choice.language)
    )
    text = notice_text(config)
    # A GPC refusal is recorded once: the ledger writes nothing when a category's state, policy
    # version and notice are unchanged, so a repeated signal adds no event.
    if choice.method == GPC_METHOD:
        text += "\n" + config["texts"]["gpc_note"]
    events = record_cookie_choice(
        **subject,
        choices=choice.choices,
        method=choice.method,
        language=choice.language,
        actor=actor,
        notice_text=text,
    )
    return len(events)


# -- the beacon ----------------------------------------------------------------------------------


# P08: the view reads the `p` parameter and nothing else of the request: no cookie (it never
# touches request.COOKIES), no address, no user agent, no referrer. CSRF-exempt because it is
# called with navigator.sendBeacon/fetch from the shop's site and changes nothing but a count.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def beacon(request: HttpRequest) -> HttpResponse:
    raw = request.GET.get("p")
    if raw is None:
        return problem(400, "bad-path", "p (the page path) is required", field="p", rule="required")
    try:
        path = normalise_path(raw)
    except BadPath as bad:
        return problem(400, "bad-path", str(bad), field="p", rule="path")
    count_page_view(path)
    response = HttpResponse(status=204)
    response["Cache-Control"] = "no-store"
    return response
