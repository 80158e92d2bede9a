"""Staff management (issue 4, P09): the list of staff with their role and status, inviting a new
staff member, sending an invitation again, changing a role, disabling an account.

Only roles whose policy entry has the console capability `manage_staff` reach this page. The roles
offered are the policy's; every action is an `accounts` service, audited.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from pledge.accounts.forms import InviteForm
from pledge.accounts.identity import staff_status
from pledge.accounts.models import StaffProfile
from pledge.accounts.services import (
    SetupUrl,
    StaffError,
    change_role,
    disable_staff,
    invite_staff,
    resend_invitation,
)
from pledge.console.access import StaffContext, staff_view


def _roles(staff: StaffContext) -> list[tuple[str, str]]:
    lang = get_language() or "vi"
    return [(role.key, role.name.get(lang)) for role in staff.policy.policy.roles]


def _setup_url(request: HttpRequest) -> SetupUrl:
    return lambda token: request.build_absolute_uri(reverse("console:setup", args=[token]))


def _target(request: HttpRequest) -> int | None:
    try:
        return int(request.POST.get("user", ""))
    except ValueError:
        return None


@staff_view("manage_staff")
@require_http_methods(["GET", "POST"])
def staff_list(request: HttpRequest) -> HttpResponse:
    staff: StaffContext = request.staff  # type: ignore[attr-defined]
    roles = _roles(staff)
    invite_form = InviteForm(roles=roles)
    action = request.POST.get("action") if request.method == "POST" else None
    if action == "invite":
        invite_form = InviteForm(request.POST, roles=roles)
        if invite_form.is_valid():
            try:
                invited = invite_staff(
                    actor=staff.actor,
                    email=invite_form.cleaned_data["email"],
                    role=invite_form.cleaned_data["role"],
                    language=invite_form.cleaned_data["language"],
                    setup_url=_setup_url(request),
                )
            except StaffError as exc:
                invite_form.add_error("email", str(exc))
            else:
                messages.success(
                    request,
                    _("An invitation was sent to %(email)s. The link works for 72 hours.")
                    % {"email": invited.email},
                )
                return redirect("console:staff")
    elif action in ("resend", "role", "disable"):
        _act(request, staff, action)
        return redirect("console:staff")
    return render(
        request,
        "console/staff/list.html",
        {
            "nav": "staff",
            "members": _members(staff, roles),
            "roles": roles,
            "invite_form": invite_form,
        },
        status=400 if action == "invite" else 200,
    )


def _act(request: HttpRequest, staff: StaffContext, action: str) -> None:
    user_id = _target(request)
    if user_id is None:
        messages.error(request, _("There is no such staff account."))
        return
    try:
        if action == "resend":
            user = resend_invitation(
                actor=staff.actor, user_id=user_id, setup_url=_setup_url(request)
            )
            messages.success(
                request,
                _("A new invitation was sent to %(email)s; earlier links no longer work.")
                % {"email": user.email},
            )
        elif action == "role":
            profile = change_role(
                actor=staff.actor, user_id=user_id, role=request.POST.get("role", "")
            )
            messages.success(
                request, _("The role of %(email)s has changed.") % {"email": profile.user.email}
            )
        elif action == "disable":
            profile = disable_staff(actor=staff.actor, user_id=user_id)
            messages.success(
                request,
                _("The account of %(email)s is disabled and its sessions have ended.")
                % {"email": profile.user.email},
            )
    except StaffError as exc:
        messages.error(request, str(exc))


def _members(staff: StaffContext, roles: list[tuple[str, str]]) -> list[dict[str, Any]]:
    names = dict(roles)
    members = []
    profiles = StaffProfile.objects.select_related("user").order_by("user__email")
    for profile in profiles:
        user: User = profile.user
        members.append(
            {
                "id": user.pk,
                "email": user.email,
                "role": profile.role,
                "role_name": names.get(profile.role, profile.role),
                "role_known": profile.role in names,
                "status": staff_status(user),
                "last_login": user.last_login,
                "is_me": user.pk == staff.user_id,
            }
        )
    return members
