"""The rendered policy holds every notice item of LAW.md, in both languages (P26, P24)."""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser

import pytest

from pledge.policy.loader import load_policy, preset_names
from pledge.policy.render import SECTIONS, render_policy

# LAW.md "Privacy notice contents" → the section of the page that carries it.
NOTICE_ITEMS = {
    "purpose": "purposes",
    "data types": "data",
    "processing method": "processing",
    "recipients": "recipients",
    "consequences": "consequences",
    "start and end of processing / retention": "retention",
    "controller identity and contact": "controller",
    "how to access, edit and delete": "rights",
    "complaint mechanism": "complaints",
}

HEADINGS = {
    "en": {
        "purposes": "Why we use your data",
        "data": "The data we collect",
        "processing": "How we process and protect it",
        "recipients": "Who receives your data",
        "consequences": "If you do not give your data",
        "retention": "How long we keep it",
        "controller": "Who is responsible and how to reach us",
        "rights": "Your rights: see, correct and delete your data",
        "complaints": "Complaints",
    },
    "vi": {
        "purposes": "Vì sao chúng tôi dùng dữ liệu của bạn",
        "data": "Dữ liệu chúng tôi thu thập",
        "processing": "Cách chúng tôi xử lý và bảo vệ dữ liệu",
        "recipients": "Ai nhận dữ liệu của bạn",
        "consequences": "Nếu bạn không cung cấp dữ liệu",
        "retention": "Chúng tôi lưu giữ bao lâu",
        "controller": "Ai chịu trách nhiệm và cách liên hệ",
        "rights": "Quyền của bạn: xem, sửa và xóa dữ liệu",
        "complaints": "Khiếu nại",
    },
}

# Words that are English and never Vietnamese (no diacritics-free Vietnamese word matches them).
ENGLISH_WORDS = {
    "the",
    "and",
    "your",
    "you",
    "we",
    "our",
    "data",
    "policy",
    "with",
    "for",
    "of",
    "is",
    "are",
    "by",
    "or",
    "not",
    "this",
    "personal",
    "information",
    "customer",
    "customers",
    "privacy",
    "within",
    "hours",
    "days",
    "from",
    "will",
    "may",
    "purpose",
    "purposes",
    "consent",
    "cookies",
    "when",
    "which",
    "who",
    "what",
    "how",
    "order",
    "orders",
    "email",
    "phone",
    "address",
    "name",
    "service",
    "services",
    "right",
    "rights",
    "law",
    "version",
}


class _Text(HTMLParser):
    """Visible text of a page, leaving out what is not prose: code, links' targets, style."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"style", "script", "code"}:
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in {"style", "script", "code"}:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(parser.parts)


def proper_names(preset: str) -> list[str]:
    """Names that stay as they are in any language: brands, legal names, addresses on the web."""
    policy = load_policy(preset).policy
    names = [policy.name, policy.controller.legal_name, policy.controller.website]
    names += [policy.controller.trade_name or ""]
    if policy.cookies:
        for cat in policy.cookies.categories:
            for svc in cat.services:
                names += [svc.name.en, svc.provider.en, *svc.cookies]
    names += ["Tiếng Việt", "English", "Global Privacy Control", "SHA-256", "Pledge"]
    return sorted({n for n in names if n}, key=len, reverse=True)


def english_left(text: str, names: list[str]) -> list[str]:
    for name in names:
        text = text.replace(name, " ")
    text = re.sub(r"\S+@\S+|https?://\S+|www\.\S+|\b[\w.-]+\.(?:com|vn|jewelry|org)\b", " ", text)
    words = re.findall(r"[A-Za-z]+", text)
    return sorted({w for w in words if w.lower() in ENGLISH_WORDS})


@pytest.mark.parametrize("preset", preset_names())
@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_notice_item_of_the_law_is_on_the_page(preset: str, lang: str) -> None:
    html = render_policy(load_policy(preset).policy, lang, "html")
    for item, section in NOTICE_ITEMS.items():
        match = re.search(rf'<section id="{section}">\s*<h2>([^<]+)</h2>', html)
        assert match, f"{preset} {lang}: no section for the notice item {item!r}"
        assert match.group(1) == HEADINGS[lang][section]
    assert f'<html lang="{lang}">' in html


@pytest.mark.parametrize("preset", preset_names())
def test_all_sections_render_in_markdown(preset: str) -> None:
    for lang in ("vi", "en"):
        md = render_policy(load_policy(preset).policy, lang, "md")
        for section in NOTICE_ITEMS.values():
            assert f"## {HEADINGS[lang][section]}" in md
        assert "{%" not in md and "{{" not in md


@pytest.mark.parametrize("preset", preset_names())
def test_the_vietnamese_page_has_no_english_left(preset: str) -> None:
    html = render_policy(load_policy(preset).policy, "vi", "html")
    text = visible_text(html)
    assert english_left(text, proper_names(preset)) == []


@pytest.mark.parametrize("preset", preset_names())
def test_the_vietnamese_page_uses_correct_diacritics(preset: str) -> None:
    text = visible_text(render_policy(load_policy(preset).policy, "vi", "html"))
    assert unicodedata.is_normalized("NFC", text)
    # Letters only Vietnamese uses, and words whose diacritics a careless translation drops.
    assert re.search("[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", text)
    for word in ("Chính sách bảo mật", "dữ liệu cá nhân", "Khiếu nại", "Quyền của bạn"):
        assert word in text
    for wrong in ("Chinh sach", "du lieu ca nhan", "Khieu nai"):
        assert wrong not in text


@pytest.mark.parametrize("preset", preset_names())
def test_the_english_page_is_in_english(preset: str) -> None:
    text = visible_text(render_policy(load_policy(preset).policy, "en", "html"))
    assert "Privacy policy of" in text
    assert "Why we use your data" in text
    assert "Chính sách" not in text


def test_the_controllers_contacts_are_published_p26() -> None:
    html = render_policy(load_policy("james-jewelry").policy, "en", "html")
    assert "0589157979" in html
    assert "james.luxuryngt@gmail.com" in html
    assert "Ngo Gia Tu" in html
    html = render_policy(load_policy("tungduong").policy, "vi", "html")
    assert "0913080864" in html
    assert "07:00–20:00" in html


def test_a_gap_in_the_policy_is_said_not_hidden() -> None:
    # Seed D gives no postal address: the page says so instead of leaving a hole.
    html = render_policy(load_policy("1stwatch").policy, "en", "html")
    assert "This policy gives no postal address." in html


def test_sections_have_stable_ids() -> None:
    html = render_policy(load_policy("leman-jewelry").policy, "en", "html")
    for section in SECTIONS:
        assert f'id="{section}"' in html


def test_p07_the_page_says_the_banner_asks_first_even_where_the_file_does_not() -> None:
    # Preset B says its cookies are set until refused (prior_consent: false, linted as PL007);
    # Pledge's banner asks first for every non-essential category, and the page must say what
    # the software does.
    loaded = load_policy("leman-jewelry")
    assert loaded.policy.cookies is not None
    assert not any(c.prior_consent for c in loaded.policy.cookies.categories)
    page = render_policy(loaded.policy, "en", fmt="html")
    assert "Set without asking first" not in page
    assert page.count("Used only after you agree in the cookie banner") == 3  # all but necessary
