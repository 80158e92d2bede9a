"""Giving customer data to a recipient: only as the policy declares it (P10, P11).

`disclose` checks, in this order, and refuses (audited as `disclosures:refused`, in a transaction
of its own so the record survives the refusal) at the first rule that fails:

1. the recipient is declared in the policy in force (P11);
2. the purpose is one of that recipient's purposes;
3. the actor's role holds the purpose (`vault.access.authorize`, P06, P09);
4. every field is one of the recipient's fields, is stored at all (card CVC never is: PCI DSS
   3.3.1), is read by the purpose, is visible to the actor's role for it, and is shown *whole*
   to it (P09: a field the role sees masked must not leave the shop whole through a file);
5. a state agency, or a disclosure on the basis `legal_request`, names its legal reference (the
   article, decision or request number); without it the request is refused (P10: "except the
   law", so the law must be named). The reference goes into the audit log, the register and the
   customer's page, and the audit log is never erased: text that looks like personal data (a
   phone, an email, an id number) is refused;
6. the basis holds for every customer: no restriction or standing objection, a live consent in
   the ledger where the recipient's basis or the purpose's is consent (P04, P10).

Malformed input (wrong types, too long, unknown customers) is refused with status 422, audited
the same way. Nothing is disclosed unless every check passes for every customer: one refusal
refuses the whole request, so staff never half-hand a list over. Then, in one transaction, the
`Disclosure`, one `DisclosedCustomer` per customer and one `disclosures:made` event per customer
(recipient, purpose, fields, basis, legal reference; never a value). The values themselves are
decrypted only when the file for the recipient is downloaded (`export.py`), through the vault,
audited.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn, TypeVar

from django.db import transaction
from django.utils import timezone

from pledge.audit.events import EventType, Outcome
from pledge.audit.services import EventSpec, record_event, record_events
from pledge.complaints.pii import personal_data_hints
from pledge.consent.services import has_live_consent
from pledge.disclosures.models import DisclosedCustomer, Disclosure
from pledge.policy.enforcement import EnforcedPolicy
from pledge.policy.schema import Recipient
from pledge.vault.access import Actor, authorize, policy, visible_fields
from pledge.vault.errors import Problem, VaultError
from pledge.vault.models import Customer
from pledge.vault.services import require_consent

MAX_CUSTOMERS = 1000
MAX_FIELDS = 64
MAX_REFERENCE_CHARS = 200
# Recipients whose every disclosure answers a request of the law (P10: "except ... the law").
LEGAL_KINDS = frozenset({"state_agency"})
EVENT = EventType.DISCLOSURE_REFUSED
T = TypeVar("T")


class DisclosureRefused(VaultError):
    """The policy does not allow this disclosure (P10, P11); the problem names the rule."""

    status = 403
    code = "disclosure-refused"
    title = "Disclosure refused by the privacy policy"


class DisclosureInvalid(VaultError):
    """The request itself is malformed (wrong types, too long, unknown customers)."""

    status = 422
    code = "disclosure-invalid"
    title = "Invalid disclosure request"


def _printable(value: object, limit: int = 63) -> str:
    text = str(value)
    return "".join(c if c.isprintable() else "\ufffd" for c in text)[:limit]


def refuse_disclosure(
    rule: str,
    message: str,
    *,
    actor: Actor,
    recipient: object,
    purpose: object = "",
    field: str | None = None,
    fields: Iterable[str] = (),
    customer_id: uuid.UUID | None = None,
    status: int = 403,
) -> NoReturn:
    """Record the refusal in a transaction of its own (it must survive the raise), then raise.
    The message names the rule and keys only, never a personal value."""
    error: VaultError = (DisclosureRefused if status == 403 else DisclosureInvalid)(
        message, [Problem(field, rule, message)]
    )
    with transaction.atomic():
        record_event(
            EVENT,
            actor=actor.label,
            actor_role=actor.role,
            customer_id=customer_id,
            purpose=_printable(purpose),
            fields=[f for f in fields if isinstance(f, str) and len(f) <= 63 and f.isidentifier()],
            outcome=Outcome.REFUSED,
            details={"recipient": _printable(recipient), "rule": rule},
        )
    raise error


def declared_recipient(enforced: EnforcedPolicy, key: object) -> Recipient | None:
    if not isinstance(key, str):
        return None
    for recipient in enforced.policy.recipients:
        if recipient.key == key:
            return recipient
    return None


def needs_legal_reference(recipient: Recipient) -> bool:
    return recipient.kind in LEGAL_KINDS or recipient.basis == "legal_request"


def clean_reference(value: object) -> str:
    """The legal reference as recorded: NFC, trimmed, printable, at most 200 characters."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DisclosureInvalid(
            "legal_reference must be text",
            [Problem("legal_reference", "type", "legal_reference must be text")],
        )
    text = unicodedata.normalize("NFC", value).strip()
    if len(text) > MAX_REFERENCE_CHARS:
        raise DisclosureInvalid(
            f"legal_reference: at most {MAX_REFERENCE_CHARS} characters",
            [Problem("legal_reference", "too_long", f"at most {MAX_REFERENCE_CHARS} characters")],
        )
    if any(not c.isprintable() for c in text):
        raise DisclosureInvalid(
            "legal_reference holds control characters",
            [Problem("legal_reference", "printable", "one line of printable text")],
        )
    hints = personal_data_hints(text)
    if hints:
        # The reference is kept in the audit log, which is never erased (P20): it must name the
        # law or the request, never a person. The refusal names the kinds, never the match.
        kinds = ", ".join(hints)
        raise DisclosureInvalid(
            f"legal_reference seems to hold personal data ({kinds}): give the article, decision "
            "or request number only",
            [Problem("legal_reference", "personal_data", kinds)],
        )
    return text


