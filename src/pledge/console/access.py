"""The console's one access check: a logged-in staff member, second factor verified, whose policy
role exists, and (optionally) whose role has a console capability (P09, P16).

Views are wrapped in `staff_view(...)`; inside, `request.staff` is the `StaffContext`, whose
`actor` is what vault services receive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import redirect

from pledge.policy.enforcement import EnforcedPolicy, NoPolicyInForce, enforced_policy
from pledge.policy.schema import Role
from pledge.vault.access import Actor

View = TypeVar("View", bound=Callable[..., HttpResponseBase])


@dataclass(frozen=True)
class StaffContext:
    user_id: int
    email: str
    role: Role
    capabilities: frozenset[str]
    purposes: tuple[str, ...]  # the purposes the policy gives this role, in policy order
    policy: EnforcedPolicy

    @property
    def actor(self) -> Actor:
        return Actor(kind="staff", id=str(self.user_id), role=self.role.key)

    def can(self, capability: str) -> bool:
        return capability in self.capabilities


def staff_context(user: AbstractBaseUser | AnonymousUser) -> StaffContext | None:
    """The staff context of a user, or None when they are not active staff of this policy."""
    if not user.is_authenticated or not getattr(user, "is_active", False):
        return None
    profile = getattr(user, "staff", None)
    if profile is None or profile.disabled_at is not None:
        return None
    try:
        enforced = enforced_policy()
    except NoPolicyInForce:
        return None
    try:
        role = enforced.policy.role(profile.role)
    except KeyError:
        return None  # the policy dropped this role: it grants nothing any more
    return StaffContext(
        user_id=cast(int, user.pk),
        email=str(getattr(user, "email", "")),
        role=role,
        capabilities=frozenset(role.console),
        purposes=tuple(enforced.purposes_of_role(role.key)),
        policy=enforced,
    )


def staff_view(capability: str | None = None) -> Callable[[View], View]:
    """Require a verified staff login (and a console capability); anonymous users go to login."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            user = request.user
            verified = getattr(user, "is_verified", lambda: False)()
            if not user.is_authenticated or not verified:
                return redirect(f"/console/login/?next={request.path}")
            staff = staff_context(user)
            if staff is None:
                raise PermissionDenied("not active staff of the policy in force")
            if capability is not None and not staff.can(capability):
                raise PermissionDenied(f"the role lacks the console capability {capability}")
            request.staff = staff  # type: ignore[attr-defined]
            return view(request, *args, **kwargs)

        return cast(View, wrapper)

    return decorate
