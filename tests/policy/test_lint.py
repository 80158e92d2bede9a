"""The policy linter: each code fires on the one thing it is about, cites its article, and stays
quiet on a clean policy (so every test fails without its rule)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.utils import translation
from pydantic import BaseModel

from pledge.policy.jurisdictions import Profile, load_profile
from pledge.policy.lint import LINT_CODES, PCI_CVC, PCI_PAN, LintWarning, lint_policy
from pledge.policy.loader import PolicyInvalid, parse_policy
from pledge.policy.schema import Policy, Text
from pledge.policy.vocabulary import RIGHTS

FIXTURE = Path(__file__).parent / "fixtures" / "minimal.yaml"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "policy-lint.md"

PDPL = load_profile("vn-pdpl-2026")
GDPR = load_profile("gdpr")
DECREE13 = load_profile("vn-decree13")

Data = dict[str, Any]
Mutation = Callable[[Data], None]


def _text(en: str, vi: str = "Nội dung") -> dict[str, str]:
    return {"vi": vi, "en": en}


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """Lint as `pledge policy check` does by default (--lang en): messages and articles in en."""
    with translation.override("en"):
        yield


def make_clean(data: Data) -> None:
    """Turn the minimal fixture into a policy no rule complains about."""
    data["processing_methods"] = _text("Stored encrypted, used by our staff.", "Lưu mã hóa.")
    data["purposes"][0]["consequences"] = _text("Without it we cannot deliver.", "Không giao được.")
    data["purposes"].append(
        {
            "key": "newsletter",
            "name": _text("Newsletter", "Bản tin"),
            "description": _text("Monthly offers by email.", "Ưu đãi hằng tháng qua email."),
            "basis": "consent",
            "marketing": True,
            "fields": ["email"],
        }
    )
    data["retention"] = [
        {
            "key": "invoices",
            "records": ["invoice"],
            "period": {
                "kind": "duration",
                "amount": 10,
                "unit": "years",
                "start": "fiscal_year_end",
            },
            "legal_hold": {
                "reason": _text("Accounting law.", "Luật Kế toán."),
                "article": _text(
                    "Accounting Law 88/2015/QH13 Art 41", "Điều 41 Luật Kế toán 88/2015/QH13"
                ),
            },
        },
        {
            "key": "orders",
            "records": ["order"],
            "period": {
                "kind": "duration",
                "amount": 2,
                "unit": "years",
                "start": "order_completion",
            },
        },
    ]
    data["recipients"] = [
        {
            "key": "courier",
            "name": _text("Delivery company", "Công ty giao hàng"),
            "kind": "processor",
            "purposes": ["order_fulfilment"],
            "fields": ["full_name", "phone"],
            "basis": "contract",
            "written_instructions": True,
        }
    ]
    all_rights = list(RIGHTS)
    data["rights"] = {
        "offered": list(all_rights),
        "channels": [
            {"kind": "email", "value": "shop@minimal.example", "rights": list(all_rights)}
        ],
        "identity_verification": _text("We check your order number.", "Kiểm tra mã đơn hàng."),
    }
    data["complaints"] = {
        "channels": [{"kind": "phone", "value": "0900000000"}],
        "response": {"hours": 24, "clock": "working_hours"},
    }
    data["breach"] = {"notify_authority": True, "notify_customers": True}
    data["cookies"] = {
        "categories": [
            {"key": "necessary", "description": _text("Cart and login.", "Giỏ hàng.")},
            {"key": "analytics", "description": _text("Statistics.", "Thống kê.")},
        ]
    }


class _PlainDumper(yaml.SafeDumper):
    """Write shared values out: policies refuse YAML aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def lint(
    *mutations: Mutation,
    clean: bool = True,
    jurisdictions: list[str] | None = None,
) -> list[LintWarning]:
    return lint_policy(make_policy(*mutations, clean=clean, jurisdictions=jurisdictions))