def _clean_fields(fields: object) -> list[str]:
    if isinstance(fields, str) or not isinstance(fields, Sequence | set | frozenset):
        raise DisclosureInvalid(
            "fields must be a list of field keys",
            [Problem("fields", "type", "a list of field keys")],
        )
    keys = list(fields)
    if not keys:
        raise DisclosureInvalid(
            "name at least one field", [Problem("fields", "required", "name at least one field")]
        )
    if len(keys) > MAX_FIELDS or any(not isinstance(k, str) or len(k) > 63 for k in keys):
        raise DisclosureInvalid(
            "fields must be field keys",
            [Problem("fields", "type", f"at most {MAX_FIELDS} field keys")],
        )
    return list(dict.fromkeys(keys))


def clean_customer_ids(customer_ids: object) -> list[uuid.UUID]:
    """Customer ids as UUIDs (objects or text), at most MAX_CUSTOMERS, duplicates dropped."""
    if isinstance(customer_ids, str | bytes) or not isinstance(
        customer_ids, Sequence | set | frozenset
    ):
        raise DisclosureInvalid(
            "customer_ids must be a list", [Problem("customers", "type", "a list of customer ids")]
        )
    items = list(customer_ids)
    if not items:
        raise DisclosureInvalid(
            "name at least one customer",
            [Problem("customers", "required", "name at least one customer")],
        )
    if len(items) > MAX_CUSTOMERS:
        raise DisclosureInvalid(
            f"at most {MAX_CUSTOMERS} customers per disclosure",
            [Problem("customers", "too_many", f"at most {MAX_CUSTOMERS} customers")],
        )
    ids: list[uuid.UUID] = []
    for item in items:
        if isinstance(item, uuid.UUID):
            ids.append(item)
            continue
        try:
            ids.append(uuid.UUID(str(item).strip()) if isinstance(item, str) else uuid.UUID(""))
        except ValueError:
            raise DisclosureInvalid(
                "a customer reference is not a customer id",
                [Problem("customers", "not_an_id", f"{_printable(item, 40)!r} is not an id")],
            ) from None
    return list(dict.fromkeys(ids))


