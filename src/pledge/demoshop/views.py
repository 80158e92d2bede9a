"""The demo storefront (/demo-shop/): a product page with the cookie banner and a checkout whose
backend sends the order to Pledge's REST API, the whole path a new user should see (issue 5).

Thin views: the form comes from the policy (storefront.py), the API calls from backend.py. The
checkout answers on the POST itself rather than redirecting: what was sent is personal data, and
keeping it for a following GET would mean storing it in plaintext in the session table.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from pledge.demoshop import messages
from pledge.demoshop.backend import (
    ApiAddressUnsafe,
    ApiRefused,
    ApiUnreachable,
    PledgeApi,
    api_base,
    send_checkout,
)
from pledge.demoshop.keys import KeyMissing, KeyUnsafe, key_file, storefront_token
from pledge.demoshop.storefront import (
    MAX_QUANTITY,
    PRODUCT,
    Checkout,
    CheckoutUnavailable,
    build_checkout,
    key_purposes,
)
from pledge.policy.enforcement import NoPolicyInForce, enforced_policy
from pledge.policy.schema import Policy

logger = logging.getLogger(__name__)

LANGUAGE_COOKIE = settings.LANGUAGE_COOKIE_NAME
# Form keys besides the checkout's fields. Anything else is refused, never forwarded (P01).
CONSENT_KEY = "consent"
QUANTITY_KEY = "quantity"
FORM_KEYS = frozenset({"csrfmiddlewaretoken", CONSENT_KEY, QUANTITY_KEY})
# Far above any field's own limit (the vault's are 200-2000 characters): only keeps a hostile
# post from becoming a large API request; the API names the precise limit.
MAX_VALUE_LENGTH = 4000


class FormState:
    """What the customer typed and what is wrong with it, to render the form again."""

    def __init__(self, checkout: Checkout) -> None:
        self.checkout = checkout
        self.values: dict[str, str] = dict.fromkeys(checkout.fields, "")
        self.errors: dict[str, list[str]] = {}
        self.general: list[str] = []
        self.quantity = 1
        self.consent = False

    def add(self, field: str | None, message: str) -> None:
        if field in self.values or field == QUANTITY_KEY:
            self.errors.setdefault(str(field), []).append(message)
        else:
            self.general.append(message)

    @property
    def valid(self) -> bool:
        return not self.errors and not self.general

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "key": key,
                "label": self.checkout.labels[key],
                "value": self.values[key],
                "errors": self.errors.get(key, []),
                **messages.input_attributes(key),
            }
            for key in self.checkout.fields
        ]


def _policy() -> Policy | None:
    try:
        return enforced_policy().policy
    except NoPolicyInForce:
        return None


def _language(request: HttpRequest, policy: Policy | None) -> tuple[str, bool]:
    """The page's language and whether it was asked for explicitly (?lang=)."""
    languages = policy.languages if policy is not None else ["vi", "en"]
    requested = request.GET.get("lang", "")
    if requested in languages:
        return requested, True
    current = translation.get_language() or ""
    if current in languages:
        return current, False
    return (policy.default_language if policy is not None else "vi"), False


def _render(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    lang: str,
    explicit: bool,
    status: int = 200,
) -> HttpResponse:
    with translation.override(lang):
        response = render(request, template, {"lang": lang, **context}, status=status)
    response.headers["Content-Language"] = lang
    if explicit:
        # Remember an explicit choice, as the policy page does (LocaleMiddleware reads it).
        response.set_cookie(LANGUAGE_COOKIE, lang, max_age=365 * 24 * 3600, samesite="Lax")
    return response


def _page_context(policy: Policy, checkout: Checkout | None, lang: str) -> dict[str, Any]:
    with translation.override(lang):
        return {
            "shop": policy.name,
            "product": PRODUCT,
            "price": messages.money(PRODUCT.price, lang),
            "quantities": list(range(1, MAX_QUANTITY + 1)),
            "checkout": checkout,
            "key_command": _key_command(policy),
            "key_path": str(key_file()),
            "other_languages": [code for code in policy.languages if code != lang],
        }


def _key_command(policy: Policy) -> str:
    path = key_file()
    return (
        f"pledge apikey create --name demo-shop --purposes {','.join(key_purposes(policy))} "
        f"> {path} && chmod 600 {path}"
    )


def _unavailable(request: HttpRequest, policy: Policy | None) -> HttpResponse:
    lang, explicit = _language(request, policy)
    return _render(
        request, "demoshop/unavailable.html", {}, lang=lang, explicit=explicit, status=503
    )


@require_GET
def product(request: HttpRequest) -> HttpResponse:
    policy = _policy()
    if policy is None:
        return _unavailable(request, None)
    lang, explicit = _language(request, policy)
    try:
        checkout: Checkout | None = build_checkout(policy, lang)
    except CheckoutUnavailable:
        checkout = None
    context = _page_context(policy, checkout, lang)
    if checkout is not None:
        context["form"] = FormState(checkout)
    context["key_ready"] = _key_ready()
    return _render(request, "demoshop/product.html", context, lang=lang, explicit=explicit)


