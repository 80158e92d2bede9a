"""Just-in-time notices (P25), generated from each of the five presets, in both languages."""

from __future__ import annotations

import re

import pytest
from django.utils import translation

from pledge.policy.jit import just_in_time
from pledge.policy.loader import load_policy, preset_names
from pledge.policy.render import period_phrase
from pledge.policy.schema import Policy
from pledge.policy.vocabulary import LEGAL_BASES

PRESETS = preset_names()
VIETNAMESE_LETTERS = re.compile("[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.I)


def collecting_purposes(policy: Policy) -> list[str]:
    return [p.key for p in policy.purposes if p.fields]


CASES = [
    (preset, purpose, lang)
    for preset in PRESETS
    for purpose in collecting_purposes(load_policy(preset).policy)
    for lang in ("vi", "en")
]


def test_the_five_presets_are_covered() -> None:
    assert len(PRESETS) == 5
    assert {preset for preset, _, _ in CASES} == set(PRESETS)


@pytest.mark.parametrize(("preset", "purpose_key", "lang"), CASES)
def test_p25_notice_says_what_why_basis_retention_recipients(
    preset: str, purpose_key: str, lang: str
) -> None:
    policy = load_policy(preset).policy
    purpose = policy.purpose(purpose_key)
    notice = just_in_time(policy, purpose_key, None, lang)

    assert notice.language == lang
    assert notice.purpose == purpose.name.get(lang)
    assert notice.why == purpose.description.get(lang)
    with translation.override(lang):
        assert notice.basis == str(LEGAL_BASES[purpose.basis])
    assert notice.consent is (purpose.basis == "consent")
    assert len(notice.fields) == len(purpose.fields)
    # How long: one sentence at least, naming each applicable rule's period.
    assert notice.retention
    with translation.override(lang):
        periods = {
            period_phrase(rule.period).casefold()
            for rule in policy.retention
            if any(set(policy.field(k).records) & set(rule.records) for k in purpose.fields)
        }
    for period in periods:
        assert any(period in sentence.casefold() for sentence in notice.retention), period
    # Who receives it: exactly the declared recipients of this purpose and these fields.
    expected = {
        r.name.get(lang)
        for r in policy.recipients
        if purpose_key in r.purposes and set(r.fields) & set(purpose.fields)
    }
    assert set(notice.recipients) == expected
    for name in expected:
        assert name in notice.recipients_text
    # The link to the full policy, in the same language, at this purpose.
    assert notice.policy_url == f"/privacy/?lang={lang}#purpose-{purpose_key}"
    # Every row is filled in, and the plain text holds them all.
    assert all(row.label and row.text for row in notice.rows)
    text = notice.as_text()
    for part in (notice.purpose, notice.collected, notice.recipients_text, notice.policy_url):
        assert part in text


def test_leman_order_notice_in_english() -> None:
    policy = load_policy("leman-jewelry").policy
    notice = just_in_time(
        policy, "order_fulfilment", ["full_name", "address", "email", "phone"], "en"
    )
    assert notice.purpose == "Providing services and completing orders"
    assert notice.collected == "full name, address (home or office), email address, phone number"
    assert notice.basis == "performing our contract with you (your order)"
    assert notice.retention == ("Until you ask us to cancel it",)
    assert notice.recipients == ("Third-party services integrated with the website leman.jewelry",)
    assert notice.consequences.startswith("This information is required to complete the order")
    assert not notice.consent


def test_leman_consent_notice_in_vietnamese() -> None:
    policy = load_policy("leman-jewelry").policy
    notice = just_in_time(policy, "customer_database", ["full_name", "email"], "vi")
    assert notice.purpose == "Quản lý cơ sở dữ liệu khách hàng"
    assert notice.basis == "sự đồng ý của bạn"
    assert notice.consent
    assert notice.collected == "họ và tên, địa chỉ thư điện tử"
    assert notice.retention == ("Cho đến khi bạn yêu cầu chúng tôi hủy",)
    assert set(notice.recipients) == {
        "Ban Giám đốc",
        "Đơn vị tổ chức sự kiện và nhà tài trợ",
        "Công ty nghiên cứu thị trường",
    }
    assert VIETNAMESE_LETTERS.search(notice.why)
    assert notice.policy_url == "/privacy/?lang=vi#purpose-customer_database"


def test_a_purpose_without_recipients_says_so() -> None:
    policy = load_policy("1stwatch").policy
    notice = just_in_time(policy, "order_fulfilment", None, "en")
    assert notice.recipients == ()
    assert "1stwatch" in notice.recipients_text
    assert "names no recipient" in notice.recipients_text


def test_a_transient_field_is_said_never_stored() -> None:
    policy = load_policy("leman-jewelry").policy
    notice = just_in_time(policy, "payment", ["card", "card_cvc"], "en")
    assert "Card security code (CVC): used for this step only and never stored" in notice.retention


def test_permanent_retention_is_stated_plainly() -> None:
    policy = load_policy("1stwatch").policy
    notice = just_in_time(policy, "order_fulfilment", None, "en")
    assert notice.retention == ("Permanently, with no time limit",)


@pytest.mark.parametrize(
    ("purpose", "fields", "lang", "message"),
    [
        ("no_such_purpose", None, "en", "declares no purpose"),
        ("order_fulfilment", ["card_cvc"], "en", "does not collect card_cvc"),
        ("order_fulfilment", ["id_number"], "en", "does not collect id_number"),
        ("order_fulfilment", [], "en", "at least one field"),
        ("order_fulfilment", None, "fr", "language"),
        ("state_requests", None, "en", "at least one field"),
    ],
)
def test_a_notice_never_describes_more_than_the_purpose_collects(
    purpose: str, fields: list[str] | None, lang: str, message: str
) -> None:
    policy = load_policy("leman-jewelry").policy
    with pytest.raises(ValueError, match=message):
        just_in_time(policy, purpose, fields, lang)
