"""Every console URL × every role of the policy in force × anonymous: only the allowed
combinations get in (ARCHITECTURE.md: "Every endpoint is tested for each role and for access to
another customer's data"; issue 4 acceptance; P09).

The expected table is written out below, one row per URL pattern of `pledge.console.urls`. A URL
added without a row fails `test_every_console_url_has_a_row`; a role added to the policy without
a column fails `test_the_columns_are_the_roles_of_the_policy`.

Outcomes: "200" (the page), "400" (past the access check, but the deliberately empty form is
invalid: nothing changes), "403", "405" (method not allowed for that URL), "login" (a redirect
to /console/login/), "home" (a redirect to the dashboard: already signed in), "404".
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from pledge.accounts.services import invite_staff
from pledge.accounts.tokens import password_reset_tokens
from pledge.audit.events import EventType
from pledge.audit.models import AuditEvent
from pledge.complaints.evidence import store_evidence
from pledge.complaints.services import file_complaint
from pledge.consent.services import give_consent
from pledge.console import urls as console_urls
from pledge.rights.services import file_request
from pledge.vault import services
from pledge.vault.access import Actor
from tests.console.staffing import login_staff, make_staff

ROLES = ("owner", "customer_service", "sales", "accounting", "auditor")
CALLERS = ("anonymous", *ROLES)

# name: (method, query string or form body, outcomes in CALLERS order)
#                                           anonymous owner  cust_serv sales  accounting auditor
MATRIX: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # sign-in pages are public; a signed-in staff member is sent on to the dashboard
    "login": ("GET", "", ("200", "home", "home", "home", "home", "home")),
    # without a password step in progress, the second step sends everyone back to the first
    "login_otp": ("GET", "", ("login", "login", "login", "login", "login", "login")),
    "logout": ("POST", "", ("login", "login", "login", "login", "login", "login")),
    "password_reset": ("GET", "", ("200", "200", "200", "200", "200", "200")),
    "password_reset_confirm": ("GET", "", ("200", "200", "200", "200", "200", "200")),
    "setup": ("GET", "", ("200", "200", "200", "200", "200", "200")),
    # every staff member has an account page
    "account": ("GET", "", ("login", "200", "200", "200", "200", "200")),
    # capability manage_staff: the owner only
    "staff": ("GET", "", ("login", "200", "403", "403", "403", "403")),
    "dashboard": ("GET", "", ("login", "200", "200", "200", "200", "200")),
    # customer pages: roles with purposes (the auditor has none)
    "customers": ("GET", "", ("login", "200", "200", "200", "200", "403")),
    "customer": ("GET", "", ("login", "200", "200", "200", "200", "403")),
    # capability break_glass: the owner only
    "break_glass": ("GET", "", ("login", "200", "403", "403", "403", "403")),
    # capability view_audit: the owner and the auditor
    "audit": ("GET", "", ("login", "200", "403", "403", "403", "200")),
    "audit_csv": ("GET", "", ("login", "200", "403", "403", "403", "200")),
    "audit_verify": ("POST", "", ("login", "200", "403", "403", "403", "200")),
    # data-subject requests: the owner and the roles of the policy's complaints purpose
    "requests": ("GET", "", ("login", "200", "200", "403", "403", "403")),
    "request_new": ("GET", "", ("login", "200", "200", "403", "403", "403")),
    "request": ("GET", "", ("login", "200", "200", "403", "403", "403")),
    # re-secure a customer (P20): capability manage_staff, the owner only
    "resecure": ("GET", "", ("login", "200", "403", "403", "403", "403")),
    # complaints desk: the roles of the policy's complaints purpose (and the owner, who holds it
    # in preset B); reports hold no personal data but follow the same roles
    "complaints": ("GET", "", ("login", "200", "200", "403", "403", "403")),
    "complaint_new": ("GET", "", ("login", "200", "200", "403", "403", "403")),
    "complaint": ("GET", "", ("login", "200", "200", "403", "403", "403")),
    "complaint_evidence": ("GET", "", ("login", "200", "200", "403", "403", "403")),
    "complaint_reports": ("GET", "", ("login", "200", "200", "403", "403", "403")),
    "complaint_reports_csv": ("GET", "", ("login", "200", "200", "403", "403", "403")),
    # incidents (P23): the owner only (capability manage_staff); an unknown incident is a 404
    "incidents": ("GET", "", ("login", "200", "403", "403", "403", "403")),
    "incident_new": ("GET", "", ("login", "200", "403", "403", "403", "403")),
    "incident": ("GET", "", ("login", "404", "403", "403", "403", "403")),
    "incident_report": ("GET", "", ("login", "404", "403", "403", "403", "403")),
    "incident_report_pdf": ("GET", "", ("login", "404", "403", "403", "403", "403")),
    # disclosures (P10, P11): the roles holding a purpose; the auditor holds none
    "disclosures": ("GET", "", ("login", "200", "200", "200", "200", "403")),
    "disclosure_new": ("GET", "", ("login", "200", "200", "200", "200", "403")),
    "disclosure_export": ("GET", "", ("login", "404", "404", "404", "404", "403")),
    # aggregates (P12): the owner, and roles holding a statistics purpose (none in preset B)
    "aggregates": ("GET", "", ("login", "200", "403", "403", "403", "403")),
    "aggregates_csv": ("GET", "", ("login", "200", "403", "403", "403", "403")),
    # retention sweeps (P17): capability view_audit, the owner and the auditor; unknown run 404
    "retention": ("GET", "", ("login", "200", "403", "403", "403", "200")),
    "retention_run": ("GET", "", ("login", "404", "403", "403", "403", "404")),
}

# State-changing requests and other methods on the same URLs, with bodies no view accepts (an
# empty invitation, an acknowledgement of nothing, a break-glass without a reason): the access
# check must answer before the form is read.
#                                           anonymous owner  cust_serv sales  accounting auditor
EXTRA: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("staff", "POST", "action=invite", ("login", "400", "403", "403", "403", "403")),
    ("dashboard", "POST", "access=nope", ("login", "400", "403", "403", "403", "403")),
    ("break_glass", "POST", "reason=", ("login", "400", "403", "403", "403", "403")),
    ("account", "POST", "action=password", ("login", "400", "400", "400", "400", "400")),
    ("audit_verify", "GET", "", ("login", "405", "403", "403", "403", "405")),
    ("audit", "POST", "", ("login", "405", "403", "403", "403", "405")),
    # Search is a POST (values never in URLs or logs): an empty form is a 400.
    ("customers", "POST", "", ("login", "400", "400", "400", "400", "403")),
    ("customer", "POST", "", ("405", "405", "405", "405", "405", "405")),
    ("requests", "POST", "", ("405",) * 6),
    ("request_new", "POST", "kind=", ("login", "400", "400", "403", "403", "403")),
    # an access request not yet verified cannot be approved
    ("request", "POST", "action=approve", ("login", "409", "409", "403", "403", "403")),
    ("resecure", "POST", "explanation=", ("login", "400", "403", "403", "403", "403")),
    # closing an unanswered complaint is a conflict, for the roles that may act at all
    ("complaint", "POST", "action=close", ("login", "409", "409", "403", "403", "403")),
    ("complaint_reports", "GET", "months=0", ("login", "400", "400", "403", "403", "403")),
    ("disclosures", "POST", "notice=", ("login", "400", "400", "400", "400", "403")),
    ("disclosure_new", "POST", "recipient=", ("login", "400", "400", "400", "400", "403")),
]

# Customer views through each purpose of the policy: only the roles the policy gives the purpose
# get in; every other role is refused, and the refusal is in the audit log.
#                                   owner    cust_serv sales    accounting auditor
PURPOSES: dict[str, tuple[str, ...]] = {
    "order_fulfilment": ("403", "200", "200", "403", "403"),
    "payment": ("403", "403", "403", "200", "403"),
    "guarantee": ("403", "200", "200", "403", "403"),
    "customer_database": ("200", "200", "403", "403", "403"),
    "service_notices": ("403", "200", "403", "403", "403"),
    "fraud_prevention": ("200", "403", "403", "403", "403"),
    "complaints": ("200", "200", "403", "403", "403"),
    "transaction_confirmation": ("403", "200", "200", "200", "403"),
    "state_requests": ("200", "403", "403", "403", "403"),
    "spying": ("403", "403", "403", "403", "403"),  # a purpose the policy does not declare
}


@pytest.fixture
def world(leman: Any, shop_api: Actor, settings: Any) -> dict[str, Any]:
    """One staff member per role, a customer (with the consents its consent purposes need), an
    invitation's set-up token and a password-reset link."""
    # Argon2 with OWASP parameters is slow by design; what is tested here is who gets in.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    staff = {role: make_staff(role) for role in ROLES}
    customer_id = services.collect_customer(
        actor=shop_api,
        purpose="order_fulfilment",
        fields={"full_name": "Lê Văn Tám", "email": "tam@example.vn", "phone": "0903 111 222"},
    )
    for purpose in ("customer_database", "service_notices"):
        give_consent(
            customer_id=customer_id,
            purpose=purpose,
            method="checkbox",
            actor=f"customer:{customer_id}",
        )
    tokens: list[str] = []
    owner = staff["owner"]
    invite_staff(
        actor=Actor(kind="staff", id=str(owner.pk), role="owner"),
        email="new.hire@leman.test",
        role="sales",
        language="vi",
        setup_url=lambda token: tokens.append(token) or f"/console/setup/{token}/",
    )
    # Its own account: a reset token dies when the account signs in (last_login changes).
    forgetful = make_staff("sales")
    request = file_request(
        actor=Actor(kind="staff", id=str(owner.pk), role="owner"),
        customer_id=customer_id,
        kind="access",
        channel="staff",
    )
    complaint = file_complaint(
        actor=Actor(kind="staff", id=str(owner.pk), role="owner"),
        customer_id=customer_id,
        channel="staff_phone",
        text="Khách phàn nàn qua điện thoại",
    )
    evidence = store_evidence(
        actor=Actor(kind="staff", id=str(owner.pk), role="owner"),
        complaint_id=complaint.id,
        filename=None,
        content=b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
        content_type="application/pdf",
    )
    return {
        "staff": staff,
        "customer_id": customer_id,
        "params": {
            ("customer", "customer_id"): customer_id,
            ("break_glass", "customer_id"): customer_id,
            ("request", "request_id"): request.id,
            ("resecure", "customer_id"): customer_id,
            ("complaint", "complaint_id"): complaint.id,
            ("complaint_evidence", "complaint_id"): complaint.id,
            ("complaint_evidence", "evidence_id"): evidence.id,
            ("incident", "incident_id"): uuid.uuid4(),
            ("incident_report", "incident_id"): uuid.uuid4(),
            ("incident_report_pdf", "incident_id"): uuid.uuid4(),
            ("disclosure_export", "disclosure_id"): uuid.uuid4(),
            ("disclosure_export", "fmt"): "csv",
            ("retention_run", "run_id"): uuid.uuid4(),
            ("setup", "token"): tokens[0],
            ("password_reset_confirm", "uidb64"): urlsafe_base64_encode(force_bytes(forgetful.pk)),
            ("password_reset_confirm", "token"): password_reset_tokens.make_token(forgetful),
        },
    }


