"""The forms of a complaint on the customer's side (issue 7 items 1 and 4; P21, P22): the text,
an optional evidence file, and for the public form an optional email, a honeypot and a signed
time token.

Spam resistance without a third-party captcha (no script from elsewhere, nothing sent about the
visitor to anyone):
- a honeypot field that people never see (hidden with CSS and from screen readers, not
  `type=hidden`, which bots skip): a post that fills it is answered as if filed, and files nothing;
- the time the form was served, signed (`TimestampSigner`, a salt of its own): a post sooner than
  `MIN_SECONDS` after it (no person reads and writes a complaint that fast) or later than
  `MAX_AGE` (a forgotten form) is refused with a request to send it again; each token files once
  (`spend_token`), so a form fetched once cannot be posted again and again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time
from typing import Any

from django import forms
from django.conf import settings
from django.core import signing
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from pledge.complaints.models import FormTokenUse
from pledge.complaints.services import ComplaintInvalid, clean_complaint_text
from pledge.vault.accounts import clean_login_email
from pledge.vault.normalise import ValueInvalid

TEXT_MAX = 2000
FORM_SALT = "pledge.complaints.public-form"
# A person takes longer than this to read the form and write a complaint; a script does not.
MIN_SECONDS = 3
# A form older than this is stale (replayed, or left open overnight): sent again, it is fresh.
MAX_AGE = 6 * 3600
HONEYPOT = "website"


class _FormSigner(signing.TimestampSigner):
    """The time the form was served; `at` lets a test make a form served earlier."""

    def __init__(self, at: float | None = None) -> None:
        super().__init__(salt=FORM_SALT)
        self.at = at

    def timestamp(self) -> str:
        return str(signing.b62_encode(int(time.time() if self.at is None else self.at)))


_PREFIX = "complaint-form:"


def form_token(now: float | None = None) -> str:
    """The signed time the form was served, with a random part that makes it single-use
    (`spend_token`); `now`: a form served at that time, for tests."""
    return str(_FormSigner(now).sign(_PREFIX + secrets.token_urlsafe(12)))


def _unsigned(token: object) -> tuple[str, int] | None:
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    signer = _FormSigner()
    try:
        value, stamp = signing.Signer.unsign(signer, token).rsplit(signer.sep, 1)
        served = int(signing.b62_decode(stamp))
    except (signing.BadSignature, ValueError):
        return None
    if not value.startswith(_PREFIX) or len(value) <= len(_PREFIX):
        return None
    return value, served


def token_age(token: object) -> float | None:
    """Seconds since the form was served, or None for a token that is not ours."""
    found = _unsigned(token)
    return None if found is None else time.time() - found[1]


def spend_token(token: object) -> bool:
    """Mark a genuine token used; False when it was used before (a replayed form). Runs in the
    caller's transaction, so a filing that fails leaves the token unspent."""
    found = _unsigned(token)
    if found is None:
        return False
    now = timezone.now()
    FormTokenUse.objects.filter(used_at__lt=now - dt.timedelta(seconds=MAX_AGE)).delete()
    digest = hashlib.sha256(found[0].encode()).hexdigest()
    try:
        with transaction.atomic():
            FormTokenUse.objects.create(digest=digest, used_at=now)
    except IntegrityError:
        return False
    return True


def _clean_text(value: object) -> str:
    # Undecodable bytes arrive as U+FFFD (Django decodes with errors="replace"): say so, rather
    # than keep a complaint whose words were lost.
    if isinstance(value, str) and "\ufffd" in value:
        raise forms.ValidationError(
            gettext("The text holds characters that could not be read (not UTF-8)."),
            code="encoding",
        )
    try:
        return clean_complaint_text(value)
    except ComplaintInvalid as exc:
        rule = exc.problems[0].rule if exc.problems else ""
        raise forms.ValidationError(_text_message(rule), code=rule or "invalid") from None


def _text_message(rule: str) -> str:
    if rule == "required":
        return gettext("Write what happened.")
    if rule == "max_length":
        return gettext("The text is longer than %(limit)d characters.") % {"limit": TEXT_MAX}
    if rule == "control_characters":
        return gettext("The text holds control characters; remove them.")
    return gettext("The text cannot be accepted.")


def evidence_limit() -> int:
    return int(settings.PLEDGE_EVIDENCE_MAX_BYTES)


