"""One-time identity codes (issue 6; Decree 356/2025 Art 5): kept only as a keyed digest, compared
in constant time, locked after PLEDGE_IDENTITY_CODE_ATTEMPTS wrong tries (and then even the right
code fails), expiring after PLEDGE_IDENTITY_CODE_SECONDS. Codes reach the customer through the
real outbox and a real SMTP server (`mailbox`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from pledge.audit.models import AuditEvent
from pledge.notify.delivery import deliver_due
from pledge.notify.models import OutboxMessage
from pledge.rights import identity, services
from pledge.rights.models import DataSubjectRequest, IdentityChallenge, RequestStatus
from pledge.vault.access import Actor
from pledge.vault.errors import AccessRefused
from tests.rights.test_lifecycle import EMAIL, STAFF, new_customer, staff_request
from tests.smtp import Mailbox, body_of

ADDRESS = "203.0.113.9"


def code_in(message: Any) -> str:
    match = re.search(r"^\s+(\d{6})\s*$", body_of(message), re.MULTILINE)
    assert match, body_of(message)
    return match.group(1)


def public_request(email: str = EMAIL, kind: str = "access", **kwargs: Any) -> DataSubjectRequest:
    filed = identity.file_public_request(
        email=email,
        kind=kind,
        address=kwargs.pop("address", ADDRESS),
        language=kwargs.pop("language", "en"),
        **kwargs,
    )
    assert filed is not None
    return filed


def failures() -> list[dict[str, Any]]:
    return [
        json.loads(e.details)
        for e in AuditEvent.objects.filter(type="rights:identity_failed").order_by("seq")
    ]


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


@pytest.fixture
def customer(leman: Any, shop_api: Actor) -> uuid.UUID:
    return new_customer(shop_api, language="en")


# -- the public form's code ---------------------------------------------------------------------


def test_the_right_code_verifies_and_matches_the_customer(
    customer: uuid.UUID, mailbox: Mailbox, settings: Any
) -> None:
    settings.PLEDGE_PUBLIC_URL = "https://privacy.shop.example"
    filed = public_request(kind="restriction")
    assert filed.customer_id is None  # nothing says who it is about until the code is entered
    assert filed.status == RequestStatus.IDENTITY_UNVERIFIED
    deliver_due()
    message = mailbox.wait_for(1)[0]
    assert message["To"] == EMAIL
    code = code_in(message)
    verified = identity.check_public_code(request_id=filed.id, code=f" {code} ")
    assert verified.status == RequestStatus.PENDING
    assert verified.customer_id == customer
    assert verified.identity_method == "email_code"
    event = AuditEvent.objects.get(type="rights:identity_verified")
    assert json.loads(event.details) == {"kind": "restriction", "method": "email_code"}
    assert event.actor == "system:web-form"


def test_only_a_keyed_digest_of_the_code_is_stored(customer: uuid.UUID, mailbox: Mailbox) -> None:
    filed = public_request()
    deliver_due()
    code = code_in(mailbox.wait_for(1)[0])
    challenge = IdentityChallenge.objects.get(request=filed)
    assert bytes(challenge.code_digest) == identity.code_digest(challenge.id, code)
    assert len(bytes(challenge.code_digest)) == 32
    # Not a plain hash: without the keyring, the million codes cannot be tried offline.
    import hashlib

    assert bytes(challenge.code_digest) != hashlib.sha256(code.encode()).digest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM rights_identitychallenge")
        rows = cursor.fetchall()
    assert code not in repr(rows)


def test_wrong_codes_lock_after_the_configured_tries_and_the_right_one_then_fails(
    customer: uuid.UUID, mailbox: Mailbox, settings: Any
) -> None:
    settings.PLEDGE_IDENTITY_CODE_ATTEMPTS = 3
    filed = public_request()
    deliver_due()
    code = code_in(mailbox.wait_for(1)[0])
    for left in (2, 1):
        with pytest.raises(identity.CodeRefused) as caught:
            identity.check_public_code(request_id=filed.id, code=wrong(code))
        assert caught.value.problem == identity.CodeProblem.WRONG
        assert caught.value.attempts_left == left
        assert caught.value.status == 400
    with pytest.raises(identity.CodeRefused) as caught:
        identity.check_public_code(request_id=filed.id, code=wrong(code))
    assert caught.value.problem == identity.CodeProblem.LOCKED
    assert caught.value.status == 429
    # Locked for good: the right code no longer proves anything.
    with pytest.raises(identity.CodeRefused) as caught:
        identity.check_public_code(request_id=filed.id, code=code)
    assert caught.value.problem == identity.CodeProblem.LOCKED
    filed.refresh_from_db()
    assert filed.status == RequestStatus.IDENTITY_UNVERIFIED
    assert filed.customer_id is None
    assert failures() == [
        {"attempts": 1, "locked": False},
        {"attempts": 2, "locked": False},
        {"attempts": 3, "locked": True},
    ]
    assert not AuditEvent.objects.filter(type="rights:identity_verified").exists()


def test_an_expired_code_fails(customer: uuid.UUID, mailbox: Mailbox) -> None:
    filed = public_request()
    deliver_due()
    code = code_in(mailbox.wait_for(1)[0])
    IdentityChallenge.objects.filter(request=filed).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    with pytest.raises(identity.CodeRefused) as caught:
        identity.check_public_code(request_id=filed.id, code=code)
    assert caught.value.problem == identity.CodeProblem.EXPIRED
    assert caught.value.status == 410
    filed.refresh_from_db()
    assert filed.status == RequestStatus.IDENTITY_UNVERIFIED


def test_the_code_expires_after_the_configured_time(customer: uuid.UUID, settings: Any) -> None:
    settings.PLEDGE_IDENTITY_CODE_SECONDS = 120
    before = timezone.now()
    filed = public_request()
    challenge = IdentityChallenge.objects.get(request=filed)
    assert before + dt.timedelta(seconds=120) <= challenge.expires_at
    assert challenge.expires_at <= timezone.now() + dt.timedelta(seconds=120)


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦", None, 123456])
def test_something_that_is_not_a_code_is_not_counted(customer: uuid.UUID, typed: Any) -> None:
    filed = public_request()
    with pytest.raises(services.RequestInvalid, match="6 digits"):
        identity.check_public_code(request_id=filed.id, code=typed)
    assert IdentityChallenge.objects.get(request=filed).attempts == 0


def test_an_address_not_on_file_gets_no_code_and_no_code_works(
    customer: uuid.UUID, mailbox: Mailbox, settings: Any
) -> None:
    settings.PLEDGE_IDENTITY_CODE_ATTEMPTS = 2
    filed = public_request("nobody@example.com")
    challenge = IdentityChallenge.objects.get(request=filed)
    assert challenge.customer_id is None
    deliver_due()
    message = mailbox.wait_for(1)[0]
    assert message["To"] == "nobody@example.com"
    assert not re.search(r"\d{6}", body_of(message))  # no code at all
    assert "holds no personal data" in body_of(message)
    # Even a digest that happened to match proves nothing without a customer behind it.
    for n in range(2):
        with pytest.raises(identity.CodeRefused):
            identity.check_public_code(request_id=filed.id, code=f"{n:06d}")
    assert failures()[-1] == {"attempts": 2, "locked": True}


def test_an_address_on_two_customers_is_not_on_file(
    leman: Any, shop_api: Actor, mailbox: Mailbox
) -> None:
    new_customer(shop_api)
    new_customer(shop_api)  # the same email on two profiles: which one would be a guess
    filed = public_request()
    assert IdentityChallenge.objects.get(request=filed).customer_id is None
    deliver_due()
    assert "holds no personal data" in body_of(mailbox.wait_for(1)[0])


def test_the_account_login_email_is_on_file_too(leman: Any, mailbox: Mailbox) -> None:
    from tests.portal.conftest import make_account

    account = make_account("only.an.account@example.com")
    public_request("Only.An.Account@Example.com")
    challenge = IdentityChallenge.objects.get()
    assert challenge.customer_id == account.customer_id


# -- staff entry --------------------------------------------------------------------------------


def test_staff_send_a_code_to_the_email_on_file_and_check_it(
    customer: uuid.UUID, mailbox: Mailbox
) -> None:
    filed = staff_request(customer, "erasure")
    identity.send_staff_code(actor=STAFF, request_id=filed.id, customer_id=customer)
    sent = AuditEvent.objects.get(type="rights:identity_code_sent")
    assert json.loads(sent.details) == {"channel": "staff"}
    assert sent.actor == "staff:7"
    read = AuditEvent.objects.filter(type="vault:read", purpose="data_subject_rights").last()
    assert read is not None and read.customer_id == customer and read.actor == "system:rights"
    deliver_due()
    message = mailbox.wait_for(1)[0]
    assert message["To"] == EMAIL
    assert "read it to the shop's staff" in body_of(message)
    verified = identity.check_staff_code(actor=STAFF, request_id=filed.id, code=code_in(message))
    assert verified.status == RequestStatus.PENDING
    assert verified.identity_method == "staff_email_code"


def test_a_new_staff_code_replaces_the_old_one(customer: uuid.UUID, mailbox: Mailbox) -> None:
    filed = staff_request(customer, "access")
    identity.send_staff_code(actor=STAFF, request_id=filed.id, customer_id=customer)
    identity.send_staff_code(actor=STAFF, request_id=filed.id, customer_id=customer)
    deliver_due()
    first, second = (code_in(m) for m in mailbox.wait_for(2))
    if first != second:
        with pytest.raises(identity.CodeRefused):
            identity.check_staff_code(actor=STAFF, request_id=filed.id, code=first)
    assert identity.check_staff_code(actor=STAFF, request_id=filed.id, code=second).status == (
        RequestStatus.PENDING
    )


def test_staff_codes_lock_too(customer: uuid.UUID, mailbox: Mailbox, settings: Any) -> None:
    settings.PLEDGE_IDENTITY_CODE_ATTEMPTS = 1
    filed = staff_request(customer, "access")
    identity.send_staff_code(actor=STAFF, request_id=filed.id, customer_id=customer)
    deliver_due()
    code = code_in(mailbox.wait_for(1)[0])
    with pytest.raises(identity.CodeRefused):
        identity.check_staff_code(actor=STAFF, request_id=filed.id, code=wrong(code))
    with pytest.raises(identity.CodeRefused) as caught:
        identity.check_staff_code(actor=STAFF, request_id=filed.id, code=code)
    assert caught.value.problem == identity.CodeProblem.LOCKED
    assert failures() == [{"attempts": 1, "locked": True}]


def test_staff_codes_need_staff_and_an_open_unverified_request(
    customer: uuid.UUID, shop_api: Actor
) -> None:
    filed = staff_request(customer, "access")
    someone = Actor(kind="customer", id=str(customer))
    with pytest.raises(AccessRefused):
        identity.send_staff_code(actor=someone, request_id=filed.id, customer_id=customer)
    with pytest.raises(AccessRefused):
        identity.check_staff_code(actor=someone, request_id=filed.id, code="123456")
    other = new_customer(shop_api, "binh.tran@example.vn")
    with pytest.raises(services.RequestConflict, match="another customer"):
        identity.send_staff_code(actor=STAFF, request_id=filed.id, customer_id=other)
    phone_only = new_customer(shop_api, email=None)
    by_phone = staff_request(phone_only, "access")
    with pytest.raises(services.RequestConflict, match="no email on file"):
        identity.send_staff_code(actor=STAFF, request_id=by_phone.id, customer_id=phone_only)
    services.verify_identity(
        actor=STAFF, request_id=filed.id, customer_id=customer, method="in_person"
    )
    with pytest.raises(services.RequestConflict, match="not in question"):
        identity.send_staff_code(actor=STAFF, request_id=filed.id, customer_id=customer)
    assert not IdentityChallenge.objects.exists()


# -- abandoned public-form requests ----------------------------------------------------------------


def test_unverified_public_requests_are_canceled_once_their_code_is_dead(
    customer: uuid.UUID, settings: Any
) -> None:
    settings.PLEDGE_IDENTITY_CODE_ATTEMPTS = 1
    expired = public_request("nobody@example.com")
    locked = public_request(EMAIL)
    waiting = public_request("someone@example.com")
    by_staff = staff_request(customer, "access")
    IdentityChallenge.objects.filter(request=expired).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    with pytest.raises(identity.CodeRefused):
        identity.check_public_code(request_id=locked.id, code="000000")
    assert identity.cancel_abandoned(timezone.now()) == 2
    statuses = {
        r.id: r.status
        for r in DataSubjectRequest.objects.filter(
            pk__in=[expired.id, locked.id, waiting.id, by_staff.id]
        )
    }
    assert statuses == {
        expired.id: RequestStatus.CANCELED,
        locked.id: RequestStatus.CANCELED,
        waiting.id: RequestStatus.IDENTITY_UNVERIFIED,
        by_staff.id: RequestStatus.IDENTITY_UNVERIFIED,  # staff handle their own
    }
    canceled = AuditEvent.objects.filter(type="rights:request_canceled")
    assert {e.actor for e in canceled} == {"system:web-form"}
    assert identity.cancel_abandoned(timezone.now()) == 0
    # Later, the waiting one's code expires too.
    later = timezone.now() + dt.timedelta(seconds=int(settings.PLEDGE_IDENTITY_CODE_SECONDS) + 1)
    assert identity.cancel_abandoned(later) == 1


def test_a_customer_gets_at_most_three_codes_a_day_across_requests(
    customer: uuid.UUID, settings: Any
) -> None:
    """Security review: the lock is per code and a new filing brings a new code, so the public
    form caps codes per customer and day (and the customer's mailbox is not flooded)."""
    settings.PLEDGE_LOGIN_MAX_FAILURES = 100  # the throttle is not what is tested here
    requests = [public_request() for _ in range(4)]
    sent = OutboxMessage.objects.filter(template="rights/email/identity_code").count()
    assert sent == 3
    last = IdentityChallenge.objects.get(request=requests[3])
    assert last.locked_at is not None and last.attempts == 0
    with pytest.raises(identity.CodeRefused):
        identity.check_public_code(request_id=requests[3].id, code="123456")
    assert DataSubjectRequest.objects.get(pk=requests[3].id).customer_id is None


def test_wrong_codes_across_requests_stop_new_codes_for_the_day(
    customer: uuid.UUID, settings: Any
) -> None:
    settings.PLEDGE_LOGIN_MAX_FAILURES = 100
    for _ in range(2):
        request = public_request()
        for _ in range(identity.max_attempts()):
            with pytest.raises(identity.CodeRefused):
                identity.check_public_code(request_id=request.id, code="000000")
    assert OutboxMessage.objects.filter(template="rights/email/identity_code").count() == 2
    third = public_request()
    # Two codes used up by ten wrong tries: the third is born locked and never sent.
    assert OutboxMessage.objects.filter(template="rights/email/identity_code").count() == 2
    assert IdentityChallenge.objects.get(request=third).locked_at is not None
