"""Complaints by email (issue 7; seed B: "the Customer sends a complaint email"): vetting one
message that `pledge mail-in` received and turning it into a complaint.

The shop's mail server forwards complaint mail to the listener (SMTP, or LMTP); `receive` decides
each message's fate and answers with the SMTP reply the listener sends back:

- **Too large** (over PLEDGE_MAILIN_MAX_BYTES): `552`. The listener refuses it while reading (or
  at `MAIL FROM … SIZE=`), before it is stored anywhere.
- **Malformed** — no From, a From that is not one valid address, no text body, a body or
  attachment that does not decode, a null envelope sender (a bounce is never a complaint, and
  answering it could loop): `554 5.6.0`.
- **Forged** — several From headers, a CR or LF inside a header value (header injection, raw or
  hidden in an encoded word), a From other than the envelope sender without a DMARC pass, or the
  trusted `Authentication-Results` (authserv-id PLEDGE_MAILIN_AUTHSERV_ID) saying dmarc fails, or
  spf/dkim fail without a DMARC pass: `550 5.7.1`.

Forged mail is refused rather than quarantined: the only client is the shop's own mail server,
which keeps the message and its own logs, bounces or quarantines it under its own policy; Pledge
keeps nothing it cannot attribute to a person, and so no second store of unattributed personal
data that erasure and retention would have to find. Every refusal writes one log line naming the
rule (never the sender, subject or text) and the event `complaints:mail_refused` with the rule.

Everything else becomes a complaint, in one transaction: the complainant
(`intake.complainant_for`; verified when PLEDGE_MAILIN_AUTHSERV_ID is set and its
Authentication-Results says dmarc=pass, or spf=pass with the From equal to the envelope sender),
`services.file_complaint` on the `email` channel with the subject and plain-text body (an HTML-only
body is reduced to its text; no markup is kept), then each attachment through
`evidence.store_evidence`. A refused attachment (too big, wrong type, one too many) is skipped with
a log line and a `complaints:mail_refused` event (`reason` `attachment:<rule>`); the complaint
stands. A text longer than the field's 2,000 characters is shortened with a note saying so, and the
full text is kept as a plain-text evidence file when the policy accepts evidence. `250` is
answered only after the commit. Any unexpected error answers `451` (the mail server retries) and
is logged by class and place only.
"""

from __future__ import annotations

import asyncio
import email.policy
import logging
import re
import socket
import traceback
import unicodedata
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from email.parser import BytesParser
from html.parser import HTMLParser
from typing import AnyStr

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import translation
from django.utils.translation import gettext

from pledge.audit.events import EventType
from pledge.audit.services import record_event
from pledge.complaints import evidence, intake
from pledge.complaints.models import ComplaintChannel
from pledge.complaints.services import FIELD, SYSTEM_COMPLAINTS, ComplaintInvalid, file_complaint
from pledge.vault.errors import PolicyNotInForce
from pledge.vault.normalise import DEFAULT_MAX_TEXT, MAX_TEXT

log = logging.getLogger(__name__)

ACTOR = "system:mail-in"
OK = "250 2.0.0 Complaint received"
TEMPORARY = "451 4.3.0 Temporary failure, please try again later"
# Raw header lines end in CRLF; a lone CR or LF inside one is an injected line break.
_BARE_EOL = re.compile(rb"\r(?!\n)|(?<!\r)\n")
_RESULT = re.compile(r"(dmarc|spf|dkim)=([a-z]+)")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BLANK_LINES = re.compile(r"\n{3,}")
# A complaint holds a few evidence files (PLEDGE_EVIDENCE_MAX_FILES); a message of more parts
# than this is not a customer writing in.
MAX_PARTS = 50


class Refusal(Exception):
    """A message the desk does not take: `rule` for the log and the audit, `reply` for SMTP."""

    def __init__(self, rule: str, reply: str, description: str) -> None:
        super().__init__(rule)
        self.rule = rule
        self.reply = reply
        self.description = description


