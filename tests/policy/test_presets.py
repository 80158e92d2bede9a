"""The five presets: valid, faithful to their seeds, and flagged where a lawyer would object."""

from __future__ import annotations

import io
import json
import re
from importlib import resources

import pytest
from django.core.management import call_command

from pledge.policy.lint import lint_policy
from pledge.policy.loader import load_policy, preset_names
from pledge.policy.vocabulary import STANDARD_FIELDS

PRESETS = {
    "james-jewelry": "A",
    "leman-jewelry": "B",
    "jewelryodm": "C",
    "1stwatch": "D",
    "tungduong": "E",
}


def codes(preset: str) -> dict[str, list[str]]:
    """Lint code → locations of that warning for a preset."""
    found: dict[str, list[str]] = {}
    for warning in lint_policy(load_policy(preset).policy):
        found.setdefault(warning.code, []).append(warning.location)
    return found


def warned_fields(preset: str, code: str) -> set[str]:
    policy = load_policy(preset).policy
    keys = set()
    for location in codes(preset).get(code, []):
        match = re.fullmatch(r"fields\[(\d+)\].*", location)
        if match:
            keys.add(policy.fields[int(match.group(1))].key)
    return keys


def test_there_is_one_preset_per_seed() -> None:
    assert sorted(preset_names()) == sorted(PRESETS)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_each_preset_passes_check_with_exit_0(preset: str) -> None:
    out = io.StringIO()
    call_command("policy", "check", preset, "--json", stdout=out)  # raises SystemExit if invalid
    report = json.loads(out.getvalue())
    assert report["valid"] is True
    assert report["shop"] == preset


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_strict_check_exits_2_on_the_warnings_of_each_seed(preset: str) -> None:
    # Every seed has something a lawyer would raise, so --strict refuses each of them.
    with pytest.raises(SystemExit) as exc:
        call_command("policy", "check", preset, "--strict", stdout=io.StringIO())
    assert exc.value.code == 2


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_entry_cites_its_seed(preset: str) -> None:
    text = (resources.files("pledge.policy") / "presets" / f"{preset}.yaml").read_text("utf-8")
    seed = PRESETS[preset]
    assert f"# seed {seed}:" in text
    # Each list entry (a field, purpose, role, rule, recipient…) has a comment right above it.
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^  - key: ", line):
            above = lines[i - 1].strip()
            assert above.startswith("#"), (
                f"{preset} line {i + 1}: {line.strip()} has no seed comment"
            )


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_share_one_field_vocabulary(preset: str) -> None:
    policy = load_policy(preset).policy
    standard = {f.key for f in policy.fields if f.key in STANDARD_FIELDS}
    assert len(standard) >= 3
    assert standard & {"full_name", "email", "phone"}
    # A custom field must say what it is, in both languages.
    for f in policy.fields:
        if f.key not in STANDARD_FIELDS:
            assert f.category and f.label


def test_d_permanent_retention_is_flagged() -> None:
    # seed D: "Thông tin cá nhân của khách hàng sẽ được lưu trữ vĩnh viễn"
    policy = load_policy("1stwatch").policy
    assert any(rule.period.kind == "permanent" for rule in policy.retention)
    assert "PL001" in codes("1stwatch")
    assert "PL001" not in codes("leman-jewelry")


def test_b_cvc_is_collected_for_payment_only_and_flagged() -> None:
    policy = load_policy("leman-jewelry").policy
    cvc = policy.field("card_cvc")
    assert cvc.storage == "transient"  # never stored (PCI DSS 3.3.1)
    assert warned_fields("leman-jewelry", "PL003") == {"card_cvc"}
    assert "PL003" not in codes("tungduong")


def test_b_card_data_kept_is_flagged() -> None:
    assert warned_fields("leman-jewelry", "PL004") == {"card"}


def test_b_id_images_and_card_data_are_sensitive_without_access_rules() -> None:
    assert {"card", "id_document"} <= warned_fields("leman-jewelry", "PL005")


@pytest.mark.parametrize("preset", ["leman-jewelry", "tungduong"])
def test_b_and_e_have_no_invoice_legal_hold(preset: str) -> None:
    assert "PL002" in codes(preset)


def test_b_cookies_without_prior_consent() -> None:
    policy = load_policy("leman-jewelry").policy
    assert policy.cookies is not None
    flagged = codes("leman-jewelry")["PL007"]
    advertising = next(i for i, c in enumerate(policy.cookies.categories) if c.key == "advertising")
    assert any(loc.startswith(f"cookies.categories[{advertising}]") for loc in flagged)


def test_c_cookies_without_prior_consent_too() -> None:
    assert "PL007" in codes("jewelryodm")


def test_d_has_no_external_recipients_p06() -> None:
    # seed D: "chỉ lưu hành nội bộ" — used internally only.
    policy = load_policy("1stwatch").policy
    assert all(r.kind in {"board", "state_agency"} for r in policy.recipients)


def test_complaint_slas_follow_the_seeds_p21() -> None:
    a = load_policy("james-jewelry").policy.complaints
    b = load_policy("leman-jewelry").policy.complaints
    d = load_policy("1stwatch").policy.complaints
    assert a is not None and a.response is not None
    assert (a.response.hours, a.response.clock) == (24, "calendar")
    assert b is not None and b.response is not None
    assert (b.response.hours, b.response.clock) == (24, "working_hours")
    assert (
        d is not None and d.compensation is not None
    )  # "bồi thường tùy theo từng mức độ thiệt hại"


def test_controller_contacts_follow_the_seeds_p26() -> None:
    a = load_policy("james-jewelry").policy.controller
    assert a.contact.phone == "0589157979"
    assert a.contact.email == "james.luxuryngt@gmail.com"
    e = load_policy("tungduong").policy.controller
    assert e.contact.phone == "0913080864"
    assert e.contact.hotline_hours is not None
    assert (e.contact.hotline_hours.open, e.contact.hotline_hours.close) == ("07:00", "20:00")


def test_c_is_subject_to_gdpr_and_the_others_to_the_vietnamese_law() -> None:
    assert load_policy("jewelryodm").policy.jurisdictions == ["gdpr"]
    for preset in ("james-jewelry", "leman-jewelry", "1stwatch", "tungduong"):
        assert "vn-pdpl-2026" in load_policy(preset).policy.jurisdictions


def test_presets_list_command() -> None:
    out = io.StringIO()
    call_command("policy", "presets", stdout=out)
    for name in PRESETS:
        assert name in out.getvalue()
