"""The emails staff receive: the invitation to set up an account and the password-reset link, in
the staff member's language (vi or en), sent through Django's email backend (SMTP by default).

Messages are rendered inside the service's transaction and handed to the mail server only after it
commits. Delivery runs in a thread of its own: the answer to "reset my password" must take as long
for an email without an account as for one with an account, so the SMTP round trip cannot be part
of it. (The outbox of issue 5 replaces this thread with a queued, retried delivery.)
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation

log = logging.getLogger(__name__)
DEFAULT_TIMEOUT = 30  # seconds, when EMAIL_TIMEOUT is not set


@dataclass(frozen=True)
class StaffEmail:
    template: str  # accounts/email/<template>_subject.txt and _body.txt
    to: str
    language: str
    context: dict[str, object]

    def render(self) -> EmailMessage:
        with translation.override(self.language):
            subject = render_to_string(
                f"accounts/email/{self.template}_subject.txt", self.context
            ).strip()
            body = render_to_string(f"accounts/email/{self.template}_body.txt", self.context)
        return EmailMessage(
            subject=" ".join(subject.split()),
            body=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[self.to],
            headers={"Auto-Submitted": "auto-generated", "Content-Language": self.language},
        )


def email_language(user: User) -> str:
    profile = getattr(user, "staff", None)
    language = profile.language if profile is not None else settings.LANGUAGE_CODE
    return language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


def send_after_commit(email: StaffEmail) -> None:
    message = email.render()
    transaction.on_commit(lambda: _deliver_in_background(message, email.template))


def _deliver_in_background(message: EmailMessage, template: str) -> None:
    threading.Thread(
        target=_deliver, args=(message, template), name=f"pledge-mail-{template}"
    ).start()


def _deliver(message: EmailMessage, template: str) -> None:
    try:
        # A timeout always: a mail server that never answers must not keep this thread (and the
        # process's shutdown, which waits for it) forever.
        message.connection = get_connection(timeout=settings.EMAIL_TIMEOUT or DEFAULT_TIMEOUT)
        message.send(fail_silently=False)
    except Exception:  # any SMTP or network failure: logged, never the address or the link
        log.exception("could not send the %s email; check PLEDGE_EMAIL_HOST", template)
