"""Delivering the data package (issue 6 item 3): a signed, expiring link for the customer who is
not signed in, and the audited downloads (`rights:export_downloaded`). The package itself is built
by `pledge.rights.export.build_package` on each delivery.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from pledge.audit.events import EventType
from pledge.audit.services import record_event
from pledge.rights.export import (
    DELIVERABLE,
    FORMATS,
    LINK_SALT,
    MAX_TOKEN_CHARS,
    PACKAGE_KINDS,
    VIA,
    Package,
    PackageUnavailable,
    build_package,
)
from pledge.rights.models import DataSubjectRequest, RequestStatus
from pledge.rights.services import RequestConflict, RequestInvalid
from pledge.vault.access import Actor
from pledge.vault.erasure import is_erased
from pledge.vault.errors import AccessRefused, NotFound
from pledge.vault.models import Customer

# -- delivery: the signed link and the downloads ------------------------------------------------


@dataclass(frozen=True)
class LinkGrant:
    """What a genuine, unexpired link names."""

    request_id: uuid.UUID
    customer_id: uuid.UUID
    expires_at: dt.datetime


def _signer() -> signing.TimestampSigner:
    # A salt of its own: no other signed value of Pledge (an unsubscribe or a verification
    # token) can pass for a data-package link.
    return signing.TimestampSigner(salt=LINK_SALT)


def _lifetime() -> dt.timedelta:
    return dt.timedelta(seconds=int(settings.PLEDGE_EXPORT_LINK_SECONDS))


def make_link_token(request_id: uuid.UUID, customer_id: uuid.UUID) -> str:
    # The customer's key generation goes into the token: re-securing a customer after misuse
    # (P20) re-keys them, which kills every link sent before, as a bearer link may have leaked.
    generation = (
        Customer.objects.filter(pk=customer_id).values_list("key_generation", flat=True).first()
    )
    return _signer().sign_object(
        {"r": request_id.hex, "c": customer_id.hex, "g": generation or 0}, compress=False
    )


def read_link_token(token: object) -> LinkGrant:
    """The request and customer of a genuine, unexpired link; `PackageUnavailable` otherwise,
    with one answer (`invalid`) for a malformed, tampered or foreign token."""
    if not isinstance(token, str) or not 1 <= len(token) <= MAX_TOKEN_CHARS:
        raise PackageUnavailable("invalid")
    signer = _signer()
    try:
        data = signer.unsign_object(token, max_age=_lifetime())
    except signing.SignatureExpired:
        raise PackageUnavailable("expired") from None
    except (signing.BadSignature, ValueError, TypeError):
        raise PackageUnavailable("invalid") from None
    try:
        request_id = uuid.UUID(hex=str(data["r"]))
        customer_id = uuid.UUID(hex=str(data["c"]))
        generation = int(data["g"])
        signed_at = signing.b62_decode(token.rsplit(":", 2)[1])
    except (KeyError, TypeError, ValueError, IndexError):
        raise PackageUnavailable("invalid") from None
    current = (
        Customer.objects.filter(pk=customer_id).values_list("key_generation", "erased_at").first()
    )
    # An erased customer's link says so (below, in `_deliverable`), not "expired".
    if current is not None and current[1] is None and current[0] != generation:
        raise PackageUnavailable("expired")  # re-keyed since (re-secure, P20): links revoked
    expires_at = dt.datetime.fromtimestamp(signed_at, tz=dt.UTC) + _lifetime()
    return LinkGrant(request_id, customer_id, expires_at)


def _public_base() -> str:
    """PLEDGE_PUBLIC_URL: https, or http on this machine only (the demo); the link is a bearer
    secret and must not cross a network in clear."""
    base = str(settings.PLEDGE_PUBLIC_URL or "").rstrip("/")
    parts = urlsplit(base)
    local = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if not parts.hostname or not (parts.scheme == "https" or (parts.scheme == "http" and local)):
        raise ImproperlyConfigured(
            "PLEDGE_PUBLIC_URL must be the public https:// address of Pledge to send a link to "
            "a data package (docs/data-package.md)"
        )
    return base


def _deliverable(request_id: object, customer_id: uuid.UUID) -> DataSubjectRequest:
    """The customer's access or portability request whose package may be given now."""
    if not isinstance(request_id, uuid.UUID):
        raise PackageUnavailable("invalid")
    request = DataSubjectRequest.objects.filter(pk=request_id).first()
    # Another customer's request answers exactly like an unknown one.
    if request is None or request.customer_id != customer_id or request.kind not in PACKAGE_KINDS:
        raise PackageUnavailable("invalid")
    if request.status in (RequestStatus.CANCELED, RequestStatus.DENIED):
        raise PackageUnavailable("closed")
    if is_erased(customer_id):
        raise PackageUnavailable("erased")
    if request.status not in DELIVERABLE:
        raise PackageUnavailable("not_ready")
    return request


@transaction.atomic
def create_export_link(*, actor: Actor, request_id: uuid.UUID) -> str:
    """A signed link to the package of an access or portability request, expiring after
    PLEDGE_EXPORT_LINK_SECONDS: absolute, under PLEDGE_PUBLIC_URL, to send to the customer."""
    if actor.kind not in ("staff", "system"):
        raise AccessRefused("only staff or the shop's system send a link to a data package")
    if not isinstance(request_id, uuid.UUID):
        raise RequestInvalid(f"request_id must be a UUID, not {type(request_id).__name__}")
    base = _public_base()
    request = DataSubjectRequest.objects.filter(pk=request_id).first()
    if request is None:
        raise NotFound(f"no data-subject request {request_id}")
    if request.kind not in PACKAGE_KINDS or request.customer_id is None:
        raise RequestInvalid("only an access or portability request of a customer has a package")
    if request.status not in DELIVERABLE:
        raise RequestConflict(f"the request is {request.status}; its package is not available")
    customer_id = uuid.UUID(str(request.customer_id))
    if is_erased(customer_id):
        raise RequestConflict("the customer was erased; there is no package any more")
    token = make_link_token(request.id, customer_id)
    expires_at = timezone.now() + _lifetime()
    record_event(
        EventType.RIGHTS_EXPORT_LINK_CREATED,
        actor=actor.label,
        actor_role=actor.role,
        customer_id=customer_id,
        record=f"request:{request.id}",
        details={"expires_at": expires_at.isoformat()},
    )
    return base + reverse("data_package:page", kwargs={"token": token})


def deliver_package(
    *, actor: Actor, request_id: uuid.UUID, fmt: str, via: str, language: str
) -> Package:
    """The package of the customer's own access or portability request, audited as delivered
    (`rights:export_downloaded`: how and in which format, never what). `fmt` is zip, html, or
    page (the link's web view). The delivery is recorded once the package is built: a package
    that could not be made was not delivered."""
    if fmt not in (*FORMATS, "page"):
        raise PackageUnavailable("unknown_format")
    if via not in VIA:
        raise RequestInvalid(f"via must be one of {', '.join(VIA)}")
    if actor.kind != "customer":
        raise AccessRefused("a data package is given to the customer only")
    try:
        customer_id = uuid.UUID(actor.id)
    except ValueError:
        raise AccessRefused("a data package is given to the customer only") from None
    request = _deliverable(request_id, customer_id)
    package = build_package(actor=actor, customer_id=customer_id, language=language)
    record_event(
        EventType.RIGHTS_EXPORT_DOWNLOADED,
        actor=actor.label,
        customer_id=customer_id,
        record=f"request:{request.id}",
        details={"format": fmt, "via": via},
    )
    return package