def malformed(rule: str, description: str) -> Refusal:
    return Refusal(rule, f"554 5.6.0 Message refused: {description}", description)


def forged(rule: str, description: str) -> Refusal:
    return Refusal(rule, f"550 5.7.1 Message refused: {description}", description)


@dataclass
class Vetted:
    sender: str
    verified: bool
    language: str
    text: str
    body: Message | None
    attachments: list[tuple[str, bytes | None]] = field(default_factory=list)


# -- parsing ---------------------------------------------------------------------------------


def _header_block(data: bytes) -> bytes:
    end = data.find(b"\r\n\r\n")
    if end < 0:
        end = data.find(b"\n\n")
    return data if end < 0 else data[:end]


def _check_headers(data: bytes, message: EmailMessage) -> None:
    if _BARE_EOL.search(_header_block(data)):
        raise forged("header_injection", "a header holds a bare line break")
    try:
        for _, value in message.items():
            if "\r" in str(value) or "\n" in str(value):
                raise forged("header_injection", "a header value holds a line break")
    except (ValueError, LookupError, IndexError, AttributeError):
        raise malformed("undecodable_header", "a header cannot be decoded") from None


def _from_address(message: EmailMessage) -> str:
    values = message.get_all("From") or []
    if not values:
        raise malformed("no_from", "there is no From header")
    if len(values) > 1:
        raise forged("several_from", "there are several From headers")
    try:
        addresses = values[0].addresses
    except (AttributeError, ValueError, IndexError):
        addresses = ()
    if len(addresses) != 1 or "@" not in (addresses[0].addr_spec or ""):
        raise malformed("bad_from", "the From header is not one email address")
    return str(addresses[0].addr_spec)


def _same_address(a: str, b: str) -> bool:
    return unicodedata.normalize("NFC", a).strip().casefold() == (
        unicodedata.normalize("NFC", b).strip().casefold()
    )


def _strip_comments(text: str) -> str:
    """RFC 8601 values may hold (comments), nested and with quoted pairs; a result or property
    inside one must never count (security review: `dmarc=pass` hidden in a comment)."""
    out: list[str] = []
    depth = 0
    escaped = False
    for char in text:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if depth == 0:
                out.append(char)
            continue
        if char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif depth == 0:
            out.append(char)
    return "".join(out)


def authentication_results(
    message: Message, authserv_id: str, from_domain: str = ""
) -> dict[str, set[str]]:
    """Results of the trusted Authentication-Results header (RFC 8601): the topmost one whose
    authserv-id is the shop's mail server's. The server must remove such headers arriving from
    outside (RFC 8601 §5); a lower one could have been written by anyone. {} when there is none
    or no authserv-id is configured.

    Each `;`-separated result counts only by its leading `method=result`, comments removed; a
    dmarc result counts only when its `header.from` is the From address's domain."""
    if not authserv_id:
        return {}
    for value in message.get_all("Authentication-Results") or []:
        text = _strip_comments(str(value)).strip().lower()
        parts = text.split(";")
        server = parts[0].split()
        if not server or server[0] != authserv_id.lower():
            continue
        results: dict[str, set[str]] = {}
        for part in parts[1:]:
            tokens = part.split()
            if not tokens:
                continue
            head = _RESULT.fullmatch(tokens[0])
            if head is None:
                continue
            method, result = head.group(1), head.group(2)
            if method == "dmarc" and result == "pass":
                props = dict(t.split("=", 1) for t in tokens[1:] if "=" in t)
                if props.get("header.from", "") != from_domain.lower():
                    continue
            results.setdefault(method, set()).add(result)
        return results
    return {}


