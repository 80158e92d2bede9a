"""The public complaint form and a complaint's private status page (issue 7; P21, P22).

For people without a privacy-center account: `/complaint/` files a complaint (throttled,
spam-resistant without a third-party captcha), `/complaint/s/<token>/` is the complaint's thread
behind a signed link (complaints/links.py) given on filing and in every email.

- `start`: the text, an email when the policy keeps one on complaint records (P01; else the page
  says to keep the link), an optional file. Beyond the allowance per client address and per email
  (the privacy center's "emails sent" counters, pledge.accounts.throttle), a "try later" page
  (429) and nothing filed. The complaint is filed against a new complainant customer
  (complaints/intake.py: a typed address proves nothing, so it never reaches an existing
  customer's data), acting as the system `complaint-form`.
- `status`: the link's holder acts as that complaint's customer for that one complaint: the
  thread, a reply, a reopen. Any invalid, tampered or revoked link gets one 404 page that says
  nothing more. The URL is a bearer secret: no referrer leaves the page, no cache keeps it, no
  search engine indexes it.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core import signing
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from pledge.accounts import throttle
from pledge.accounts.clients import client_address, throttle_address
from pledge.complaints import evidence as evidence_store
from pledge.complaints import handling, intake, links, services
from pledge.complaints.forms import (
    PublicComplaintForm,
    ReopenForm,
    ReplyForm,
    evidence_message,
    form_token,
    spend_token,
)
from pledge.complaints.models import (
    Complaint,
    ComplaintChannel,
    ComplaintEvidence,
    ComplaintOutcome,
    ComplaintStatus,
    MessageKind,
)
from pledge.policy.enforcement import EnforcedPolicy, NoPolicyInForce, enforced_policy
from pledge.vault.access import Actor
from pledge.vault.errors import NotFound, VaultError
from pledge.vault.models import RecordKind
from pledge.vault.normalise import normalise_email
from pledge.vault.services import check_collectable

log = logging.getLogger(__name__)

FORM_ACTOR = Actor(kind="system", id="complaint-form")
# Counted apart from the privacy center's own uses of the same scopes.
_THROTTLE_PREFIX = "complaints\x00"
_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "application/pdf": "pdf",
    "text/plain": "txt",
}


def language() -> str:
    return "en" if (get_language() or "vi").startswith("en") else "vi"


def when(value: dt.datetime | None) -> str:
    if value is None:
        return ""
    return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")


# -- the thread as the customer sees it (shared with the privacy center) --------------------


@dataclass(frozen=True)
class EvidenceLink:
    url: str
    label: str


@dataclass(frozen=True)
class EntryView:
    kind: str
    who: str
    when: str
    text: str
    reason: str
    evidence: tuple[EvidenceLink, ...]


def _who(kind: str) -> str:
    return {
        "complaint": _("Your complaint"),
        MessageKind.CUSTOMER.value: _("You wrote"),
        MessageKind.STAFF.value: _("The shop wrote"),
        MessageKind.ANSWER.value: _("The shop's answer"),
    }.get(kind, "")


def _size(size: int) -> str:
    return _("%(kb)s KB") % {"kb": max(1, round(size / 1024))}


def thread_context(
    found: handling.Thread, evidence_url: Callable[[uuid.UUID], str]
) -> dict[str, Any]:
    """What the customer's thread template needs: entries in words, the answer's outcome,
    compensation, and whether a reply or a reopen is possible now."""
    complaint = found.complaint
    entries = [
        EntryView(
            kind=e.kind,
            who=_who(e.kind),
            when=when(e.created_at),
            text=e.text,
            reason=e.reason,
            evidence=tuple(
                EvidenceLink(
                    evidence_url(ev.id),
                    _("File %(n)d (%(size)s)") % {"n": n, "size": _size(ev.size)},
                )
                for n, ev in enumerate(e.evidence, start=1)
            ),
        )
        for e in found.entries
        if e.kind != MessageKind.NOTE
    ]
    now = timezone.now()
    reopen_until = found.reopen_until if found.reopen_until and found.reopen_until > now else None
    status = ComplaintStatus(complaint.status)
    return {
        "complaint": complaint,
        "reference": str(complaint.id)[:8],
        "status_label": status.label,
        "channel_label": ComplaintChannel(complaint.channel).label,
        "received": when(complaint.received_at),
        "due": when(complaint.due_at),
        "open": status
        in (
            ComplaintStatus.RECEIVED,
            ComplaintStatus.ACKNOWLEDGED,
            ComplaintStatus.IN_PROGRESS,
            ComplaintStatus.REOPENED,
        ),
        "outcome": ComplaintOutcome(complaint.outcome).label if complaint.outcome else "",
        "entries": entries,
        "compensations": [
            {
                "amount": c.amount,
                "currency": c.currency,
                "reason": c.reason,
                "when": when(c.recorded_at),
            }
            for c in found.compensations
        ],
        "unavailable": found.unavailable,
        "can_reply": status != ComplaintStatus.CLOSED and not found.unavailable,
        "reopen_until": when(reopen_until) if reopen_until else "",
    }


def evidence_accepted(enforced: EnforcedPolicy) -> bool:
    complaints = enforced.policy.complaints
    return complaints is not None and complaints.evidence_accepted


def store_upload(
    actor: Actor,
    complaint_id: uuid.UUID,
    upload: UploadedFile | None,
    message_id: uuid.UUID | None = None,
) -> None:
    """Keep the uploaded file encrypted under the customer's key (refusals name the rule)."""
    if upload is None:
        return
    evidence_store.store_evidence(
        actor=actor,
        complaint_id=complaint_id,
        filename=upload.name,
        content=upload.read(),
        content_type=upload.content_type or "",
        message_id=message_id,
    )


