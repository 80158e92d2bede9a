"""The storefront's backend: it sends the checkout to Pledge's REST API over HTTP, as a shop would.

Only the public API, with the storefront's scoped key (keys.py): the demo shows the path a real
shop's backend takes (docs/api.md), and gets no more power than one. Nothing here reads or writes
the vault directly.

The key never leaves for a host the operator did not choose: the API address is
`PLEDGE_PUBLIC_URL`, or else this server's own address as the request names it (which Django
checks against ALLOWED_HOSTS; with a wildcard there, PLEDGE_PUBLIC_URL is required). Redirects are
not followed, and no proxy from the environment is used.
"""

from __future__ import annotations

import json
import logging
import secrets
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from http.client import HTTPResponse
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest

from pledge.demoshop.storefront import CONSENT_METHOD, ORDER_PURPOSE, PRODUCT, Checkout

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
TIMEOUT_SECONDS = 5.0
# A problem document is small; anything longer is cut (and then unreadable, hence generic).
MAX_ANSWER_BYTES = 64 * 1024


class ApiUnreachable(Exception):
    """Pledge's API did not answer (down, wrong address, timeout) or answered nonsense."""


class ApiAddressUnsafe(Exception):
    """No safe address to send the key to: PLEDGE_PUBLIC_URL must be set."""


@dataclass(frozen=True)
class ProblemItem:
    field: str | None
    rule: str


class ApiRefused(Exception):
    """The API answered with a problem document (RFC 9457)."""

    def __init__(
        self, status: int, problem_type: str, errors: list[ProblemItem], step: str
    ) -> None:
        self.status = status
        self.problem_type = problem_type
        self.errors = errors
        # Which call was refused: "customer", "order" or "consent".
        self.step = step
        rules = ", ".join(f"{e.field or '-'}:{e.rule}" for e in errors)
        super().__init__(f"{step} refused with {status} {problem_type} ({rules})")


def api_base(request: HttpRequest) -> str:
    """`https://pledge.example/api/v1` from PLEDGE_PUBLIC_URL, else from this request's host."""
    public = str(settings.PLEDGE_PUBLIC_URL or "").rstrip("/")
    if public:
        base = public
    else:
        if any(host == "*" or host.startswith(".") for host in settings.ALLOWED_HOSTS):
            # Any Host header would be accepted, so the request could name a host of its choice
            # and receive the storefront's key.
            raise ApiAddressUnsafe("set PLEDGE_PUBLIC_URL: ALLOWED_HOSTS accepts any host")
        base = request.build_absolute_uri("/").rstrip("/")
        # Django checks the Host header's name against ALLOWED_HOSTS but not its port, so
        # "Host: localhost:6379" would send the key to any port of an allowed host. Only the
        # port this request arrived on is this server.
        named = urlsplit(base)
        try:
            port = named.port or (443 if named.scheme == "https" else 80)
        except ValueError:
            port = None
        if str(port) != str(request.META.get("SERVER_PORT", "")):
            raise ApiAddressUnsafe(
                "set PLEDGE_PUBLIC_URL: the port the request names is not the one it arrived on"
            )
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ApiAddressUnsafe("PLEDGE_PUBLIC_URL must be an http:// or https:// address")
    return base + API_PREFIX


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        # A redirect would carry the Authorization header elsewhere: treat it as an answer.
        return None


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


