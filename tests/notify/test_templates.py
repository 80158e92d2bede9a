"""Templates in Vietnamese and English chosen by the message's language, with an HTML part from the
template's own HTML file or else from the shared layout (escaped text, clickable links)."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import pytest

from pledge.notify.delivery import deliver_due
from tests.notify.conftest import queue, reset_context
from tests.smtp import Mailbox, body_of

URL = "https://privacy.shop.example/console/password-reset/MQ/abc-123/"


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None and part.get_content_type() == "text/html"
    return str(part.get_content())


@pytest.mark.parametrize(
    ("language", "subject", "sentence"),
    [
        ("en", "Reset your password at Leman Jewelry", "To choose a new password"),
        ("vi", "Đặt lại mật khẩu tại Leman Jewelry", "Để chọn mật khẩu mới"),
    ],
)
def test_the_language_chooses_the_subject_the_text_and_the_html(
    leman: Any, mailbox: Mailbox, language: str, subject: str, sentence: str
) -> None:
    queue(language=language, context=reset_context(URL))
    assert deliver_due() == 1
    [message] = mailbox.wait_for(1)
    assert message["Subject"].strip() == subject  # RFC 2047 folding may leave a space
    assert message["Content-Language"] == language
    text = body_of(message)
    assert sentence in text and URL in text
    html = html_of(message)
    # The layout: the language, the shop of the policy in force, the text with a live link.
    assert f'<html lang="{language}"' in html
    assert "<p" in html and "Leman Jewelry" in html
    assert f'<a href="{URL}"' in html
    assert sentence in html
    assert f"<title>{subject}</title>" in html


def test_the_layout_escapes_the_text(db: None, mailbox: Mailbox) -> None:
    # The text templates are written with autoescape off (they are plain text); whatever a value
    # holds must not become markup in the HTML part.
    queue(context={**reset_context(URL), "shop": '<img src=x onerror="alert(1)">'})
    deliver_due()
    [message] = mailbox.wait_for(1)
    assert '<img src=x onerror="alert(1)">' in body_of(message)
    html = html_of(message)
    assert "<img" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


def test_without_a_policy_the_layout_names_no_shop(db: None, mailbox: Mailbox) -> None:
    queue(context=reset_context(URL))
    deliver_due()
    html = html_of(mailbox.wait_for(1)[0])
    assert "This message was sent automatically." in html
    assert "privacy service of" not in html


@pytest.mark.parametrize(
    ("language", "title"), [("en", "Reset your password"), ("vi", "Đặt lại mật khẩu")]
)
def test_a_template_with_its_own_html_file_uses_it(
    db: None, mailbox: Mailbox, notify_templates: None, language: str, title: str
) -> None:
    queue(
        template="notifytest/welcome",
        language=language,
        context={"name": "Lê <Văn> Tám", "url": URL},
    )
    deliver_due()
    [message] = mailbox.wait_for(1)
    assert message["Subject"].strip() == f"{title} (Lê <Văn> Tám)"
    assert body_of(message).strip() == f"{title}: {URL}"
    html = html_of(message)
    assert html.startswith("<!DOCTYPE html>")
    assert f'<html lang="{language}"><body><h1>{title}</h1>' in html
    assert "<p>Lê &lt;Văn&gt; Tám</p>" in html  # the HTML template escapes as usual


def test_a_subject_is_one_line(db: None, mailbox: Mailbox, notify_templates: None) -> None:
    queue(template="notifytest/welcome", context={"name": "A\r\nBcc: x@example.vn", "url": URL})
    deliver_due()
    [message] = mailbox.wait_for(1)
    assert message["Subject"] == "Reset your password (A Bcc: x@example.vn)"
    assert message["Bcc"] is None
