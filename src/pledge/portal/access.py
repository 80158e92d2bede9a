"""Who is signed in to the privacy center, and the wrapper every page behind the sign-in uses.

A customer acts on their own data only: the `Actor` is `customer:<customer id>`, and the vault's
`authorize` refuses any other customer's id (tested per page in tests/portal).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from pledge.accounts.models import CustomerAccount
from pledge.vault.access import Actor


@dataclass(frozen=True)
class CustomerContext:
    account: CustomerAccount
    actor: Actor

    @property
    def customer_id(self) -> uuid.UUID:
        return uuid.UUID(str(self.account.customer_id))


def customer_context(request: HttpRequest) -> CustomerContext | None:
    from pledge.accounts.customer_auth import signed_in_account

    account = signed_in_account(request)
    if account is None:
        return None
    return CustomerContext(account, Actor(kind="customer", id=str(account.customer_id)))


def customer_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed-in customers only; others go to the sign-in page and come back afterwards."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        context = customer_context(request)
        if context is None:
            login = reverse("portal:login")
            return HttpResponseRedirect(f"{login}?{urlencode({'next': request.get_full_path()})}")
        request.customer = context  # type: ignore[attr-defined]
        response = view(request, *args, **kwargs)
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return wrapped
