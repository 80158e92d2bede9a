"""Queueing a message: only inside the caller's transaction, once per idempotency key, marketing
only with one-click unsubscribe (P19), sealed, and bad arguments refused with nothing queued."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from pledge.notify.delivery import deliver_due
from pledge.notify.models import OutboxMessage
from pledge.notify.rendering import message_id
from pledge.notify.sealing import SealBroken, unseal
from pledge.notify.services import OutboxError, enqueue
from tests.notify.conftest import RESET, queue, reset_context, row
from tests.smtp import Mailbox

UNSUBSCRIBE = {
    "List-Unsubscribe": "<https://privacy.shop.example/unsubscribe/tok3n/>",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
}


@pytest.mark.django_db(transaction=True)
def test_it_refuses_to_queue_outside_a_transaction() -> None:
    with pytest.raises(OutboxError, match="inside the transaction"):
        enqueue(
            to="lan@example.vn",
            template=RESET,
            language="en",
            context=reset_context(),
            idempotency_key="outside",
        )
    assert OutboxMessage.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_leaves_no_message() -> None:
    def change_that_fails() -> None:
        with transaction.atomic():
            queue(key="rolled-back")
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        change_that_fails()
    assert OutboxMessage.objects.count() == 0
    queue(key="committed")
    assert list(OutboxMessage.objects.values_list("idempotency_key", flat=True)) == ["committed"]


@pytest.mark.django_db
def test_the_same_idempotency_key_is_the_same_message(mailbox: Mailbox) -> None:
    first = queue("lan@example.vn", key="order:42:shipped")
    again = queue("someone.else@example.vn", language="vi", key="order:42:shipped")
    assert again.pk == first.pk
    assert OutboxMessage.objects.count() == 1
    stored = row(first)
    assert (stored.language, bytes(stored.sealed or b"")) == ("en", bytes(first.sealed or b""))
    assert deliver_due() == 1
    # After it was sent, the same key still changes nothing and sends nothing.
    assert queue("lan@example.vn", key="order:42:shipped").pk == first.pk
    assert deliver_due() == 0
    assert [m["To"] for m in mailbox.messages] == ["lan@example.vn"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        (None, "List-Unsubscribe header"),
        ({"List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}, "List-Unsubscribe header"),
        ({"List-Unsubscribe": "<mailto:stop@shop.example>"}, "List-Unsubscribe header"),
        ({"List-Unsubscribe": UNSUBSCRIBE["List-Unsubscribe"]}, "List-Unsubscribe-Post"),
        ({**UNSUBSCRIBE, "List-Unsubscribe-Post": "yes"}, "List-Unsubscribe-Post"),
    ],
)
def test_marketing_needs_one_click_unsubscribe(
    headers: dict[str, str] | None, problem: str
) -> None:
    with pytest.raises(OutboxError, match=problem):
        queue(category="marketing", headers=headers)
    assert OutboxMessage.objects.count() == 0


@pytest.mark.django_db
def test_a_marketing_message_carries_its_unsubscribe_headers(mailbox: Mailbox) -> None:
    queue(category="marketing", headers=UNSUBSCRIBE)
    assert deliver_due() == 1
    [message] = mailbox.wait_for(1)
    assert message["List-Unsubscribe"] == UNSUBSCRIBE["List-Unsubscribe"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@pytest.mark.django_db
def test_every_message_says_it_is_automatic_its_language_and_a_stable_message_id(
    mailbox: Mailbox,
) -> None:
    queue(language="vi", key="customer:7:verify")
    deliver_due()
    [message] = mailbox.wait_for(1)
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Content-Language"] == "vi"
    # The same for every attempt at this message, and it does not show the key.
    assert message["Message-ID"] == message_id("customer:7:verify")
    assert message["Message-ID"].endswith("@shop.example>")
    assert "customer:7" not in message["Message-ID"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"to": "not an address"}, "to: not a valid email address"),
        ({"to": "lan@example.vn\r\nBcc: all@example.vn"}, "to: one email address"),
        ({"language": "fr"}, "language 'fr'"),
        ({"key": "x" * 201}, "idempotency_key"),
        ({"category": "newsletter"}, "category 'newsletter'"),
        ({"template": "accounts/email/nothing"}, "must exist"),
        ({"template": "../../etc/passwd"}, "lower-case letters"),
        ({"headers": {"X-Campaign": "spring\r\nBcc: all@example.vn"}}, "one line"),
        ({"headers": {"Subject": "Win"}}, "set by the outbox"),
        ({"headers": {"Bad Name": "x"}}, "not a valid RFC 5322 field name"),
        ({"headers": {"X-Count": 3}}, "must be text"),
    ],
)
def test_bad_arguments_are_refused_and_nothing_is_queued(
    arguments: dict[str, Any], problem: str
) -> None:
    with pytest.raises(OutboxError, match=problem):
        queue(**arguments)
    assert OutboxMessage.objects.count() == 0


@pytest.mark.django_db
def test_an_empty_idempotency_key_is_refused() -> None:
    with pytest.raises(OutboxError, match="idempotency_key"), transaction.atomic():
        enqueue(to="a@example.vn", template=RESET, language="en", context={}, idempotency_key="")


@pytest.mark.django_db
def test_the_row_holds_the_message_sealed_and_bound_to_itself() -> None:
    message = row(
        queue("lan.nguyen@example.vn", context=reset_context("https://x.example/r/SECRET-9"))
    )
    sealed = bytes(message.sealed or b"")
    for plain in (b"lan.nguyen@example.vn", b"SECRET-9", b"Reset your password"):
        assert plain not in sealed and plain not in bytes(message.wrapped_key or b"")
    letter = unseal(message.pk, message.key_version, message.wrapped_key or b"", sealed)
    assert letter.to == "lan.nguyen@example.vn" and "SECRET-9" in letter.text
    # Copied onto another message, the blob does not open.
    other = row(queue())
    with pytest.raises(SealBroken):
        unseal(other.pk, message.key_version, message.wrapped_key or b"", sealed)