def _verify(message: Message, sender: str, envelope: str) -> bool:
    """Forged → `Refusal`; else whether the sender is verified (see the module's docstring)."""
    domain = sender.rpartition("@")[2]
    results = authentication_results(message, str(settings.PLEDGE_MAILIN_AUTHSERV_ID), domain)
    dmarc_pass = "pass" in results.get("dmarc", set())
    if "fail" in results.get("dmarc", set()):
        raise forged("dmarc_fail", "the sender failed DMARC at the shop's mail server")
    failed = results.get("spf", set()) | results.get("dkim", set())
    if not dmarc_pass and "fail" in failed:
        raise forged("spf_dkim_fail", "the sender failed SPF or DKIM at the shop's mail server")
    same = _same_address(sender, envelope)
    if not same and not dmarc_pass:
        raise forged("envelope_mismatch", "the From address is not the envelope sender")
    return dmarc_pass or ("pass" in results.get("spf", set()) and same)


class _TextOnly(HTMLParser):
    """The text of an HTML body: tags dropped, scripts and styles skipped, blocks on new lines."""

    _SKIP = frozenset({"script", "style", "head", "title", "template"})
    _BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "blockquote", "hr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _TextOnly()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(lines)


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        raise malformed("undecodable", "the text cannot be decoded")
    charset = part.get_content_charset("us-ascii")
    try:
        return payload.decode(charset)
    except LookupError:
        raise malformed("undecodable", "the text's character set is unknown") from None
    except UnicodeDecodeError:
        # Mail clients often label UTF-8 as US-ASCII; anything else mislabelled is refused.
        if charset in ("us-ascii", "ascii"):
            try:
                return payload.decode("utf-8")
            except UnicodeDecodeError:
                pass
        raise malformed("undecodable", "the text does not decode in its character set") from None


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub("", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


def _body(message: EmailMessage) -> tuple[str, Message | None]:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        raise malformed("no_text", "there is no text body")
    text = _decoded(part)
    if part.get_content_subtype() == "html":
        text = html_to_text(text)
    return _clean(text), part


def _language(*parts: Message | None) -> str:
    """The first language the message or its text part declares that Pledge speaks."""
    for part in parts:
        if part is None:
            continue
        value = str(part.get("Content-Language", "")).split(",")[0].strip().lower()
        primary = value.split("-")[0]
        if primary in dict(settings.LANGUAGES):
            return primary
    return str(settings.LANGUAGE_CODE)


def _attachments(message: EmailMessage, body: Message | None) -> list[tuple[str, bytes | None]]:
    found: list[tuple[str, bytes | None]] = []
    for part in message.walk():
        if part is body or part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        if part.get_content_maintype() == "text" and disposition != "attachment":
            continue  # the other alternative of the body (HTML next to plain text)
        payload = part.get_payload(decode=True)
        found.append((part.get_content_type(), payload if isinstance(payload, bytes) else None))
    return found


def vet(data: bytes, envelope_sender: str | None) -> Vetted:
    """Parse and check one message; `Refusal` naming the rule when it is not taken."""
    if len(data) > int(settings.PLEDGE_MAILIN_MAX_BYTES):
        raise Refusal("too_large", "552 5.3.4 Message too large", "the message is too large")
    try:
        message = BytesParser(policy=email.policy.default).parsebytes(data)
        # security review: thousands of parts or nesting deep enough to overflow the parser's
        # recursion are refused for good (5xx), not retried for days (4xx).
        parts = sum(1 for _ in message.walk())
    except (ValueError, LookupError, IndexError, TypeError):
        raise malformed("undecodable", "the message cannot be parsed") from None
    except RecursionError:
        raise malformed("too_deep", "the message nests its parts too deeply") from None
    if parts > MAX_PARTS:
        raise malformed("too_many_parts", f"the message has more than {MAX_PARTS} parts")
    assert isinstance(message, EmailMessage)
    _check_headers(data, message)
    if not envelope_sender or envelope_sender == "<>":
        raise malformed("null_sender", "automatic messages (bounces) are not complaints")
    sender = _from_address(message)
    verified = _verify(message, sender, envelope_sender)
    text, body = _body(message)
    subject = _clean(str(message.get("Subject", "")))
    if not text and not subject:
        raise malformed("no_text", "the message has no text")
    return Vetted(
        sender=sender,
        verified=verified and bool(settings.PLEDGE_MAILIN_AUTHSERV_ID),
        language=_language(message, body),
        text=f"{subject}\n\n{text}".strip() if subject else text,
        body=body,
        attachments=_attachments(message, body),
    )


# -- filing ----------------------------------------------------------------------------------


def _refused_event(rule: str, size: int, *, customer_id: object = None, record: str = "") -> None:
    record_event(
        EventType.COMPLAINT_MAIL_REFUSED,
        actor=ACTOR,
        customer_id=customer_id,  # type: ignore[arg-type]
        record=record,
        details={"reason": rule, "size": size},
    )


def record_refusal(rule: str, size: int, description: str) -> None:
    """One log line naming the rule (no sender, no text) and the audit event."""
    log.warning("mail-in refused a message (%d bytes): %s: %s", size, rule, description)
    with transaction.atomic():
        _refused_event(rule, size)


def _shortened(text: str, language: str, full_kept: bool) -> str:
    limit = MAX_TEXT.get(FIELD, DEFAULT_MAX_TEXT)
    if len(text) <= limit:
        return text
    with translation.override(language):
        if full_kept:
            note = gettext(
                "[…] (This email was longer than %(limit)s characters and was shortened here; "
                "its full text is attached as evidence.)"
            ) % {"limit": limit}
        else:
            note = gettext(
                "[…] (This email was longer than %(limit)s characters and was shortened here.)"
            ) % {"limit": limit}
    return text[: limit - len(note) - 2].rstrip() + "\n\n" + note


def _evidence_accepted() -> bool:
    from pledge.vault.access import policy

    complaints = policy().policy.complaints
    return complaints is not None and complaints.evidence_accepted


@transaction.atomic
def file_mail(vetted: Vetted, size: int) -> None:
    """The complaint, its full text if shortened, and its attachments, in one transaction."""
    limit = MAX_TEXT.get(FIELD, DEFAULT_MAX_TEXT)
    full = vetted.text.encode("utf-8")
    keep_full = (
        len(vetted.text) > limit
        and _evidence_accepted()
        and len(full) <= int(settings.PLEDGE_EVIDENCE_MAX_BYTES)
    )
    customer_id = intake.complainant_for(
        email=vetted.sender, language=vetted.language, verified=vetted.verified
    )
    complaint = file_complaint(
        actor=SYSTEM_COMPLAINTS,
        customer_id=customer_id,
        channel=ComplaintChannel.EMAIL.value,
        text=_shortened(vetted.text, vetted.language, keep_full),
        sender_verified=vetted.verified,
    )
    files: list[tuple[str, bytes | None]] = list(vetted.attachments)
    if keep_full:
        files.insert(0, ("text/plain", full))
    # Attachments are tried until the complaint holds as many as it may, and at most twice that
    # many are tried; the rest are left out in one line and one event (security review: one
    # event and one encrypted write per part was a denial of service).
    limit = int(settings.PLEDGE_EVIDENCE_MAX_FILES)
    stored = 0
    for tried, (content_type, content) in enumerate(files):
        if stored >= limit or tried >= 2 * limit:
            left_out = files[tried:]
            log.warning(
                "mail-in left out %d attachments of complaint %s: max_files",
                len(left_out),
                complaint.id,
            )
            _refused_event(
                "attachment:max_files",
                sum(len(c or b"") for _t, c in left_out),
                customer_id=customer_id,
                record=f"complaint:{complaint.id}",
            )
            break
        try:
            if content is None:
                raise evidence.EvidenceRefused("the attachment cannot be decoded", "undecodable")
            with transaction.atomic():
                evidence.store_evidence(
                    actor=SYSTEM_COMPLAINTS,
                    complaint_id=complaint.id,
                    filename=None,
                    content=content,
                    content_type=content_type,
                )
            stored += 1
        except evidence.EvidenceRefused as exc:
            # The complaint stands; the attachment is left out (the log and the audit say why).
            log.warning(
                "mail-in skipped an attachment of complaint %s (%d bytes, %s): %s",
                complaint.id,
                len(content or b""),
                content_type[:64],
                exc.rule,
            )
            _refused_event(
                f"attachment:{exc.rule}",
                len(content or b""),
                customer_id=customer_id,
                record=f"complaint:{complaint.id}",
            )
    log.info(
        "mail-in filed complaint %s (%d bytes, sender %s)",
        complaint.id,
        size,
        "verified" if vetted.verified else "unverified",
    )


def where(exc: BaseException) -> str:
    """Where an exception was raised, without its message (which could quote personal data)."""
    frames = traceback.extract_tb(exc.__traceback__)
    return " < ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in frames[::-1])


def receive(data: bytes, envelope_sender: str | None) -> str:
    """Vet and file one message; the SMTP reply. Never raises."""
    size = len(data)
    try:
        try:
            vetted = vet(data, envelope_sender)
        except Refusal as refusal:
            record_refusal(refusal.rule, size, refusal.description)
            return refusal.reply
        try:
            file_mail(vetted, size)
        except ComplaintInvalid as exc:
            rule = exc.problems[0].rule if exc.problems else exc.code
            record_refusal(f"invalid:{rule}", size, "the complaint is not valid")
            return "554 5.6.0 Message refused: the complaint is not valid"
        return OK
    except PolicyNotInForce:
        log.error("mail-in could not file a message: no privacy policy is in force")
        return TEMPORARY
    except Exception as exc:
        log.error("mail-in could not file a message: %s at %s", type(exc).__name__, where(exc))
        return TEMPORARY


# -- the listener (aiosmtpd) -----------------------------------------------------------------


def _receive_in_thread(data: bytes, envelope_sender: str | None) -> str:
    """`receive` in a worker thread: the ORM is synchronous, and each message starts and ends
    with a fresh database connection (a long-running listener must not keep a dead one)."""
    close_old_connections()
    try:
        return receive(data, envelope_sender)
    finally:
        connection.close()


def _record_too_large(size_limit: int) -> None:
    close_old_connections()
    try:
        record_refusal("too_large", size_limit, f"the message is over {size_limit} bytes")
    finally:
        connection.close()


class MailInHandler:
    """aiosmtpd handler: every accepted recipient is the complaints desk."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        try:
            return await asyncio.to_thread(_receive_in_thread, bytes(data), envelope.mail_from)
        except Exception as exc:  # the listener keeps running whatever happens
            log.error(
                "mail-in could not handle a message: %s at %s", type(exc).__name__, where(exc)
            )
            return TEMPORARY

    async def handle_exception(self, error: Exception) -> str:
        log.error("mail-in session error: %s at %s", type(error).__name__, where(error))
        return "451 4.3.0 Temporary failure"


class _LoggedSMTP(SMTP):
    """Logs and audits the listener's own 552 (a message over PLEDGE_MAILIN_MAX_BYTES, refused
    while it is read or at MAIL FROM … SIZE=), which aiosmtpd answers without calling us."""

    async def push(self, status: AnyStr) -> None:
        if (status.decode("ascii", "replace") if isinstance(status, bytes) else status).startswith(
            "552"
        ):
            limit = int(self.data_size_limit or 0)
            try:
                await asyncio.to_thread(_record_too_large, limit)
            except Exception as exc:
                log.error("mail-in could not audit a refusal: %s", type(exc).__name__)
        await super().push(status)


class _LoggedLMTP(_LoggedSMTP, LMTP):
    pass


class MailInController(Controller):
    def __init__(self, *, host: str, port: int, lmtp: bool) -> None:
        self.lmtp = lmtp
        super().__init__(
            MailInHandler(),
            hostname=host,
            port=port,
            server_hostname=socket.gethostname(),
            data_size_limit=int(settings.PLEDGE_MAILIN_MAX_BYTES),
            ident="Pledge mail-in",
        )

    def factory(self) -> SMTP:
        server = _LoggedLMTP if self.lmtp else _LoggedSMTP
        return server(self.handler, **self.SMTP_kwargs)
