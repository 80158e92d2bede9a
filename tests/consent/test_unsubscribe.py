"""Marketing unsubscribe (P19; RFC 8058): a signed, never-expiring, single-purpose token; a link
that works without sign-in, is idempotent and writes the withdrawal into the ledger; and the real
headers of a marketing email read from a real SMTP server."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import reverse
from tests.smtp import Mailbox, body_of

from pledge.audit.models import AuditEvent
from pledge.consent import services
from pledge.consent.marketing import DEFAULT_TEMPLATE, MarketingRefused, send_marketing_email
from pledge.consent.models import ConsentEvent
from pledge.consent.unsubscribe import (
    list_unsubscribe_headers,
    make_token,
    read_token,
)
from pledge.notify.delivery import deliver_due
from pledge.notify.models import OutboxMessage
from pledge.policy.enforcement import clear_policy_cache
from pledge.policy.models import PolicyVersion
from pledge.vault.access import Actor

PUBLIC_URL = "https://pledge.leman.example"
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def subscriber(marketing: Any, new_customer: Callable[..., uuid.UUID], settings: Any) -> uuid.UUID:
    settings.PLEDGE_PUBLIC_URL = PUBLIC_URL
    customer = new_customer(language="en")
    services.give_consent(
        customer_id=customer, purpose="newsletter", method="checkbox", actor="t", language="en"
    )
    return customer


def path_of(customer: uuid.UUID, purpose: str) -> str:
    return reverse("consent:unsubscribe", kwargs={"token": make_token(customer, purpose)})


def withdrawals() -> list[ConsentEvent]:
    return list(ConsentEvent.objects.filter(action="withdrawn").order_by("id"))


def test_a_token_names_one_customer_and_one_purpose(subscriber: uuid.UUID) -> None:
    token = make_token(subscriber, "newsletter")
    found = read_token(token)
    assert (found.customer_id, found.purpose) == (subscriber, "newsletter")
    assert str(subscriber) not in token  # ids only, and not even in clear
    assert make_token(subscriber, "newsletter") == token  # no timestamp: it never expires


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda c: make_token(c, "newsletter")[:-1] + "x", "bad_signature"),
        (lambda c: make_token(c, "newsletter").replace(":", ";"), "bad_signature"),
        (
            lambda c: (
                make_token(c, "promotions").split(":")[0]
                + ":"
                + make_token(c, "newsletter").split(":")[1]
            ),
            "bad_signature",
        ),
        # Signed by Pledge, but for something else (another salt): not an unsubscribe token.
        (
            lambda c: signing.Signer(salt="pledge.accounts.verify").sign_object(
                {"c": c.hex, "p": "newsletter"}
            ),
            "bad_signature",
        ),
        (lambda c: "x" * 301, "malformed"),
        # Genuine, but for a purpose that is not direct marketing.
        (lambda c: make_token(c, "customer_database"), "not_marketing"),
        (lambda c: make_token(c, "no_such_purpose"), "not_marketing"),
    ],
)
def test_a_bad_token_gets_a_400_page_naming_the_problem(
    subscriber: uuid.UUID, make: Callable[[uuid.UUID], str], reason: str
) -> None:
    path = f"/consent/unsubscribe/{make(subscriber)}/"
    for answer in (Client().get(path), Client().post(path, ONE_CLICK)):
        assert answer.status_code == 400
        html = answer.content.decode()
        assert f'data-problem="{reason}"' in html
        assert "Traceback" not in html
    assert withdrawals() == []
    assert services.has_live_consent(subscriber, "newsletter")


def test_get_shows_one_button_and_changes_nothing(subscriber: uuid.UUID) -> None:
    answer = Client().get(path_of(subscriber, "newsletter"), HTTP_ACCEPT_LANGUAGE="en")
    assert answer.status_code == 200
    html = answer.content.decode()
    assert "Newsletter" in html and '<form method="post"' in html
    assert "csrfmiddlewaretoken" not in html  # the token in the link is the authority
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert answer.headers["Cache-Control"] == "no-store"
    assert withdrawals() == []


def test_the_page_speaks_the_browser_or_the_customer_language(subscriber: uuid.UUID) -> None:
    path = path_of(subscriber, "newsletter")
    vi = Client().get(path, HTTP_ACCEPT_LANGUAGE="vi-VN,vi;q=0.9,en;q=0.5").content.decode()
    assert '<html lang="vi">' in vi and "Bản tin khuyến mãi" in vi
    en = Client().get(path, HTTP_ACCEPT_LANGUAGE="fr, en;q=0.8").content.decode()
    assert '<html lang="en">' in en and "Newsletter" in en
    # No usable Accept-Language (a mail client): the customer's own language (en here).
    plain = Client().get(path).content.decode()
    assert '<html lang="en">' in plain


def test_one_click_post_withdraws_once(subscriber: uuid.UUID) -> None:
    path = path_of(subscriber, "newsletter")
    first = Client().post(path, ONE_CLICK)
    assert first.status_code == 200
    (event,) = withdrawals()
    assert (event.customer_id, event.purpose) == (subscriber, "newsletter")
    assert (event.method, event.channel, event.language) == ("one_click", "email", "en")
    assert not services.has_live_consent(subscriber, "newsletter")
    second = Client().post(path, ONE_CLICK)
    assert second.status_code == 200
    assert second.content == first.content  # the same answer
    assert len(withdrawals()) == 1  # and nothing changed
    assert AuditEvent.objects.filter(type="consent:withdrawn").count() == 1


def test_the_page_button_withdraws_and_an_objection_to_promotions_is_recorded(
    subscriber: uuid.UUID,
) -> None:
    answer = Client().post(path_of(subscriber, "newsletter"), {"unsubscribe": "1"})
    assert answer.status_code == 200 and "You are unsubscribed" in answer.content.decode()
    assert [e.method for e in withdrawals()] == ["unsubscribe_link"]
    # Promotions (legitimate interest) were never consented to: unsubscribing is an objection.
    Client().post(path_of(subscriber, "promotions"), ONE_CLICK)
    assert services.objection_stands(subscriber, "promotions")
    page = Client().get(path_of(subscriber, "promotions")).content.decode()
    assert "You are unsubscribed" in page and '<form method="post"' not in page


def test_other_methods_are_refused(subscriber: uuid.UUID) -> None:
    assert Client().put(path_of(subscriber, "newsletter")).status_code == 405
    assert withdrawals() == []


def test_a_refused_answer_keeps_the_token_out_of_the_log(
    subscriber: uuid.UUID, caplog: pytest.LogCaptureFixture, settings: Any
) -> None:
    # Django logs the path of every 4xx and 5xx answer; the token in it still works.
    token = make_token(subscriber, "newsletter")
    with caplog.at_level(logging.INFO):
        assert Client().put(path_of(subscriber, "newsletter")).status_code == 405
        clear_policy_cache()
        PolicyVersion.objects.all().delete()  # no policy in force: a 503
        assert Client().post(path_of(subscriber, "newsletter"), ONE_CLICK).status_code == 503
        clear_policy_cache()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert token not in logged
    assert "/consent/unsubscribe/<str:token>/" in logged


def test_the_headers_are_https_and_one_click(subscriber: uuid.UUID, settings: Any) -> None:
    headers = list_unsubscribe_headers(subscriber, "newsletter")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = re.fullmatch(
        r"<(https://pledge\.leman\.example/consent/unsubscribe/[^/>]+/)>",
        headers["List-Unsubscribe"],
    )
    assert link is not None
    for bad in ("", "http://pledge.leman.example", "pledge.leman.example"):
        settings.PLEDGE_PUBLIC_URL = bad
        with pytest.raises(ImproperlyConfigured, match="PLEDGE_PUBLIC_URL"):
            list_unsubscribe_headers(subscriber, "newsletter")


def test_a_marketing_email_carries_the_headers_and_its_link_unsubscribes(
    subscriber: uuid.UUID, mailbox: Mailbox, marketer: Actor
) -> None:
    message = send_marketing_email(
        customer_id=subscriber,
        purpose="newsletter",
        template=DEFAULT_TEMPLATE,
        context={"headline": "New rings for spring", "text": "Come and see them."},
        idempotency_key=f"newsletter:2026-03:{subscriber}",
        actor=marketer,
    )
    assert message is not None and message.category == "marketing"
    assert deliver_due() == 1
    (received,) = mailbox.wait_for(1)
    assert received["To"] == "hong.nhung@example.vn"
    assert received["Subject"] == "New rings for spring"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # A long header is folded onto the next line: unfolded, it starts with a space.
    header = re.fullmatch(r"<(https://[^>]+)>", str(received["List-Unsubscribe"]).strip())
    assert header is not None
    url = header.group(1)
    assert url in body_of(received)  # the link is in the text too (seed C)
    # What a mail client does with RFC 8058: POST the body to the header's URL.
    path = url.removeprefix(PUBLIC_URL)
    answer = Client().post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert answer.status_code == 200
    (event,) = withdrawals()
    assert (event.purpose, event.method) == ("newsletter", "one_click")
    # The next newsletter is refused, and the refusal is on record.
    refused = send_marketing_email(
        customer_id=subscriber,
        purpose="newsletter",
        template=DEFAULT_TEMPLATE,
        context={"headline": "Summer", "text": "…"},
        idempotency_key=f"newsletter:2026-06:{subscriber}",
        actor=marketer,
    )
    assert refused is None
    assert OutboxMessage.objects.count() == 1
    audit = AuditEvent.objects.filter(outcome="refused").order_by("-seq").first()
    assert audit is not None and audit.purpose == "newsletter"
    assert '"rule":"objection"' in audit.details


def test_marketing_without_consent_is_refused_and_audited(
    marketing: Any, new_customer: Callable[..., uuid.UUID], marketer: Actor, settings: Any
) -> None:
    settings.PLEDGE_PUBLIC_URL = PUBLIC_URL
    customer = new_customer()
    assert (
        send_marketing_email(
            customer_id=customer,
            purpose="newsletter",
            template=DEFAULT_TEMPLATE,
            context={"headline": "Hi", "text": "…"},
            idempotency_key="n-1",
            actor=marketer,
        )
        is None
    )
    assert not OutboxMessage.objects.exists()
    audit = AuditEvent.objects.get(outcome="refused")
    assert (audit.type, audit.purpose) == ("vault:access_refused", "newsletter")
    assert '"rule":"consent_required"' in audit.details
    # Legitimate interest: sent without consent, with the unsubscribe headers all the same.
    sent = send_marketing_email(
        customer_id=customer,
        purpose="promotions",
        template=DEFAULT_TEMPLATE,
        context={"headline": "Hi", "text": "…"},
        idempotency_key="p-1",
        actor=marketer,
    )
    assert sent is not None


def test_a_purpose_that_is_not_marketing_cannot_be_used(
    subscriber: uuid.UUID, marketer: Actor
) -> None:
    with pytest.raises(MarketingRefused, match="not a direct-marketing purpose"):
        send_marketing_email(
            customer_id=subscriber,
            purpose="customer_database",
            template=DEFAULT_TEMPLATE,
            context={},
            idempotency_key="x",
            actor=marketer,
        )
    assert not OutboxMessage.objects.exists()


def test_preset_c_can_send_its_marketing_email_and_honours_the_objection(
    db: None, settings: Any, marketer: Actor
) -> None:
    # Preset C (JewelryODM) sends marketing email on legitimate interest (seed C): the address
    # must be readable whole for that purpose, and an unsubscribe is an absolute objection.
    from pledge.policy.loader import load_policy
    from pledge.policy.services import publish_policy
    from pledge.vault import services as vault

    settings.PLEDGE_PUBLIC_URL = PUBLIC_URL
    clear_policy_cache()
    loaded = load_policy("jewelryodm")
    publish_policy(loaded, actor="test", effective_date=loaded.policy.effective_date)
    clear_policy_cache()
    try:
        shop = Actor(kind="api", id="odm-backend", purposes=frozenset({"account"}))
        customer = vault.collect_customer(
            actor=shop, purpose="account", fields={"email": "buyer@example.com"}, language="en"
        )

        def send(key: str) -> OutboxMessage | None:
            return send_marketing_email(
                customer_id=customer,
                purpose="marketing_email",
                template=DEFAULT_TEMPLATE,
                context={"headline": "New collection", "text": "…"},
                idempotency_key=key,
                actor=marketer,
            )

        sent = send("odm-1")
        assert sent is not None and sent.category == "marketing"
        services.withdraw_consent(
            customer_id=customer, purpose="marketing_email", method="one_click", actor="t"
        )
        assert send("odm-2") is None
    finally:
        clear_policy_cache()