class PledgeApi:
    """A minimal JSON client of /api/v1 with one key."""

    def __init__(self, base: str, token: str, *, timeout: float = TIMEOUT_SECONDS) -> None:
        self.base = base
        self.token = token
        self.timeout = timeout

    def call(self, method: str, path: str, body: Mapping[str, Any], *, step: str) -> Any:
        # api_base() allows http:// and https:// addresses only.
        request = urllib.request.Request(  # noqa: S310
            self.base + path,
            data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "Accept": "application/json, application/problem+json",
            },
        )
        try:
            response: HTTPResponse = _opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as error:
            raise self._refusal(error, step) from None
        except (urllib.error.URLError, OSError) as error:
            # The reason only: the URL is ours, the body holds personal data, never logged.
            logger.warning("demo shop: Pledge API unreachable (%s)", type(error).__name__)
            raise ApiUnreachable(type(error).__name__) from None
        with response:
            raw = response.read(MAX_ANSWER_BYTES)
            status = response.status
        if status == 204:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            logger.warning("demo shop: Pledge API answered %s without JSON", status)
            raise ApiUnreachable("not JSON") from None

    def _refusal(self, error: urllib.error.HTTPError, step: str) -> ApiRefused | ApiUnreachable:
        try:
            raw = error.read(MAX_ANSWER_BYTES)
            document = json.loads(raw)
        except (OSError, ValueError):
            document = None
        finally:
            error.close()
        if not isinstance(document, dict) or not isinstance(document.get("errors"), list):
            # Not Pledge's problem document: a proxy's page, a redirect, another server.
            logger.warning("demo shop: Pledge API answered %s without a problem", error.code)
            return ApiUnreachable(f"HTTP {error.code}")
        items = [
            ProblemItem(
                field=item.get("field") if isinstance(item.get("field"), str) else None,
                rule=str(item.get("rule", "")),
            )
            for item in document["errors"]
            if isinstance(item, dict)
        ]
        refused = ApiRefused(error.code, str(document.get("type", "")), items, step)
        # Field names and rule codes only: problem documents never hold request values.
        logger.info("demo shop: %s", refused)
        return refused


@dataclass
class CheckoutResult:
    """What the backend did: shown on the confirmation page."""

    customer_id: uuid.UUID
    sent: dict[str, str]
    order_number: str | None = None
    total: Decimal = Decimal("0")
    consent_given: bool = False
    # Later steps ("order", "consent") that failed after the customer was recorded: shown to the
    # customer, not hidden.
    failures: list[tuple[str, ApiRefused | ApiUnreachable]] = field(default_factory=list)


def _created_id(answer: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(answer["id"]))
    except (TypeError, KeyError, ValueError):
        raise ApiUnreachable("no id in the answer") from None


def send_checkout(
    api: PledgeApi,
    checkout: Checkout,
    values: Mapping[str, str],
    *,
    quantity: int,
    consent: bool,
) -> CheckoutResult:
    """Collect the customer for the order purpose, place the order, record the optional consent.

    `values` holds exactly the checkout's fields (the view refused anything else, P01); each call
    sends only the fields the policy declares for its purpose and record.
    """
    sent = {key: values[key] for key in checkout.fields}
    answer = api.call(
        "POST",
        "/customers",
        {"purpose": ORDER_PURPOSE, "fields": sent, "language": checkout.language},
        step="customer",
    )
    result = CheckoutResult(customer_id=_created_id(answer), sent=sent)
    if checkout.places_order:
        number = f"DEMO-{secrets.token_hex(5).upper()}"
        total = PRODUCT.price * quantity
        try:
            api.call(
                "POST",
                f"/customers/{result.customer_id}/orders",
                {
                    "purpose": ORDER_PURPOSE,
                    "number": number,
                    "items": [
                        {
                            "sku": PRODUCT.sku,
                            "name": str(PRODUCT.name),
                            "quantity": quantity,
                            "unit_price": str(PRODUCT.price),
                        }
                    ],
                    "total": str(total),
                    "currency": PRODUCT.currency,
                    "fields": {key: sent[key] for key in checkout.order_fields},
                },
                step="order",
            )
        except (ApiRefused, ApiUnreachable) as failure:
            result.failures.append(("order", failure))
        else:
            result.order_number = number
            result.total = total
    if consent and checkout.consent_purpose is not None:
        # P04: the box was ticked, so the consent travels with the fields it covers; the vault
        # writes the `given` event to the ledger in the same transaction.
        try:
            api.call(
                "PATCH",
                f"/customers/{result.customer_id}",
                {
                    "purpose": checkout.consent_purpose,
                    "fields": {key: sent[key] for key in checkout.consent_fields},
                    "consent": {"method": CONSENT_METHOD},
                },
                step="consent",
            )
        except (ApiRefused, ApiUnreachable) as failure:
            result.failures.append(("consent", failure))
        else:
            result.consent_given = True
    return result
