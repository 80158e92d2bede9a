"""The consent ledger (P04; LAW.md, Consent): append-only events holding the proof, the state
derived from them, withdrawal as easy as giving, and bad input refused with nothing written."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import unicodedata
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command

from pledge.audit.models import AuditEvent
from pledge.consent import services
from pledge.consent.errors import ConsentError, UnknownPurpose
from pledge.consent.models import ConsentEvent, ConsentNotice, ConsentState, LedgerIsAppendOnly
from pledge.consent.notices import purpose_notice


def state_rows() -> set[tuple[Any, ...]]:
    return set(
        ConsentState.objects.values_list("customer_id", "visitor", "purpose", "live", "event_id")
    )


def test_giving_records_the_proof_law_asks_for(leman: Any, customer: uuid.UUID) -> None:
    event = services.give_consent(
        customer_id=customer,
        purpose="customer_database",
        method="checkbox",
        actor="api:shop",
        channel="web",
        language="en",
    )
    event.refresh_from_db()
    assert (event.action, event.method, event.channel, event.language) == (
        "given",
        "checkbox",
        "web",
        "en",
    )
    assert (event.policy_version, event.policy_hash) == (leman.version, leman.content_hash)
    # The purpose's data: what it collects, then what it reads.
    assert event.data_types == [
        "full_name",
        "address",
        "email",
        "phone",
        "purchase_history",
        "guarantee_number",
    ]
    notice = event.notice
    assert notice is not None
    assert notice.sha256 == hashlib.sha256(notice.text.encode()).hexdigest()
    for shown in (
        "Managing the customer database",  # name
        "promptly handle situations",  # description
        "email address",  # a data type, labelled
        "purchase history",
        "Legal basis: your consent",
        "Leman",  # the controller
    ):
        assert shown in notice.text, shown
    assert services.has_live_consent(customer, "customer_database")
    audit = AuditEvent.objects.get(type="consent:given", customer_id=customer)
    assert audit.purpose == "customer_database"
    assert f'"receipt":"{event.receipt_id}"' in audit.details
    assert '"channel":"web"' in audit.details


def test_the_notice_is_in_the_customer_language_and_stored_once(
    leman: Any, customer: uuid.UUID, new_customer: Callable[..., uuid.UUID]
) -> None:
    vi = services.give_consent(
        customer_id=customer, purpose="service_notices", method="checkbox", actor="t"
    )
    other = new_customer("other@example.vn")
    again = services.give_consent(
        customer_id=other, purpose="service_notices", method="checkbox", actor="t"
    )
    en = services.give_consent(
        customer_id=other, purpose="service_notices", method="checkbox", actor="t", language="en"
    )
    assert vi.notice_id == again.notice_id  # one stored copy per text
    assert vi.notice_id != en.notice_id
    assert vi.notice is not None and "Gửi thông báo" in vi.notice.text
    assert en.notice is not None and "Sending notices" in en.notice.text
    # A caller's own text: NFC and NFD spellings of the same words are one notice.
    words = "Tôi đồng ý nhận thông báo của Leman."
    nfc = services.give_consent(
        customer_id=customer,
        purpose="service_notices",
        method="checkbox",
        actor="t",
        notice_text=unicodedata.normalize("NFC", words),
    )
    nfd = services.give_consent(
        customer_id=other,
        purpose="service_notices",
        method="checkbox",
        actor="t",
        notice_text=unicodedata.normalize("NFD", words),
    )
    assert nfc.notice_id == nfd.notice_id
    assert ConsentNotice.objects.count() == 3
    assert purpose_notice("service_notices", "en") == en.notice.text


def test_the_ledger_is_append_only(leman: Any, customer: uuid.UUID) -> None:
    event = services.give_consent(
        customer_id=customer, purpose="customer_database", method="checkbox", actor="t"
    )
    event.method = "forged"
    with pytest.raises(LedgerIsAppendOnly):
        event.save()
    with pytest.raises(LedgerIsAppendOnly):
        event.delete()
    with pytest.raises(LedgerIsAppendOnly):
        ConsentEvent.objects.filter(pk=event.pk).update(method="forged")
    with pytest.raises(LedgerIsAppendOnly):
        ConsentEvent.objects.filter(pk=event.pk).delete()
    stored = ConsentEvent.objects.get(pk=event.pk)
    assert stored.method == "checkbox"


def test_withdrawal_is_one_call_and_idempotent(leman: Any, customer: uuid.UUID) -> None:
    services.give_consent(
        customer_id=customer, purpose="customer_database", method="checkbox", actor="t"
    )
    first = services.withdraw_consent(
        customer_id=customer,
        purpose="customer_database",
        method="switch",
        actor=f"customer:{customer}",
        channel="privacy_center",
        language="en",
    )
    assert first is not None and first.action == "withdrawn"
    assert first.notice is not None and "Managing the customer database" in first.notice.text
    assert not services.has_live_consent(customer, "customer_database")
    second = services.withdraw_consent(
        customer_id=customer, purpose="customer_database", method="switch", actor="t"
    )
    assert second is None
    assert ConsentEvent.objects.filter(action="withdrawn").count() == 1
    assert AuditEvent.objects.filter(type="consent:withdrawn").count() == 1
    # Never given: nothing to withdraw, nothing written.
    assert (
        services.withdraw_consent(
            customer_id=customer, purpose="service_notices", method="switch", actor="t"
        )
        is None
    )
    # Given again after a withdrawal: live again, and the history keeps all three.
    services.give_consent(
        customer_id=customer, purpose="customer_database", method="checkbox", actor="t"
    )
    assert services.has_live_consent(customer, "customer_database")
    assert [e.action for e in services.consent_history(customer)] == [
        "given",
        "withdrawn",
        "given",
    ]


def test_the_state_is_what_the_ledger_derives(
    leman: Any, customer: uuid.UUID, new_customer: Callable[..., uuid.UUID], settings: Any
) -> None:
    other = new_customer("other@example.vn")
    for purpose in ("customer_database", "service_notices"):
        services.give_consent(customer_id=customer, purpose=purpose, method="m", actor="t")
    services.withdraw_consent(
        customer_id=customer, purpose="service_notices", method="m", actor="t"
    )
    services.give_consent(customer_id=other, purpose="service_notices", method="m", actor="t")
    services.record_cookie_choice(
        visitor_id="visitor-1",
        customer_id=None,
        choices={"analytics": True, "advertising": False},
        method="banner_custom",
        language="vi",
        actor="visitor:x",
        notice_text="Cookie?",
    )
    services.record_cookie_choice(
        visitor_id=None,
        customer_id=other,
        choices={"analytics": True, "preferences": True},
        method="banner_accept_all",
        language="en",
        actor=f"customer:{other}",
        notice_text="Cookies?",
    )
    settings.PLEDGE_COOKIE_CONSENT_DAYS = 1
    later = ConsentEvent.objects.order_by("-at").values_list("at", flat=True).first()
    assert later is not None
    assert services.expire_due(later + dt.timedelta(days=2)) == 3
    incremental = state_rows()
    assert len(incremental) == 7
    assert services.rebuild_state() == 7
    assert state_rows() == incremental
    # Lost or tampered state is restored from the ledger alone.
    ConsentState.objects.filter(customer_id=customer).update(live=True)
    out = io.StringIO()
    call_command("consent", "rebuild-state", stdout=out)
    assert "7 rows" in out.getvalue()
    assert state_rows() == incremental


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"purpose": "no_such_purpose"}, "purpose", "purpose_undeclared"),
        ({"purpose": "order_fulfilment"}, "purpose", "not_consent_based"),
        ({"purpose": ["customer_database"]}, "purpose", "purpose_undeclared"),
        ({"language": "fr"}, "language", "choice"),
        ({"channel": "carrier_pigeon"}, "channel", "choice"),
        ({"method": ""}, "method", "format"),
        ({"method": "x" * 33}, "method", "format"),
        ({"method": "tick\nbox"}, "method", "format"),
        ({"actor": ""}, "actor", "format"),
        ({"customer_id": "not-a-uuid"}, "customer_id", "uuid"),
        ({"customer_id": uuid.UUID(int=7)}, "customer_id", "not_found"),
        ({"notice_text": "x" * 20_001}, "notice_text", "length"),
        ({"notice_text": "   "}, "notice_text", "length"),
        ({"notice_text": 12}, "notice_text", "format"),
        ({"data_types": ["shoe_size"]}, "data_types", "field"),
        ({"policy_version": "x\x00"}, "policy_version", "format"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(
    leman: Any, customer: uuid.UUID, change: dict[str, Any], field: str, rule: str
) -> None:
    arguments: dict[str, Any] = {
        "customer_id": customer,
        "purpose": "customer_database",
        "method": "checkbox",
        "actor": "t",
        **change,
    }
    with pytest.raises(ConsentError) as refused:
        services.give_consent(**arguments)
    assert (refused.value.field, refused.value.rule) == (field, rule)
    assert refused.value.status == 400
    assert not ConsentEvent.objects.exists()
    assert not ConsentState.objects.exists()
    assert not AuditEvent.objects.filter(type__startswith="consent:").exists()


def test_withdrawal_refuses_bad_input_too(leman: Any, customer: uuid.UUID) -> None:
    with pytest.raises(UnknownPurpose):
        services.withdraw_consent(customer_id=customer, purpose="nope", method="m", actor="t")
    with pytest.raises(ConsentError, match="channel"):
        services.withdraw_consent(
            customer_id=customer, purpose="customer_database", method="m", actor="t", channel="?"
        )
    assert not ConsentEvent.objects.exists()


def test_the_overview_lists_the_purposes_a_customer_decides_on(
    leman: Any, customer: uuid.UUID
) -> None:
    event = services.give_consent(
        customer_id=customer, purpose="service_notices", method="checkbox", actor="t"
    )
    rows = {row.key: row for row in services.consent_overview(customer, "en")}
    consent_based = {p.key for p in leman.policy.purposes if p.basis == "consent"}
    assert set(rows) == consent_based
    notices = rows["service_notices"]
    assert notices.live and not notices.objected
    assert notices.name == "Sending notices" and notices.basis == "consent"
    assert notices.basis_label == "your consent"
    assert "email address" in notices.data_types
    assert notices.last is not None and notices.last.receipt_id == event.receipt_id
    assert notices.last.notice_text == event.notice.text  # type: ignore[union-attr]
    assert (notices.last.method, notices.last.channel) == ("checkbox", "api")
    assert rows["customer_database"].live is False and rows["customer_database"].last is None
    vi = {row.key: row for row in services.consent_overview(customer, "vi")}
    assert vi["service_notices"].name == "Gửi thông báo"
    with pytest.raises(ConsentError):
        services.consent_overview(customer, "xx")


def test_each_customer_sees_only_their_history(
    leman: Any, customer: uuid.UUID, new_customer: Callable[..., uuid.UUID]
) -> None:
    other = new_customer("other@example.vn")
    services.give_consent(customer_id=other, purpose="service_notices", method="m", actor="t")
    assert services.consent_history(customer) == []
    assert [e.customer_id for e in services.consent_history(other)] == [other]
    assert services.consent_overview(customer, "en")[0].last is None
