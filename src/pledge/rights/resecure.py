"""Re-secure a customer whose data was misused (P20; issue 6 item 6).

Seed A promises, after a complaint about disclosure, to "help the customer restore and re-secure
their information". Pledge does it in one staff action, in one transaction:

1. every privacy-center session of the customer's account ends (whoever holds a stolen cookie is
   out), and the password is replaced by an unusable one: the old password no longer signs in, and
   the account's sessions are bound to the password hash, so none can come back (P16);
2. the customer's data is re-keyed: a new data key, every value and file re-encrypted, the old key
   destroyed after commit (`pledge.vault.rekey`), so a copy of the old key opens nothing new;
3. the customer is told, by email in their language through the outbox: what was done, why (the
   staff member's explanation, which is why it may hold no one's personal data), and what to do
   next: choose a new password with the link in the same email.

The audit event `rights:resecured` carries counts only (sessions, values, files, whether an
account was reset and the customer notified): never the explanation, an address or a link.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from pledge.accounts.customers import end_sessions, make_reset_token
from pledge.accounts.models import CustomerAccount
from pledge.audit.events import EventType
from pledge.audit.services import record_event
from pledge.notify.rendering import shop_name
from pledge.vault.access import Actor
from pledge.vault.errors import AccessRefused, NotFound, VaultError
from pledge.vault.models import Customer

EXPLANATION_MAX = 1000
# The explanation is sent to the customer: refuse what looks like an email address or a phone/ID
# number, so nobody's personal data travels in it (the same rule as an extension's reason).
_PERSONAL_LOOKING = re.compile(r"@|\d[\d .-]{6,}\d")
TEMPLATE = "rights/email/resecured"


class ResecureInvalid(VaultError):
    status = 422
    code = "resecure-invalid"
    title = "Re-secure refused"


class ResecureUnavailable(VaultError):
    """The customer was erased: there is nothing left to re-secure."""

    status = 409
    code = "resecure-unavailable"
    title = "Nothing to re-secure"


@dataclass(frozen=True)
class ResecureReport:
    customer_id: uuid.UUID
    sessions_revoked: int
    password_reset: bool  # an account existed; its old password no longer signs in
    values: int  # encrypted values re-keyed
    files: int  # encrypted files (ID documents) re-keyed
    notified: bool  # an email went to the address on file

    def as_dict(self) -> dict[str, int | bool]:
        """Counts only, for the audit event and the console (never a value)."""
        return {
            "sessions_revoked": self.sessions_revoked,
            "password_reset": self.password_reset,
            "values": self.values,
            "files": self.files,
            "notified": self.notified,
        }


def clean_explanation(explanation: object) -> str:
    if not isinstance(explanation, str) or not explanation.strip():
        raise ResecureInvalid("write what happened: the explanation is sent to the customer")
    text = " ".join(explanation.split())
    if len(text) > EXPLANATION_MAX:
        raise ResecureInvalid(f"the explanation is longer than {EXPLANATION_MAX} characters")
    if _PERSONAL_LOOKING.search(text):
        raise ResecureInvalid(
            "the explanation must not contain email addresses, phone or ID numbers: it is sent "
            "to the customer"
        )
    return text


def _public_url(public_url: str | None) -> str:
    base = str(getattr(settings, "PLEDGE_PUBLIC_URL", "") or "") or (public_url or "")
    return base.rstrip("/")


def _reset_account(account: CustomerAccount | None) -> tuple[int, str | None]:
    """End the account's sessions and make its password unusable; (sessions ended, token)."""
    if account is None:
        return 0, None
    ended = end_sessions(account)
    # An unusable hash ("!" + random): no password matches it, so the old one stops working at
    # once, and the session hash every signed-in request is checked against changes with it.
    account.password = make_password(None)
    account.password_changed_at = timezone.now()
    account.save(update_fields=["password", "password_changed_at"])
    if account.disabled_at is not None:
        return ended, None  # a disabled account gets no reset link: it cannot sign in anyway
    # Made after the change: the link is bound to the new hash and dies once used (accounts).
    return ended, make_reset_token(account)


@transaction.atomic
def resecure_customer(
    *,
    actor: Actor,
    customer_id: uuid.UUID,
    reason: str,
    public_url: str | None = None,
) -> ResecureReport:
    """Revoke sessions, force a password reset, re-key the data, tell the customer (P20).

    `reason` is the explanation sent to the customer; `public_url` is this site's address for
    the reset link when PLEDGE_PUBLIC_URL is not set (the console passes its request's origin).
    """
    from pledge.vault.contact import contact_email
    from pledge.vault.rekey import rekey_customer

    if actor.kind not in ("staff", "system"):
        raise AccessRefused("only staff may re-secure a customer")
    if not isinstance(customer_id, uuid.UUID):
        raise ResecureInvalid(f"customer_id must be a UUID, not {type(customer_id).__name__}")
    explanation = clean_explanation(reason)
    base = _public_url(public_url)
    customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
    if customer is None:
        raise NotFound(f"no customer {customer_id}")
    if customer.erased_at is not None:
        raise ResecureUnavailable("this customer was erased: nothing is left to re-secure")
    # The address is read before the re-key, while nothing else has changed (audited by contact).
    to = contact_email(customer_id=customer_id, reason="resecured")
    account = CustomerAccount.objects.select_for_update().filter(customer_id=customer_id).first()
    if account is not None and not base:
        # A reset link the customer cannot open is no reset: refuse before anything changes.
        raise ResecureInvalid("no address for the reset link: set PLEDGE_PUBLIC_URL")
    sessions, token = _reset_account(account)
    rekeyed = rekey_customer(actor=actor, customer_id=customer_id)
    reset_url = f"{base}{reverse('portal:password_reset_confirm', args=[token])}" if token else ""
    notified = False
    if to:
        from pledge.notify.services import enqueue

        language = customer.language if customer.language in dict(settings.LANGUAGES) else "vi"
        enqueue(
            to=to,
            template=TEMPLATE,
            language=language,
            context={
                "shop": shop_name() or str(getattr(settings, "PLEDGE_SHOP", "") or "Pledge"),
                "explanation": explanation,
                "sessions": sessions,
                "has_account": account is not None,
                "reset_url": reset_url,
                "forgot_url": f"{base}{reverse('portal:password_reset')}" if base else "",
                "hours": max(1, int(settings.PASSWORD_RESET_TIMEOUT) // 3600),
            },
            idempotency_key=f"resecured:{customer_id}:{uuid.uuid4().hex}",
            customer_id=customer_id,
        )
        notified = True
    report = ResecureReport(
        customer_id=customer_id,
        sessions_revoked=sessions,
        password_reset=account is not None,
        values=rekeyed.values,
        files=rekeyed.files,
        notified=notified,
    )
    record_event(
        EventType.RIGHTS_RESECURED,
        actor=actor.label,
        actor_role=actor.role,
        customer_id=customer_id,
        details=report.as_dict(),
    )
    return report