def make_policy(
    *mutations: Mutation, clean: bool = True, jurisdictions: list[str] | None = None
) -> Policy:
    """Load minimal.yaml, change it, dump it and parse it as a shop's file would be."""
    data = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))
    if clean:
        make_clean(data)
    if jurisdictions is not None:
        data["jurisdictions"] = jurisdictions
    for mutate in mutations:
        mutate(data)
    text = yaml.dump(data, Dumper=_PlainDumper, allow_unicode=True, sort_keys=False)
    try:
        return parse_policy(text).policy
    except PolicyInvalid as exc:  # show what the change broke, not just "1 problem(s)"
        raise AssertionError("\n".join(map(str, exc.problems))) from None


def found(warnings: list[LintWarning], code: str) -> list[tuple[str, str]]:
    return [(w.location, w.article) for w in warnings if w.code == code]


def codes(warnings: list[LintWarning]) -> set[str]:
    return {w.code for w in warnings}


def add_field(field: Data, purpose: int = 0) -> Mutation:
    def mutate(data: Data) -> None:
        data["fields"].append(field)
        data["purposes"][purpose]["fields"].append(field["key"])

    return mutate


@pytest.mark.parametrize(
    "jurisdictions", [["vn-pdpl-2026"], ["gdpr"], ["vn-decree13"], ["vn-pdpl-2026", "gdpr"]]
)
def test_clean_policy_has_no_warnings(jurisdictions: list[str]) -> None:
    assert lint(jurisdictions=jurisdictions) == []


def test_warnings_are_sorted_by_code_then_location() -> None:
    def many_fields(data: Data) -> None:
        for n in range(12):
            data["fields"].append(
                {"key": f"scan_{n}", "category": "user.government_id", "label": _text(f"Scan {n}")}
            )
            data["purposes"][0]["fields"].append(f"scan_{n}")

    warnings = lint(many_fields, clean=False)
    assert warnings == sorted(warnings, key=lambda w: w.code)
    pl005 = [w.location for w in warnings if w.code == "PL005"]
    assert pl005 == [f"fields[{n}]" for n in range(3, 15)]  # fields[10] after fields[9]


def test_every_warning_has_a_documented_name() -> None:
    warnings = lint(clean=False)
    assert warnings
    assert all(w.name == LINT_CODES[w.code] for w in warnings)


def test_every_code_is_documented() -> None:
    documented = set(re.findall(r"^## (PL\d{3})\b", DOCS.read_text(encoding="utf-8"), re.M))
    assert documented == set(LINT_CODES)


def test_codes_are_numbered_without_gaps() -> None:
    assert list(LINT_CODES) == [f"PL{n:03d}" for n in range(1, len(LINT_CODES) + 1)]


# --- PL001 / PL013 retention ----------------------------------------------------------------------


def set_period(index: int, period: Data) -> Mutation:
    def mutate(data: Data) -> None:
        data["retention"][index]["period"] = period

    return mutate


def test_pl001_permanent_retention_is_flagged() -> None:
    warnings = lint(set_period(1, {"kind": "permanent"}))
    assert found(warnings, "PL001") == [("retention[1].period", PDPL.storage_limitation.article.en)]
    assert "PL001" not in codes(lint())


def test_pl001_cites_every_applicable_profile() -> None:
    warnings = lint(set_period(1, {"kind": "permanent"}), jurisdictions=["vn-pdpl-2026", "gdpr"])
    [(_loc, article)] = found(warnings, "PL001")
    assert article == "PDPL 91/2025/QH15 Art 3; GDPR Art 5(1)(e)"


def _articles(node: object) -> list[Text]:
    """Every `article` in a profile, however deep."""
    if isinstance(node, list):
        return [a for item in node for a in _articles(item)]
    if not isinstance(node, BaseModel):
        return []
    own = [node.article] if isinstance(getattr(node, "article", None), Text) else []
    return own + [a for name in type(node).model_fields for a in _articles(getattr(node, name))]


@pytest.mark.parametrize("profile", [PDPL, DECREE13, GDPR], ids=lambda p: p.key)
def test_profile_articles_have_a_vietnamese_citation(profile: Profile) -> None:
    articles = _articles(profile)
    assert len(articles) > 15
    english = re.compile(r"\b(Art|Decree|Law|Recital|Directive|ND-CP|PDPL|per)\b")
    for article in articles:
        assert article.vi == unicodedata.normalize("NFC", article.vi)
        assert "Điều" in article.vi and not english.search(article.vi), article


