"""/console/staff/: only roles with the console capability manage_staff reach it; changing roles and
disabling accounts, each audited; nobody can lock the shop out of its own staff management."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User

from pledge.accounts.models import StaffProfile
from tests.accounts.conftest import (
    ACCOUNT,
    LOGIN,
    STAFF,
    Staff,
    english,
    events,
    make_staff,
    sign_in,
    signed_in,
)

# Preset B: only the owner (Management Board) has manage_staff.
WITHOUT_MANAGE_STAFF = ["customer_service", "sales", "accounting", "auditor"]


def test_anonymous_visitors_are_sent_to_sign_in(leman: Any) -> None:
    response = english().get(STAFF)
    assert (response.status_code, response["Location"]) == (302, f"{LOGIN}?next={STAFF}")


@pytest.mark.parametrize("role", WITHOUT_MANAGE_STAFF)
def test_roles_without_manage_staff_are_refused(leman: Any, role: str) -> None:
    client = signed_in(make_staff(role))
    assert client.get(STAFF).status_code == 403
    response = client.post(
        STAFF,
        {"action": "invite", "email": "x@shop.example", "role": "owner", "language": "en"},
    )
    assert response.status_code == 403
    assert not User.objects.filter(username="x@shop.example").exists()
    target = StaffProfile.objects.get(role=role)
    for action in ({"action": "role", "role": "owner"}, {"action": "disable"}):
        assert client.post(STAFF, {**action, "user": target.user_id}).status_code == 403
    target.refresh_from_db()
    assert (target.role, target.disabled_at) == (role, None)
    # Their own account page is theirs, though.
    assert client.get(ACCOUNT).status_code == 200


def test_the_owner_sees_every_member_with_role_and_status(owner: Staff) -> None:
    make_staff("auditor")
    page = signed_in(owner).get(STAFF).content.decode()
    assert "auditor@shop.example" in page and "Auditor" in page and "Management Board" in page
    assert page.count("</span> Active</td>") == 2
    assert '<label for="role-' in page  # every select has a label


def test_the_owner_changes_a_role(owner: Staff) -> None:
    clerk = make_staff("sales")
    admin = signed_in(owner)
    response = admin.post(STAFF, {"action": "role", "user": clerk.user.pk, "role": "accounting"})
    assert response["Location"] == STAFF
    assert StaffProfile.objects.get(user=clerk.user).role == "accounting"
    changed = events("staff:role_changed")[-1]
    assert (changed.actor, changed.actor_role, changed.record, json.loads(changed.details)) == (
        f"staff:{owner.user.pk}",
        "owner",
        f"staff:{clerk.user.pk}",
        {"from": "sales", "to": "accounting"},
    )
    refused = admin.post(
        STAFF, {"action": "role", "user": clerk.user.pk, "role": "janitor"}, follow=True
    )
    assert "declares no role" in refused.content.decode()
    assert StaffProfile.objects.get(user=clerk.user).role == "accounting"


def test_the_owner_disables_an_account_and_its_sessions_end(owner: Staff) -> None:
    clerk = make_staff("sales")
    clerk_client = signed_in(clerk)
    admin = signed_in(owner)
    response = admin.post(STAFF, {"action": "disable", "user": clerk.user.pk})
    assert response["Location"] == STAFF
    assert clerk_client.get(ACCOUNT)["Location"].startswith(LOGIN)
    refused = sign_in(english(), clerk.email, clerk.password, clerk.code())
    assert refused.status_code == 200 and "Sign-in failed" in refused.content.decode()
    disabled = events("staff:disabled")[-1]
    assert (disabled.actor, disabled.record) == (f"staff:{owner.user.pk}", f"staff:{clerk.user.pk}")
    assert "</span> Disabled</td>" in admin.get(STAFF).content.decode()


def test_nobody_locks_the_shop_out_of_staff_management(owner: Staff) -> None:
    admin = signed_in(owner)
    own = admin.post(STAFF, {"action": "disable", "user": owner.user.pk}, follow=True)
    assert "You cannot disable your own account." in own.content.decode()
    demote = admin.post(
        STAFF, {"action": "role", "user": owner.user.pk, "role": "auditor"}, follow=True
    )
    assert "Nobody else could manage staff" in demote.content.decode()
    assert StaffProfile.objects.get(user=owner.user).role == "owner"
    # With a second owner, the first may step down.
    make_staff("owner", "second.owner@shop.example")
    admin.post(STAFF, {"action": "role", "user": owner.user.pk, "role": "auditor"})
    assert StaffProfile.objects.get(user=owner.user).role == "auditor"
    assert admin.get(STAFF).status_code == 403  # the role no longer has manage_staff


def test_nonsense_posts_change_nothing(owner: Staff) -> None:
    admin = signed_in(owner)
    for data in (
        {"action": "disable", "user": "abc"},
        {"action": "disable", "user": "999999"},
        {"action": "role"},
        {"action": "explode"},
    ):
        response = admin.post(STAFF, data)
        assert response.status_code in (200, 302), data
    assert StaffProfile.objects.filter(disabled_at__isnull=True).count() == 1