def _check_fields(
    enforced: EnforcedPolicy,
    recipient: Recipient,
    purpose: str,
    fields: list[str],
    actor: Actor,
) -> None:
    readable, unmasked = visible_fields(enforced, actor, purpose)
    for key in fields:
        name = _printable(key)
        if key not in recipient.fields:
            rule, message = (
                "field_not_declared_for_recipient",
                f"the policy does not let {recipient.key!r} receive {name!r} (P11)",
            )
        elif key in enforced.transient:
            rule, message = ("never_stored", f"{name} is never stored (PCI DSS 3.3.1)")
        elif key not in enforced.reads.get(purpose, frozenset()):
            rule, message = (
                "field_not_for_purpose",
                f"the purpose {purpose!r} does not use {name!r}",
            )
        elif key not in readable:
            rule, message = (
                "field_not_visible",
                f"{name} is not available to this role for {purpose!r} (P09)",
            )
        elif key not in unmasked:
            rule, message = masked_refusal(name, actor, purpose)
        else:
            continue
        refuse_disclosure(
            rule,
            message,
            actor=actor,
            recipient=recipient.key,
            purpose=purpose,
            field=name,
            fields=[key],
        )


def masked_refusal(name: str, actor: Actor, purpose: str) -> tuple[str, str]:
    """P09: the file holds whole values, so a field this role sees masked is never in one."""
    return (
        "masked_for_role",
        f"{name} is shown masked to the role {_printable(actor.role)!r} for {purpose!r}, so it "
        "may not be disclosed (P09); the policy must list it in the purpose's `unmasked` fields",
    )


def _check_basis(
    enforced: EnforcedPolicy,
    recipient: Recipient,
    purpose: str,
    customers: list[uuid.UUID],
    fields: list[str],
    actor: Actor,
) -> None:
    for customer_id in customers:
        # A restriction (GDPR Art 18), an erasure, a marketing objection or a missing consent
        # for a purpose based on consent: each refuses (audited as disclosures:refused).
        require_consent(
            enforced,
            purpose,
            customer_id,
            actor=actor,
            event=EVENT,
            consent_method=None,
            fields=fields,
        )
        # P10: a recipient declared on consent receives data only while the customer's consent
        # to the purpose is live, whatever the purpose's own basis.
        if recipient.basis == "consent" and not has_live_consent(customer_id, purpose):
            declared = enforced.purpose(purpose)
            # The ledger holds consent only to consent-based purposes: a recipient declared on
            # consent for a contract purpose can never receive data (a gap in the policy).
            gap = (
                f"; {purpose!r} is based on {declared.basis}, so no consent to it can be given: "
                "the policy should declare this recipient on that basis"
                if declared is not None and declared.basis != "consent"
                else ""
            )
            refuse_disclosure(
                "consent_required",
                f"customer {customer_id.hex[:8]} has no live consent for {purpose!r}: "
                f"{recipient.key!r} receives data on consent only (P10){gap}",
                actor=actor,
                recipient=recipient.key,
                purpose=purpose,
                field="customers",
                fields=fields,
                customer_id=customer_id,
            )


def _cleaned(
    clean: Callable[[object], T],
    value: object,
    *,
    actor: Actor,
    recipient: str,
    purpose: str,
    fields: Iterable[str] = (),
) -> T:
    """Malformed input is refused like a rule: audited in its own transaction, then raised (422).
    The refusal names the rule and the problem, never the input itself."""
    try:
        return clean(value)
    except DisclosureInvalid as error:
        problem = error.problems[0]
        refuse_disclosure(
            problem.rule,
            error.message,
            actor=actor,
            recipient=recipient,
            purpose=purpose,
            field=problem.field,
            fields=fields,
            status=422,
        )