def test_articles_are_cited_in_vietnamese_under_lang_vi() -> None:
    permanent = set_period(1, {"kind": "permanent"})
    with translation.override("vi"):
        warnings = lint(permanent, jurisdictions=["vn-pdpl-2026", "gdpr"])
        cvc = lint(add_field({"key": "card_cvc", "storage": "transient"}))
    [(_loc, article)] = found(warnings, "PL001")
    assert article == "Điều 3 Luật Bảo vệ dữ liệu cá nhân 91/2025/QH15; điểm e khoản 1 Điều 5 GDPR"
    assert article == f"{PDPL.storage_limitation.article.vi}; {GDPR.storage_limitation.article.vi}"
    assert found(cvc, "PL003") == [("fields[3]", "PCI DSS v4.0.1 Yêu cầu 3.3.1")]
    for w in warnings + cvc:
        assert "Art " not in w.article and "Req " not in w.article, w


@pytest.mark.parametrize("kind", ["until_cancellation", "until_purpose_ends"])
def test_pl013_open_ended_retention_is_flagged(kind: str) -> None:
    warnings = lint(set_period(1, {"kind": kind}), jurisdictions=["gdpr"])
    assert found(warnings, "PL013") == [("retention[1].period", "GDPR Art 5(1)(e)")]
    assert "PL001" not in codes(warnings)
    assert "PL013" not in codes(lint(jurisdictions=["gdpr"]))


# --- PL002 invoice legal hold ---------------------------------------------------------------------


def test_pl002_missing_invoice_rule_is_flagged() -> None:
    def drop_invoices(data: Data) -> None:
        del data["retention"][0]

    warnings = lint(drop_invoices)
    assert found(warnings, "PL002") == [("retention", "Accounting Law 88/2015/QH13 Art 41")]
    assert "PL002" not in codes(lint())


def test_pl002_invoice_rule_without_legal_hold_is_flagged() -> None:
    def drop_hold(data: Data) -> None:
        del data["retention"][0]["legal_hold"]

    assert found(lint(drop_hold), "PL002") == [
        ("retention[0]", "Accounting Law 88/2015/QH13 Art 41")
    ]


@pytest.mark.parametrize(
    ("period", "flagged"),
    [
        ({"kind": "duration", "amount": 9, "unit": "years", "start": "fiscal_year_end"}, True),
        ({"kind": "duration", "amount": 10, "unit": "years", "start": "order_completion"}, True),
        ({"kind": "duration", "amount": 11, "unit": "years", "start": "order_completion"}, False),
        ({"kind": "duration", "amount": 120, "unit": "months", "start": "fiscal_year_end"}, False),
        ({"kind": "until_cancellation"}, True),
    ],
)
def test_pl002_invoice_period_must_outlast_the_hold(period: Data, flagged: bool) -> None:
    warnings = found(lint(set_period(0, period)), "PL002")
    assert warnings == (
        [("retention[0].period", PDPL.retention_holds[0].article.en)] if flagged else []
    )


def test_pl002_needs_a_sale_and_a_profile_with_the_hold() -> None:
    def drop_invoices(data: Data) -> None:
        del data["retention"][0]

    def no_sale(data: Data) -> None:
        data["purposes"][0]["basis"] = "legitimate_interest"

    assert "PL002" not in codes(lint(drop_invoices, no_sale))
    assert "PL002" not in codes(lint(drop_invoices, jurisdictions=["gdpr"]))
    assert "PL002" in codes(lint(drop_invoices, jurisdictions=["vn-decree13"]))


# --- PL003 / PL004 payment cards ------------------------------------------------------------------


def test_pl003_cvc_collected_is_flagged() -> None:
    warnings = lint(add_field({"key": "card_cvc", "storage": "transient"}))
    assert found(warnings, "PL003") == [("fields[3]", PCI_CVC.en)]
    assert PCI_CVC.en == "PCI DSS v4.0.1 Req 3.3.1"
    # The CVC is never stored, so it needs no access rule (PL005) and is not stored card data.
    assert not codes(warnings) & {"PL004", "PL005"}
    assert "PL003" not in codes(lint(add_field({"key": "card", "storage": "transient"})))