def url_of(pattern: URLPattern, params: dict[tuple[str, str], Any]) -> str:
    converters = pattern.pattern.converters  # type: ignore[attr-defined]
    missing = [name for name in converters if (pattern.name, name) not in params]
    assert not missing, f"no test value for {pattern.name}'s path parameters {missing}"
    kwargs = {name: params[(pattern.name, name)] for name in converters}
    return reverse(f"console:{pattern.name}", kwargs=kwargs)


def outcome(response: Any) -> str:
    if response.status_code == 302:
        location = response["Location"]
        if location.startswith("/console/login/"):
            return "login"
        if location.split("?")[0] == "/console/":
            return "home"
        return f"302 {location}"
    return str(response.status_code)


def call(caller: str, world: dict[str, Any], method: str, url: str, body: str) -> str:
    client = Client()
    if caller != "anonymous":
        login_staff(client, world["staff"][caller])
    if method == "GET":
        response = client.get(f"{url}?{body}" if body else url)
    else:
        response = client.post(url, body, content_type="application/x-www-form-urlencoded")
    return outcome(response)


def by_name() -> dict[str, URLPattern]:
    patterns = [p for p in console_urls.urlpatterns if isinstance(p, URLPattern)]
    return {str(p.name): p for p in patterns}


def test_every_console_url_has_a_row() -> None:
    assert all(isinstance(p, URLPattern) for p in console_urls.urlpatterns), "an include()?"
    assert set(by_name()) == set(MATRIX), "add the new console URL to MATRIX with every role"


