"""The emails staff receive: the invitation to set up an account and the password-reset link, in
the staff member's language (vi or en), through the outbox (`pledge.notify`).

Each is queued inside the service's transaction and leaves only after it commits, sent by
`pledge worker` with retries. The answer to "reset my password" no longer waits for a mail server
at all: with an account the request writes one more (sealed) row than without, and the SMTP round
trip, which once had to run in a thread of its own to keep both answers alike, happens later in
the worker.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User

from pledge.notify.services import enqueue


@dataclass(frozen=True)
class StaffEmail:
    template: str  # accounts/email/<template>_subject.txt and _body.txt
    to: str
    language: str
    context: dict[str, object]

    def __repr__(self) -> str:  # never print the address or the link
        return f"StaffEmail({self.template!r})"

    def idempotency_key(self) -> str:
        """One message per request the service accepted. Two requests in the same second can
        carry the same link (reset tokens count seconds), and each still gets its email, so the
        key is random rather than derived from the link (which must not sit in a plain column
        anyway: it is a secret)."""
        return f"staff:{self.template}:{uuid.uuid4()}"


def email_language(user: User) -> str:
    profile = getattr(user, "staff", None)
    language = profile.language if profile is not None else settings.LANGUAGE_CODE
    return language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


def send_after_commit(email: StaffEmail) -> None:
    """Queue the email in the caller's transaction: it is sent only if that transaction commits."""
    enqueue(
        to=email.to,
        template=f"accounts/email/{email.template}",
        language=email.language,
        context=email.context,
        idempotency_key=email.idempotency_key(),
    )