def test_pl003_custom_cvc_field_is_flagged_by_category() -> None:
    field = {
        "key": "cvv",
        "category": "user.financial.credit_card.security_code",
        "label": _text("CVV"),
        "storage": "transient",
    }
    assert found(lint(add_field(field)), "PL003") == [("fields[3]", PCI_CVC.en)]


def test_pl004_stored_card_is_flagged() -> None:
    card = {"key": "card", "access_roles": ["customer_service"]}
    warnings = lint(add_field(card))
    assert found(warnings, "PL004") == [("fields[3]", PCI_PAN.en)]
    assert PCI_PAN.en == "PCI DSS v4.0.1 Req 3.4.1, 3.5.1"
    assert "PL004" not in codes(lint(add_field({**card, "storage": "transient"})))


# --- PL005 sensitive data -------------------------------------------------------------------------


def test_pl005_sensitive_field_without_access_roles_is_flagged() -> None:
    warnings = lint(add_field({"key": "id_document"}))
    assert found(warnings, "PL005") == [("fields[3]", "Decree 356/2025/ND-CP Art 4")]
    restricted = {"key": "id_document", "access_roles": ["customer_service"]}
    assert "PL005" not in codes(lint(add_field(restricted)))


def test_pl005_category_sensitive_under_the_profile_is_flagged() -> None:
    location = {"key": "gps", "category": "user.location", "label": _text("GPS position")}
    warnings = lint(add_field(location))
    assert found(warnings, "PL005") == [("fields[3]", PDPL.sensitive_data.article.en)]  # type: ignore[union-attr]


def test_pl005_follows_the_profile_list() -> None:
    health = {"key": "ring_size_reason", "category": "user.health", "label": _text("Health note")}
    assert found(lint(add_field(health), jurisdictions=["gdpr"]), "PL005") == [
        ("fields[3]", "GDPR Art 9")
    ]
    # Behaviour tracking is sensitive under Decree 356 Art 4, not under GDPR Art 9.
    tracking = {
        "key": "clicks",
        "category": "user.behavior.browsing_history",
        "label": _text("Clicks"),
        "sensitive": False,
    }
    assert found(lint(add_field(tracking)), "PL005") == [
        ("fields[3]", "Decree 356/2025/ND-CP Art 4")
    ]
    assert "PL005" not in codes(lint(add_field(tracking), jurisdictions=["gdpr"]))


def test_pl005_declared_sensitive_field_is_flagged() -> None:
    custom = {
        "key": "engraving",
        "category": "user.content.private",
        "label": _text("Engraving"),
        "sensitive": True,
    }
    assert found(lint(add_field(custom), jurisdictions=["gdpr"]), "PL005") == [
        ("fields[3]", PDPL.sensitive_data.article.en)  # type: ignore[union-attr]
    ]
    assert "PL005" not in codes(
        lint(add_field({**custom, "sensitive": False}), jurisdictions=["gdpr"])
    )


# --- PL006 / PL007 / PL012 consent ----------------------------------------------------------------


def test_pl006_consent_without_withdrawal_channel_is_flagged() -> None:
    def no_withdraw(data: Data) -> None:
        data["rights"]["channels"][0]["rights"].remove("withdraw_consent")

    assert found(lint(no_withdraw), "PL006") == [
        ("rights.channels", PDPL.consent.withdrawal.article.en)
    ]
    assert "PL006" not in codes(lint())


def test_pl006_no_rights_section_is_flagged_once() -> None:
    def no_rights(data: Data) -> None:
        del data["rights"]

    assert found(lint(no_rights, jurisdictions=["gdpr"]), "PL006") == [("", "GDPR Art 7(3)")]


def test_pl006_needs_a_consent_purpose() -> None:
    def no_withdraw_no_consent(data: Data) -> None:
        data["rights"]["channels"][0]["rights"].remove("withdraw_consent")
        del data["purposes"][1]

    assert "PL006" not in codes(lint(no_withdraw_no_consent))


