"""Inviting a staff member, end to end: the owner invites from /console/staff/, the email arrives
at a real SMTP server, the invitee sets a password, scans the QR code (here: reads the key shown
beside it), confirms a code, sees the recovery codes once, and signs in."""

from __future__ import annotations

import html
import json
import re
import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import signing

from pledge.accounts.models import StaffProfile
from tests.accounts.conftest import (
    STAFF,
    Mailbox,
    Staff,
    body_of,
    english,
    events,
    link_in,
    sign_in,
    signed_in,
    totp_from_secret,
)
from tests.smtp import deliver_outbox

SETUP = "/console/setup/"
CHOSEN = "river saffron pencil 31 glow"


def invite(client: Any, email: str, role: str = "customer_service") -> Any:
    response = client.post(
        STAFF, {"action": "invite", "email": email, "role": role, "language": "en"}
    )
    deliver_outbox()  # what `pledge worker` does after the request committed
    return response


def shown_secret(page: str) -> str:
    match = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page)
    assert match, "the set-up page shows the key beside the QR code"
    return match.group(1)


def test_an_invited_staff_member_sets_up_their_account_and_signs_in(
    owner: Staff, mailbox: Mailbox
) -> None:
    admin = signed_in(owner)
    response = invite(admin, "lan.nguyen@shop.example")
    assert (response.status_code, response["Location"]) == (302, STAFF)
    listing = admin.get(STAFF).content.decode()
    assert "lan.nguyen@shop.example" in listing and "Invited, set-up not finished" in listing
    invited = events("staff:invited")[-1]
    assert (invited.actor, json.loads(invited.details)) == (
        f"staff:{owner.user.pk}",
        {"role": "customer_service"},
    )

    [message] = mailbox.wait_for(1)
    assert message["To"] == "lan.nguyen@shop.example"
    assert message["Subject"] == "Set up your staff account at Leman Jewelry"
    assert "with the role Customer service" in body_of(message)
    link = link_in(message, SETUP)

    invitee = english()
    page = invitee.get(link)
    assert page.status_code == 200
    text = page.content.decode()
    # The QR code is an image inside the page (CSP allows data: images), no script needed.
    assert re.search(r'<img class="qr" src="data:image/svg\+xml[^"]+" alt="[^"]+">', text)
    assert "otpauth://totp/" in html.unescape(text)
    secret = shown_secret(text)

    # A wrong code: nothing is set up, the page says why next to the field.
    wrong = invitee.post(
        link, {"new_password": CHOSEN, "new_password_again": CHOSEN, "code": "000000"}
    )
    assert wrong.status_code == 200 and "That code did not match" in wrong.content.decode()
    assert 'aria-describedby="id_code_help id_code_errors"' in wrong.content.decode()
    assert not User.objects.get(username="lan.nguyen@shop.example").has_usable_password()

    done = invitee.post(
        link,
        {"new_password": CHOSEN, "new_password_again": CHOSEN, "code": totp_from_secret(secret)},
    )
    assert done.status_code == 200
    codes = re.findall(r"<code>([a-z2-7-]{19})</code>", done.content.decode())
    assert len(codes) == 10
    assert done["Cache-Control"].startswith("max-age=0")

    # The link worked once.
    assert english().get(link).status_code == 400
    kinds = [e.type for e in events("staff:password_changed")] + [
        e.type for e in events("staff:second_factor_enrolled")
    ]
    assert "staff:password_changed" in kinds and "staff:second_factor_enrolled" in kinds

    # The new account signs in with its password and a recovery code (the app's code of this
    # 30-second step was just used for the set-up, and codes are single use).
    client = english()
    response = sign_in(client, "lan.nguyen@shop.example", CHOSEN, codes[0])
    assert response["Location"] == "/console/"
    assert client.get("/console/account/").status_code == 200
    assert "Active" in admin.get(STAFF).content.decode()


def test_sending_the_invitation_again_voids_the_first_link(owner: Staff, mailbox: Mailbox) -> None:
    admin = signed_in(owner)
    invite(admin, "minh@shop.example")
    first = link_in(mailbox.wait_for(1)[0], SETUP)
    user = User.objects.get(username="minh@shop.example")
    admin.post(STAFF, {"action": "resend", "user": user.pk})
    deliver_outbox()
    second = link_in(mailbox.wait_for(2)[1], SETUP)
    assert first != second
    assert english().get(first).status_code == 400
    assert english().get(second).status_code == 200
    assert json.loads(events("staff:invited")[-1].details) == {
        "role": "customer_service",
        "again": True,
    }


def test_a_set_up_link_expires_after_72_hours(
    owner: Staff, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    invite(signed_in(owner), "hoa@shop.example")
    link = link_in(mailbox.wait_for(1)[0], SETUP)
    assert english().get(link).status_code == 200
    later = time.time() + 72 * 3600 + 60
    monkeypatch.setattr(signing.time, "time", lambda: later)
    assert english().get(link).status_code == 400


def test_forged_set_up_links_are_refused(owner: Staff) -> None:
    for token in ("nonsense", signing.dumps({"u": owner.user.pk, "f": "x"}, salt="other")):
        assert english().get(f"{SETUP}{token}/").status_code == 400


def test_invitations_refuse_unknown_roles_and_taken_addresses(
    owner: Staff, mailbox: Mailbox
) -> None:
    admin = signed_in(owner)
    response = invite(admin, "new@shop.example", role="janitor")
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    response = invite(admin, owner.email.upper())
    assert response.status_code == 400
    assert "A staff account with this email address already exists." in response.content.decode()
    assert StaffProfile.objects.count() == 1
    assert mailbox.settle(0.3) == []