def _key_ready() -> bool:
    try:
        storefront_token()
    except (KeyMissing, KeyUnsafe):
        return False
    return True


def read_form(post: QueryDict, checkout: Checkout) -> FormState:
    """Parse the checkout post: only the declared fields, each once, within bounds."""
    form = FormState(checkout)
    unknown = sorted(key for key in post if key not in checkout.fields and key not in FORM_KEYS)
    if unknown:
        form.general.append(messages.not_collected(unknown))
    for key in checkout.fields:
        given = post.getlist(key)
        if len(given) > 1:
            form.add(key, messages.sent_twice())
            continue
        value = given[0] if given else ""
        form.values[key] = value[:MAX_VALUE_LENGTH]
        if not value.strip():
            form.add(key, messages.for_rule("required"))
        elif len(value) > MAX_VALUE_LENGTH:
            form.add(key, messages.for_rule("max_length"))
    quantities = post.getlist(QUANTITY_KEY)
    try:
        (quantity,) = quantities or ["1"]
        form.quantity = int(quantity)
        if not 1 <= form.quantity <= MAX_QUANTITY:
            raise ValueError
    except ValueError:
        form.quantity = 1
        form.add(QUANTITY_KEY, messages.bad_quantity(MAX_QUANTITY))
    consents = post.getlist(CONSENT_KEY)
    if checkout.consent_purpose is None and consents:
        form.general.append(messages.not_collected([CONSENT_KEY]))
    elif consents not in ([], ["yes"]):
        form.general.append(messages.bad_consent())
    form.consent = consents == ["yes"]
    return form


def _apply_refusal(form: FormState, refused: ApiRefused) -> int:
    """Show the API's problems on the form (per field where it names one); the page's status."""
    for item in refused.errors:
        # Body paths look like "fields.email" for shape errors, "email" for the vault's.
        name = (item.field or "").removeprefix("fields.")
        form.add(name if name in form.values else None, messages.for_rule(item.rule))
    if refused.status in (401, 403) or refused.status >= 500:
        # The storefront's key or the server, not the customer's input.
        form.general.append(messages.service_misconfigured())
        return 503
    return 422 if refused.status == 422 else 400


@never_cache
@require_http_methods(["GET", "POST"])
def checkout(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return HttpResponseRedirect(reverse("demoshop:product"))
    policy = _policy()
    if policy is None:
        return _unavailable(request, None)
    lang, explicit = _language(request, policy)
    try:
        spec = build_checkout(policy, lang)
    except CheckoutUnavailable:
        return _unavailable(request, policy)
    context = _page_context(policy, spec, lang)
    context["key_ready"] = True
    form = read_form(request.POST, spec)
    context["form"] = form
    if not form.valid:
        return _render(
            request, "demoshop/product.html", context, lang=lang, explicit=explicit, status=400
        )
    try:
        api = PledgeApi(api_base(request), storefront_token())
    except (KeyMissing, KeyUnsafe) as problem:
        logger.warning("demo shop: no usable API key (%s)", type(problem).__name__)
        context["key_ready"] = False
        context["key_problem"] = str(problem) if isinstance(problem, KeyUnsafe) else ""
        return _render(
            request, "demoshop/product.html", context, lang=lang, explicit=explicit, status=503
        )
    except ApiAddressUnsafe:
        form.general.append(messages.address_unsafe())
        return _render(
            request, "demoshop/product.html", context, lang=lang, explicit=explicit, status=503
        )
    values = {key: form.values[key] for key in spec.fields}
    try:
        with translation.override(lang):
            result = send_checkout(api, spec, values, quantity=form.quantity, consent=form.consent)
    except ApiRefused as refused:
        status = _apply_refusal(form, refused)
        return _render(
            request, "demoshop/product.html", context, lang=lang, explicit=explicit, status=status
        )
    except ApiUnreachable:
        form.general.append(messages.unreachable())
        return _render(
            request, "demoshop/product.html", context, lang=lang, explicit=explicit, status=503
        )
    context.update(_confirmation(spec, result.sent, lang))
    context["result"] = result
    context["total"] = messages.money(result.total, lang)
    context["failures"] = [messages.failure(step, f) for step, f in result.failures]
    context["register_url"] = reverse("portal:register")
    return _render(request, "demoshop/confirmation.html", context, lang=lang, explicit=explicit)


def _confirmation(spec: Checkout, sent: Mapping[str, str], lang: str) -> dict[str, Any]:
    return {
        "sent_rows": [{"label": spec.labels[key], "value": sent[key]} for key in spec.fields],
        "order_fields": [spec.labels[key] for key in spec.order_fields],
        "consent_fields": [spec.labels[key] for key in spec.consent_fields],
    }