def test_pl007_cookies_without_prior_consent_are_flagged() -> None:
    def analytics_first(data: Data) -> None:
        data["cookies"]["categories"][1]["prior_consent"] = False

    def necessary_first(data: Data) -> None:
        data["cookies"]["categories"][0]["prior_consent"] = False

    article = PDPL.consent.cookies_prior_consent.article.en  # type: ignore[union-attr]
    assert found(lint(analytics_first), "PL007") == [
        ("cookies.categories[1].prior_consent", article)
    ]
    assert "PL007" not in codes(lint(necessary_first))
    assert "PL007" not in codes(lint())


def test_pl012_marketing_without_consent_is_flagged() -> None:
    def legitimate_interest(data: Data) -> None:
        data["purposes"][1]["basis"] = "legitimate_interest"

    assert found(lint(legitimate_interest), "PL012") == [
        ("purposes[1].basis", "PDPL 91/2025/QH15 Art 28")
    ]
    assert "PL012" not in codes(lint())


# --- PL008 notice items ---------------------------------------------------------------------------


def _del(*path: str | int) -> Mutation:
    def mutate(data: Data) -> None:
        node = data
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return mutate


def _set(value: Any, *path: str | int) -> Mutation:
    def mutate(data: Data) -> None:
        node = data
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return mutate


@pytest.mark.parametrize(
    ("mutation", "location"),
    [
        (_del("processing_methods"), ""),
        (_set([], "recipients"), ""),
        (_del("purposes", 0, "consequences"), "purposes"),
        (_set([], "retention"), ""),
        (_del("controller", "address"), "controller"),
        (_set({}, "controller", "contact"), "controller"),
        (_del("rights"), ""),
        (
            _set(["access", "withdraw_consent"], "rights", "channels", 0, "rights"),
            "rights.channels",
        ),
        (_del("complaints"), ""),
    ],
)
def test_pl008_missing_notice_item_is_flagged(mutation: Mutation, location: str) -> None:
    assert found(lint(mutation), "PL008") == [(location, PDPL.notice.article.en)]
    assert "PL008" not in codes(lint())


def test_pl008_phone_or_email_is_enough_contact() -> None:
    assert "PL008" not in codes(lint(_set({"email": "a@b.example"}, "controller", "contact")))
    assert "PL008" not in codes(lint(_set({"phone": "0900000001"}, "controller", "contact")))


def test_pl008_minimal_policy_misses_six_items() -> None:
    warnings = found(lint(clean=False), "PL008")
    assert len(warnings) == 6
    assert ("purposes", PDPL.notice.article.en) in warnings


def test_pl008_follows_the_profile_items() -> None:
    # GDPR Art 13 does not ask for the processing method or a complaints desk of the shop.
    warnings = lint(_del("processing_methods"), _del("complaints"), jurisdictions=["gdpr"])
    assert "PL008" not in codes(warnings)
    assert found(lint(_del("controller", "address"), jurisdictions=["gdpr"]), "PL008") == [
        ("controller", "GDPR Art 13, 14")
    ]


# --- PL009 / PL010 complaints ---------------------------------------------------------------------

ACK = PDPL.complaints.acknowledge.article.en  # type: ignore[union-attr]
NEGOTIATE = PDPL.complaints.negotiate.article.en  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("attr", "sla", "article"),
    [
        ("acknowledgement", {"hours": 25, "clock": "working_hours"}, ACK),  # 3 × 8 h = 24
        ("acknowledgement", {"hours": 73, "clock": "calendar"}, ACK),  # 3 working days ≥ 72 h
        ("response", {"hours": 57, "clock": "working_hours"}, NEGOTIATE),  # 7 × 8 h = 56
        ("response", {"hours": 169, "clock": "calendar"}, NEGOTIATE),  # 7 × 24 h = 168
    ],
)
def test_pl009_complaint_sla_longer_than_the_law_is_flagged(
    attr: str, sla: Data, article: str
) -> None:
    warnings = lint(_set(sla, "complaints", attr))
    assert found(warnings, "PL009") == [(f"complaints.{attr}.hours", article)]
    within = {**sla, "hours": sla["hours"] - 1}
    assert "PL009" not in codes(lint(_set(within, "complaints", attr)))