def disclose(
    *,
    actor: Actor,
    recipient: str,
    purpose: str,
    customer_ids: Sequence[Any],
    fields: Sequence[str],
    legal_reference: str | None = None,
) -> Disclosure:
    """Give these fields of these customers to a declared recipient, if the policy allows it.

    The checks run before the transaction: a refusal is recorded on its own and nothing else is.
    """
    enforced = policy()
    if actor.kind not in ("staff", "api"):
        refuse_disclosure(
            "staff_only",
            "only the shop (staff or its backend) discloses data",
            actor=actor,
            recipient=recipient,
            purpose=purpose,
        )
    declared = declared_recipient(enforced, recipient)
    if declared is None:
        refuse_disclosure(
            "recipient_undeclared",
            f"the policy declares no recipient {_printable(recipient)!r} (P11)",
            actor=actor,
            recipient=recipient,
            purpose=purpose,
            field="recipient",
        )
    if not isinstance(purpose, str) or purpose not in declared.purposes:
        refuse_disclosure(
            "purpose_not_declared_for_recipient",
            f"the policy does not give {declared.key!r} data for {_printable(purpose)!r} (P11)",
            actor=actor,
            recipient=declared.key,
            purpose=purpose,
            field="purpose",
        )
    # The actor's role must hold the purpose (P06, P09); refused as a disclosure refusal.
    authorize(enforced, actor, purpose, event=EVENT)
    keys = _cleaned(_clean_fields, fields, actor=actor, recipient=declared.key, purpose=purpose)
    _check_fields(enforced, declared, purpose, keys, actor)
    reference = _cleaned(
        clean_reference,
        legal_reference,
        actor=actor,
        recipient=declared.key,
        purpose=purpose,
        fields=keys,
    )
    if needs_legal_reference(declared) and not reference:
        refuse_disclosure(
            "legal_reference_required",
            f"{declared.key!r} receives data only on a legal request: record its legal "
            "reference (the article, decision or request number)",
            actor=actor,
            recipient=declared.key,
            purpose=purpose,
            field="legal_reference",
            fields=keys,
        )
    customers = _cleaned(
        clean_customer_ids,
        customer_ids,
        actor=actor,
        recipient=declared.key,
        purpose=purpose,
        fields=keys,
    )
    known = set(
        Customer.objects.filter(pk__in=customers, erased_at__isnull=True).values_list(
            "pk", flat=True
        )
    )
    unknown = [c for c in customers if c not in known]
    if unknown:
        refuse_disclosure(
            "customer_unknown",
            f"no customer {unknown[0].hex[:8]} (or their data was erased)",
            actor=actor,
            recipient=declared.key,
            purpose=purpose,
            field="customers",
            fields=keys,
            status=422,
        )
    _check_basis(enforced, declared, purpose, customers, keys, actor)
    return _record(enforced, actor, declared, purpose, keys, reference, customers)


@transaction.atomic
def _record(
    enforced: EnforcedPolicy,
    actor: Actor,
    recipient: Recipient,
    purpose: str,
    fields: list[str],
    reference: str,
    customers: list[uuid.UUID],
) -> Disclosure:
    now = timezone.now()
    # The basis recorded is the recipient's; a legal reference makes it a legal request.
    basis = recipient.basis
    disclosure = Disclosure.objects.create(
        recipient=recipient.key,
        recipient_name_vi=recipient.name.vi[:300],
        recipient_name_en=recipient.name.en[:300],
        recipient_kind=recipient.kind,
        purpose=purpose,
        fields=fields,
        basis=basis,
        legal_reference=reference,
        policy_version=enforced.version[:300],
        actor=actor.label[:120],
        actor_role=actor.role[:63],
        disclosed_at=now,
        customer_count=len(customers),
    )
    DisclosedCustomer.objects.bulk_create(
        [
            DisclosedCustomer(disclosure=disclosure, customer_id=c, disclosed_at=now)
            for c in customers
        ]
    )
    record_events(
        [
            EventSpec(
                EventType.DISCLOSURE_MADE,
                actor=actor.label,
                actor_role=actor.role,
                customer_id=c,
                record=f"disclosure:{disclosure.id}",
                purpose=purpose,
                fields=tuple(fields),
                details={
                    "recipient": recipient.key,
                    "purpose": purpose,
                    "fields": fields,
                    "basis": basis,
                    "legal_reference": reference,
                },
            )
            for c in customers
        ]
    )
    return disclosure