def test_the_columns_are_the_roles_of_the_policy(leman: Any) -> None:
    assert tuple(r.key for r in leman.policy.roles) == ROLES
    assert {p.key for p in leman.policy.purposes} == set(PURPOSES) - {"spying"}


def test_only_the_allowed_combinations_get_in(world: dict[str, Any]) -> None:
    patterns = by_name()
    expected: dict[tuple[str, str, str], str] = {}
    actual: dict[tuple[str, str, str], str] = {}
    rows = [(name, method, body, outcomes) for name, (method, body, outcomes) in MATRIX.items()]
    for name, method, body, outcomes in rows + EXTRA:
        url = url_of(patterns[name], world["params"])
        for caller, wanted in zip(CALLERS, outcomes, strict=True):
            key = (f"{method} {name}{' ' + body if body else ''}", caller, url)
            expected[key] = wanted
            actual[key] = call(caller, world, method, url, body)
    wrong = {
        k: f"expected {expected[k]}, got {actual[k]}" for k in expected if actual[k] != expected[k]
    }
    assert not wrong, "\n".join(f"{k[0]} as {k[1]} ({k[2]}): {v}" for k, v in wrong.items())


def test_a_customer_is_reached_only_through_the_purposes_of_the_role(
    world: dict[str, Any],
) -> None:
    customer_id = world["customer_id"]
    url = f"/console/customers/{customer_id}/"
    wrong = []
    for purpose, outcomes in PURPOSES.items():
        for role, wanted in zip(ROLES, outcomes, strict=True):
            user = world["staff"][role]
            before = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
            got = call(role, world, "GET", url, f"purpose={purpose}")
            if got != wanted:
                wrong.append(f"{role} via {purpose}: expected {wanted}, got {got}")
                continue
            events = AuditEvent.objects.filter(seq__gt=before or 0, actor=f"staff:{user.pk}")
            types = set(events.values_list("type", flat=True))
            if wanted == "403":
                refused = events.filter(type=EventType.ACCESS_REFUSED, customer_id=customer_id)
                if not refused.exists():
                    wrong.append(f"{role} via {purpose}: refused but not audited ({types})")
            elif EventType.CUSTOMER_READ not in types:
                wrong.append(f"{role} via {purpose}: read but not audited ({types})")
    assert not wrong, "\n".join(wrong)


def test_sales_opening_a_payment_view_is_refused_and_audited(world: dict[str, Any]) -> None:
    sales = world["staff"]["sales"]
    customer_id = world["customer_id"]
    client = login_staff(Client(), sales)
    response = client.get(
        f"/console/customers/{customer_id}/", {"purpose": "payment", "fields": "card"}
    )
    assert response.status_code == 403
    assert "tam@example.vn" not in response.content.decode()
    event = AuditEvent.objects.order_by("-seq").first()
    assert event is not None
    assert (event.type, event.actor, event.actor_role) == (
        EventType.ACCESS_REFUSED,
        f"staff:{sales.pk}",
        "sales",
    )
    assert (event.customer_id, event.purpose, event.outcome) == (customer_id, "payment", "refused")


@pytest.mark.parametrize("role", ["customer_service", "sales"])
def test_an_unknown_customer_is_a_404_not_a_hint(world: dict[str, Any], role: str) -> None:
    client = login_staff(Client(), world["staff"][role])
    response = client.get(f"/console/customers/{uuid.uuid4()}/", {"purpose": "order_fulfilment"})
    assert response.status_code == 404