def _clean_evidence(upload: object) -> UploadedFile | None:
    """Checked for size before it is read (the type is checked from the bytes when stored)."""
    if not upload:
        return None
    if not isinstance(upload, UploadedFile):
        raise forms.ValidationError(gettext("The evidence must be a file."), code="type")
    limit = evidence_limit()
    if upload.size is not None and upload.size > limit:
        raise forms.ValidationError(
            gettext("The file is larger than %(limit)s KB.") % {"limit": limit // 1024},
            code="max_size",
        )
    if not upload.size:
        raise forms.ValidationError(gettext("The file is empty."), code="required")
    return upload


def evidence_message(rule: str) -> str:
    """What to tell the customer when `evidence.store_evidence` refuses a file (by its rule)."""
    messages = {
        "max_size": gettext("The file is larger than %(limit)s KB.")
        % {"limit": evidence_limit() // 1024},
        "file_type": gettext("The file must be a JPEG, PNG or WebP image, a PDF or plain text."),
        "content_type_mismatch": gettext("The file's content does not match its type."),
        "required": gettext("The file is empty."),
        "max_files": gettext("This complaint already holds as many files as it may."),
        "evidence_not_accepted": gettext("The shop does not accept files with complaints."),
    }
    return messages.get(rule, gettext("The file cannot be accepted."))


class TextArea(forms.Textarea):
    def __init__(self) -> None:
        super().__init__(attrs={"rows": 8, "maxlength": TEXT_MAX})


class ComplaintForm(forms.Form):
    """A complaint's text and, when the policy accepts evidence, one file (privacy center)."""

    text = forms.CharField(
        label=_("What happened?"),
        help_text=_("Say what happened and when. At most 2,000 characters."),
        widget=TextArea(),
        strip=False,
        required=False,
    )
    evidence = forms.FileField(
        label=_("Evidence (optional)"),
        help_text=_("One file: a JPEG, PNG or WebP image, a PDF or plain text."),
        required=False,
    )

    def __init__(self, *args: Any, evidence_accepted: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not evidence_accepted:
            del self.fields["evidence"]

    def clean_text(self) -> str:
        return _clean_text(self.cleaned_data.get("text"))

    def clean_evidence(self) -> UploadedFile | None:
        return _clean_evidence(self.cleaned_data.get("evidence"))


class PublicComplaintForm(ComplaintForm):
    """The public form, /complaint/: no account. The email is asked only when the policy keeps
    an email on complaint records (P01); a honeypot and a time token keep scripts out."""

    email = forms.EmailField(
        label=_("Your email address (optional)"),
        help_text=_(
            "The shop's answer and every message about the complaint are sent there too. "
            "It is kept with this complaint only, encrypted."
        ),
        max_length=254,
        required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    started = forms.CharField(widget=forms.HiddenInput, required=False)
    # Named like a field bots love to fill; people never see it (see the module's docstring).
    website = forms.CharField(
        label=_("Leave this field empty"),
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )

    def __init__(self, *args: Any, ask_email: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not ask_email:
            del self.fields["email"]

    @property
    def is_bot(self) -> bool:
        return bool(str(self.data.get(HONEYPOT, "")).strip())

    def clean(self) -> dict[str, Any]:
        # A form-wide error: the token is a hidden field, so the message stands above the form.
        super().clean()
        age = token_age(self.data.get("started", ""))
        if age is None or age > MAX_AGE:
            raise forms.ValidationError(
                gettext("This form is too old or damaged. Please check it and send it again."),
                code="stale",
            )
        if age < MIN_SECONDS:
            raise forms.ValidationError(
                gettext("This form was sent too quickly. Please check it and send it again."),
                code="too_fast",
            )
        return self.cleaned_data

    def clean_email(self) -> str | None:
        value = self.cleaned_data.get("email") or ""
        if not value:
            return None
        try:
            return clean_login_email(value)
        except ValueInvalid:
            raise forms.ValidationError(
                gettext("Enter a valid email address."), code="invalid"
            ) from None

    def fresh_token(self) -> str:
        """The token to serve again with this form: kept while it is valid, so the clock runs
        from the first time the form was served; new otherwise."""
        token = self.data.get("started", "")
        age = token_age(token)
        if age is not None and MIN_SECONDS <= age <= MAX_AGE:
            return str(token)
        return form_token()


class ReplyForm(forms.Form):
    """The customer writes again on their complaint, with an optional file."""

    text = forms.CharField(
        label=_("Your message"),
        widget=TextArea(),
        strip=False,
        required=False,
    )
    evidence = forms.FileField(label=_("Evidence (optional)"), required=False)

    def __init__(self, *args: Any, evidence_accepted: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not evidence_accepted:
            del self.fields["evidence"]

    def clean_text(self) -> str:
        return _clean_text(self.cleaned_data.get("text"))

    def clean_evidence(self) -> UploadedFile | None:
        return _clean_evidence(self.cleaned_data.get("evidence"))


class ReopenForm(forms.Form):
    """Reopening an answered complaint needs a reason (what in the answer is not right)."""

    text = forms.CharField(
        label=_("Why are you reopening the complaint?"),
        widget=TextArea(),
        strip=False,
        required=False,
    )

    def clean_text(self) -> str:
        return _clean_text(self.cleaned_data.get("text"))