@transaction.atomic
def reply_with_evidence(
    actor: Actor,
    complaint_id: uuid.UUID,
    text: str,
    channel: str,
    upload: UploadedFile | None,
) -> None:
    """The customer's reply and its file, both or neither."""
    message = handling.customer_reply(
        actor=actor, complaint_id=complaint_id, text=text, channel=channel
    )
    store_upload(actor, complaint_id, upload, message.id)


def evidence_response(row: ComplaintEvidence, data: bytes) -> HttpResponse:
    """The file as a download: never rendered in the page's origin (an uploaded PDF or text
    file must not run as a page of ours), never cached."""
    response = HttpResponse(data, content_type=row.content_type)
    name = f"evidence-{str(row.id)[:8]}.{_EXTENSIONS.get(row.content_type, 'bin')}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


# -- the public form ------------------------------------------------------------------------


def _secret_page(
    request: HttpRequest, template: str, context: dict[str, Any], status: int
) -> HttpResponse:
    """A page whose URL or content is the status link: a bearer secret (P14)."""
    response = render(request, template, context, status=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _not_found(request: HttpRequest) -> HttpResponse:
    return _secret_page(request, "complaints/link_invalid.html", {}, 404)


def _ask_email(enforced: EnforcedPolicy) -> bool:
    """P01: the address is asked only if the policy keeps `email` on complaint records."""
    return not check_collectable(
        enforced, services.PURPOSE, {intake.EMAIL: None}, RecordKind.COMPLAINT
    )


@transaction.atomic
def _allowed(email: str | None, address: str) -> bool:
    """Both counted on every try, so neither a new address nor a new email resets the other."""
    now = timezone.now()
    by_address = throttle.count_request(
        throttle.subject(
            throttle.Scope.CUSTOMER_RESET_ADDRESS, _THROTTLE_PREFIX + throttle_address(address)
        ),
        now=now,
    )
    by_email = True
    if email:
        by_email = throttle.count_request(
            throttle.subject(
                throttle.Scope.CUSTOMER_RESET_ACCOUNT, _THROTTLE_PREFIX + normalise_email(email)
            ),
            now=now,
        )
    return by_address and by_email


class FormReplayed(Exception):
    """The form's token filed a complaint already (a replayed post)."""


@transaction.atomic
def _file_public(
    *, text: str, email: str | None, upload: UploadedFile | None, lang: str, token: str
) -> Complaint:
    """The complainant, the complaint and its file: all or nothing (the acknowledgement is
    queued in the same transaction, so it exists only if the complaint does). The form's token
    is spent in the same transaction: it files once, and a failed filing leaves it unspent."""
    if not spend_token(token):
        raise FormReplayed
    customer_id = intake.complainant_for(email=email, language=lang, verified=False)
    complaint = services.file_complaint(
        actor=FORM_ACTOR,
        customer_id=customer_id,
        channel=ComplaintChannel.WEB_FORM,
        text=text,
    )
    store_upload(FORM_ACTOR, complaint.id, upload)
    return complaint


def _decoy_path() -> str:
    """A status link for a complaint that does not exist: what a honeypot post is shown, so a
    script learns nothing from the answer (the link opens the "not valid" page)."""
    token = signing.Signer(salt=links.SALT).sign_object(
        {"k": uuid.uuid4().hex, "g": 0}, compress=False
    )
    return reverse("complaint:status", args=[token])


def _received(request: HttpRequest, path: str, emailed: bool) -> HttpResponse:
    return _secret_page(
        request,
        "complaints/received.html",
        {"status_url": request.build_absolute_uri(path), "emailed": emailed},
        200,
    )


@require_http_methods(["GET", "POST"])
def start(request: HttpRequest) -> HttpResponse:
    try:
        enforced = enforced_policy()
    except NoPolicyInForce:
        return _secret_page(request, "complaints/unavailable.html", {}, 503)
    options = {"ask_email": _ask_email(enforced), "evidence_accepted": evidence_accepted(enforced)}
    status = 200
    if request.method == "POST":
        form = PublicComplaintForm(data=request.POST, files=request.FILES, **options)
        if form.is_bot:
            # Answered like a complaint filed, so the script cannot tell; nothing is kept.
            log.info("public complaint form: honeypot filled, nothing filed")
            return _received(request, _decoy_path(), emailed=False)
        status = 400
        replayed = False
        if form.is_valid():
            data = form.cleaned_data
            email = data.get("email")
            if not _allowed(email, client_address(request)):
                return _secret_page(request, "complaints/throttled.html", {}, 429)
            try:
                complaint = _file_public(
                    text=data["text"],
                    email=email,
                    upload=data.get("evidence"),
                    lang=language(),
                    token=str(request.POST.get("started", "")),
                )
            except FormReplayed:
                log.info("public complaint form: a used form token was sent again, nothing filed")
                form.add_error(
                    None, _("This form was already sent. Please check it and send it again.")
                )
                replayed = True
            except evidence_store.EvidenceRefused as refused:
                form.add_error(
                    "evidence" if "evidence" in form.fields else None,
                    evidence_message(refused.rule),
                )
                status = refused.status
            except services.ComplaintInvalid as error:
                field = error.problems[0].field if error.problems else None
                if field == intake.EMAIL and "email" in form.fields:
                    form.add_error("email", _("Enter a valid email address."))
                else:
                    form.add_error(None, error.message)
                status = error.status
            except VaultError as error:
                form.add_error(
                    None,
                    _("This complaint could not be accepted: %(reason)s")
                    % {"reason": error.message},
                )
                status = error.status
            else:
                return _received(request, links.status_path(complaint), emailed=bool(email))
        # Served again with its original time (or a fresh one if that was refused).
        served_again = request.POST.copy()
        served_again["started"] = form_token() if replayed else form.fresh_token()
        form.data = served_again
    else:
        form = PublicComplaintForm(initial={"started": form_token()}, **options)
    policy = enforced.policy
    return _secret_page(
        request,
        "complaints/start.html",
        {
            "form": form,
            "shop": policy.controller.trade_name or policy.controller.legal_name,
            "ask_email": options["ask_email"],
        },
        status,
    )


# -- the status link ------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def status(request: HttpRequest, token: str) -> HttpResponse:
    try:
        grant = links.read_token(token)
        enforced = enforced_policy()
    except (links.LinkInvalid, NoPolicyInForce):
        return _not_found(request)
    actor = Actor(kind="customer", id=str(grant.customer_id))
    accepts = evidence_accepted(enforced)
    reply = ReplyForm(evidence_accepted=accepts)
    reopen = ReopenForm()
    problem = ""
    code = 200
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "reopen":
                reopen = ReopenForm(data=request.POST)
                code = 400
                if reopen.is_valid():
                    handling.reopen(
                        actor=actor,
                        complaint_id=grant.complaint_id,
                        text=reopen.cleaned_data["text"],
                        channel=ComplaintChannel.WEB_FORM,
                    )
                    messages.success(request, _("Your complaint was reopened."))
                    return _back(request)
            elif action == "reply":
                reply = ReplyForm(data=request.POST, files=request.FILES, evidence_accepted=accepts)
                code = 400
                if reply.is_valid():
                    reply_with_evidence(
                        actor,
                        grant.complaint_id,
                        reply.cleaned_data["text"],
                        ComplaintChannel.WEB_FORM,
                        reply.cleaned_data.get("evidence"),
                    )
                    messages.success(request, _("Your message was sent."))
                    return _back(request)
            else:
                code = 400
                problem = _("Unknown action: send the reply or the reopen form.")
        except NotFound:
            return _not_found(request)
        except evidence_store.EvidenceRefused as refused:
            reply.add_error(
                "evidence" if "evidence" in reply.fields else None, evidence_message(refused.rule)
            )
            code = refused.status
        except handling.ComplaintConflict as conflict:
            problem = _conflict_message(action)
            code = conflict.status
        except services.ComplaintInvalid as error:
            problem = error.message
            code = error.status
    try:
        found = handling.thread(actor=actor, complaint_id=grant.complaint_id)
    except NotFound:
        return _not_found(request)
    context = thread_context(
        found,
        lambda evidence_id: reverse("complaint:evidence", args=[token, evidence_id]),
    )
    context.update(
        {"reply_form": reply, "reopen_form": reopen, "problem": problem, "action_url": request.path}
    )
    return _secret_page(request, "complaints/status.html", context, code)


def _back(request: HttpRequest) -> HttpResponse:
    """After a post, back to the page (a reload does not send it twice)."""
    response = HttpResponseRedirect(request.path)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _conflict_message(action: object) -> str:
    if action == "reopen":
        return _(
            "This complaint cannot be reopened now: the time to reopen it has passed. "
            "You can file a new complaint."
        )
    return _("This complaint is closed: reopen it, or file a new complaint.")


@require_GET
def evidence(request: HttpRequest, token: str, evidence_id: uuid.UUID) -> HttpResponse:
    try:
        grant = links.read_token(token)
        row, data = evidence_store.read_evidence(
            actor=Actor(kind="customer", id=str(grant.customer_id)),
            complaint_id=grant.complaint_id,
            evidence_id=evidence_id,
        )
    except (links.LinkInvalid, NotFound):
        return _not_found(request)
    response = evidence_response(row, data)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