def test_pl009_counts_the_shops_working_day() -> None:
    long_days = {
        "days": ["mon", "tue", "wed", "thu", "fri"],
        "open": "08:00",
        "close": "19:00",
        "breaks": [{"start": "12:00", "end": "13:00"}],
    }  # 10 working hours a day
    ack = {"hours": 30, "clock": "working_hours"}
    assert "PL009" in codes(lint(_set(ack, "complaints", "acknowledgement")))
    assert "PL009" not in codes(
        lint(_set(ack, "complaints", "acknowledgement"), _set(long_days, "business_hours"))
    )


def test_pl010_no_complaint_response_time_is_flagged() -> None:
    warnings = lint(_del("complaints", "response"))
    assert found(warnings, "PL010") == [("complaints", ACK)]
    assert "PL010" not in codes(lint())
    assert "PL010" not in codes(lint(_del("complaints", "response"), jurisdictions=["gdpr"]))


# --- PL011 breach ---------------------------------------------------------------------------------


def test_pl011_missing_breach_section_is_flagged() -> None:
    [(location, article)] = found(lint(_del("breach")), "PL011")
    assert location == ""
    assert PDPL.breach.authority.article.en in article
    assert "Art 72(3)" in article  # the 24-hour rule when the shop's system is attacked
    assert "PL011" not in codes(lint())


def test_pl011_no_authority_notice_is_flagged() -> None:
    warnings = lint(_set(False, "breach", "notify_authority"), jurisdictions=["gdpr"])
    assert found(warnings, "PL011") == [("breach.notify_authority", "GDPR Art 33(1)")]


def test_pl011_no_customer_notice_is_flagged_where_the_law_requires_it() -> None:
    no_customers = _set(False, "breach", "notify_customers")
    assert found(lint(no_customers, jurisdictions=["gdpr"]), "PL011") == [
        ("breach.notify_customers", "GDPR Art 34")
    ]
    # The Vietnamese profiles carry no data-subject notification duty (LAW.md).
    assert "PL011" not in codes(lint(no_customers))


# --- PL014 – PL017 --------------------------------------------------------------------------------


def test_pl014_processor_without_written_instructions_is_flagged() -> None:
    warnings = lint(_set(False, "recipients", 0, "written_instructions"), jurisdictions=["gdpr"])
    assert found(warnings, "PL014") == [("recipients[0].written_instructions", "GDPR Art 28(3)")]
    adviser = lint(
        _set(False, "recipients", 0, "written_instructions"),
        _set("adviser", "recipients", 0, "kind"),
    )
    assert "PL014" not in codes(adviser)


def test_pl015_recipient_abroad_without_description_is_flagged() -> None:
    abroad = _set("SG", "recipients", 0, "country")
    [(location, article)] = found(lint(abroad), "PL015")
    assert location == "recipients[0]"
    assert "PDPL" in article
    described = _set(_text("Hosting in Singapore."), "recipients", 0, "description")
    assert "PL015" not in codes(lint(abroad, described))
    assert "PL015" not in codes(lint(abroad, jurisdictions=["gdpr"]))
    assert "PL015" not in codes(lint(_set("VN", "recipients", 0, "country")))


def test_pl016_portability_not_offered_is_flagged() -> None:
    def no_portability(data: Data) -> None:
        data["rights"]["offered"].remove("portability")
        data["rights"]["channels"][0]["rights"].remove("portability")

    assert found(lint(no_portability, jurisdictions=["gdpr"]), "PL016") == [
        ("rights.offered", "GDPR Art 20")
    ]
    assert "PL016" not in codes(lint(no_portability))  # no portability rule in the VN profile


def test_pl017_records_without_retention_rule_are_flagged() -> None:
    def on_records(data: Data) -> None:
        data["fields"][0]["records"] = ["order", "profile"]
        data["fields"][1]["records"] = ["profile"]

    assert found(lint(on_records), "PL017") == [
        ("fields[0].records[1]", PDPL.storage_limitation.article.en)
    ]
    warning = next(w for w in lint(on_records) if w.code == "PL017")
    assert "full_name, email" in warning.message

    def covered(data: Data) -> None:
        data["fields"][0]["records"] = ["order"]

    assert "PL017" not in codes(lint(covered))
