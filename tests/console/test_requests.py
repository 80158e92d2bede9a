"""The console's request pages (issue 6 items 1, 2, 6; P18, P20): the queue, recording a request
received by phone, letter or email, a request's page with its actions and timeline, the
dashboard counts, and re-secure, for every role of preset B.

Requests are handled by the owner and customer service (the roles of the `complaints` purpose);
sales, accounting and the auditor see none of it. Re-secure is the owner's.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from pledge.audit.events import EventType
from pledge.audit.models import AuditEvent
from pledge.console import selectors as console_selectors
from pledge.rights import services
from pledge.rights.models import DataSubjectRequest, RequestStatus
from pledge.vault import services as vault
from pledge.vault.access import Actor
from tests.console.staffing import EMAIL, NAME, login_staff, make_staff, seed_customer
from tests.smtp import Mailbox, body_of, deliver_outbox

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
ROLES = ("owner", "customer_service", "sales", "accounting", "auditor")
HANDLERS = ("owner", "customer_service")
QUEUE = "/console/requests/"
NEW = "/console/requests/new/"


def detail_url(request_id: uuid.UUID) -> str:
    return f"/console/requests/{request_id}/"


def resecure_url(customer_id: uuid.UUID) -> str:
    return f"/console/customers/{customer_id}/resecure/"


@pytest.fixture
def customer_id(leman: Any, shop_api: Actor) -> uuid.UUID:
    return seed_customer(shop_api)


@pytest.fixture
def owner_actor() -> Actor:
    return Actor(kind="staff", id="999", role="owner")


def client_as(role: str) -> Client:
    client = Client(headers={"accept-language": "en"})
    login_staff(client, make_staff(role))
    return client


def file(
    customer_id: uuid.UUID | None,
    kind: str = "access",
    received: dt.datetime | None = None,
) -> DataSubjectRequest:
    return services.file_request(
        actor=Actor(kind="staff", id="998", role="owner"),
        customer_id=customer_id,
        kind=kind,
        channel="staff",
        received_at=received,
    )


def status_of(request_id: uuid.UUID) -> str:
    return DataSubjectRequest.objects.get(pk=request_id).status


def act(client: Client, request_id: uuid.UUID, action: str, **fields: str) -> Any:
    data = {"action": action, **{f"{action}-{k}": v for k, v in fields.items()}}
    return client.post(detail_url(request_id), data)


# -- who gets in ------------------------------------------------------------------------------


def test_every_page_per_role(customer_id: uuid.UUID) -> None:
    request = file(customer_id)
    pages = {
        QUEUE: {"owner": 200, "customer_service": 200},
        NEW: {"owner": 200, "customer_service": 200},
        detail_url(request.id): {"owner": 200, "customer_service": 200},
        resecure_url(customer_id): {"owner": 200},
    }
    wrong = []
    for url, allowed in pages.items():
        anonymous = Client().get(url)
        if anonymous.status_code != 302 or not anonymous["Location"].startswith("/console/login/"):
            wrong.append(f"anonymous {url}: {anonymous.status_code}")
        for role in ROLES:
            client = client_as(role)
            got = client.get(url).status_code
            if got != allowed.get(role, 403):
                wrong.append(f"{role} GET {url}: {got}")
            posted = client.post(url, {}).status_code
            # The queue takes no POST (405, before any access check); elsewhere, past the access
            # check, an empty form is a 400.
            expected = 405 if url == QUEUE else (400 if role in allowed else 403)
            if posted != expected:
                wrong.append(f"{role} POST {url}: {posted}, expected {expected}")
    assert not wrong, "\n".join(wrong)
    assert status_of(request.id) == RequestStatus.IDENTITY_UNVERIFIED


@pytest.mark.parametrize("role", HANDLERS)
def test_another_requests_id_is_a_404(customer_id: uuid.UUID, role: str) -> None:
    file(customer_id)
    client = client_as(role)
    unknown = uuid.uuid4()
    assert client.get(detail_url(unknown)).status_code == 404
    assert act(client, unknown, "cancel", confirm="on").status_code == 404
    assert client.get("/console/requests/not-a-uuid/").status_code == 404


def test_resecure_of_an_unknown_customer_is_a_404(leman: Any) -> None:
    client = client_as("owner")
    assert client.get(resecure_url(uuid.uuid4())).status_code == 404
    assert client.post(resecure_url(uuid.uuid4()), {"confirm": "on"}).status_code == 404


def test_the_customer_page_offers_the_actions_the_role_may_take(customer_id: uuid.UUID) -> None:
    def links(role: str, purpose: str) -> tuple[bool, bool]:
        html = client_as(role).get(f"/console/customers/{customer_id}/?purpose={purpose}")
        assert html.status_code == 200
        text = html.content.decode()
        return f'href="{NEW}?customer={customer_id}"' in text, resecure_url(customer_id) in text

    assert links("owner", "complaints") == (True, True)
    assert links("customer_service", "complaints") == (True, False)
    assert links("sales", "order_fulfilment") == (False, False)
    assert links("accounting", "payment") == (False, False)


# -- the queue --------------------------------------------------------------------------------


def test_the_queue_lists_open_requests_due_first_with_marks_in_words(
    customer_id: uuid.UUID, shop_api: Actor
) -> None:
    other = vault.collect_customer(
        actor=shop_api, purpose="order_fulfilment", fields={"full_name": "Trần Văn Bình"}
    )
    now = timezone.now()
    fresh = file(customer_id, "erasure")  # due in 20 days
    late = file(other, "erasure", received=now - dt.timedelta(days=60))  # long overdue
    # Nine days into ten: due by the end of the first working day after today, so at risk.
    close = file(customer_id, "access", received=now - dt.timedelta(days=9))
    closed = file(other, "access")
    services.cancel_request(actor=Actor(kind="staff", id="1", role="owner"), request_id=closed.id)

    response = client_as("customer_service").get(QUEUE)
    assert response.status_code == 200
    html = response.content.decode()
    rows = re.findall(r'<tr data-request="([0-9a-f-]+)"', html)
    assert rows == [str(late.id), str(close.id), str(fresh.id)]
    cells = [chunk.split("</tr>")[0] for chunk in html.split('<tr data-request="')[1:]]
    row_html = dict(zip(rows, cells, strict=True))
    assert 'data-mark="overdue"' in row_html[str(late.id)] and "Overdue" in row_html[str(late.id)]
    assert 'data-mark="at_risk"' in row_html[str(close.id)]
    assert "At risk" in row_html[str(close.id)]
    for mark in ("overdue", "at_risk"):
        assert f'data-mark="{mark}"' not in row_html[str(fresh.id)]
    # The customer is a short reference, never a name or an address.
    assert customer_id.hex[:8] in html and other.hex[:8] in html
    assert NAME not in html and "Trần Văn Bình" not in html and EMAIL not in html
    # Times are shown in the shop's time zone.
    assert "Asia/Ho_Chi_Minh" in html


def test_the_queue_filters_by_status_and_kind(customer_id: uuid.UUID) -> None:
    access = file(customer_id, "access")
    erasure = file(customer_id, "erasure")
    client = client_as("owner")

    def listed(query: str) -> list[str]:
        response = client.get(f"{QUEUE}?{query}")
        assert response.status_code == 200
        return re.findall(r'<tr data-request="([0-9a-f-]+)"', response.content.decode())

    assert listed("kind=erasure") == [str(erasure.id)]
    assert listed("kind=access&status=identity_unverified") == [str(access.id)]
    assert listed("status=pending") == []
    assert sorted(listed("status=&kind=")) == sorted([str(access.id), str(erasure.id)])


@pytest.mark.parametrize("query", ["status=complete", "kind=everything", "status=" + "x" * 5000])
def test_an_unknown_filter_is_a_400_naming_the_field(customer_id: uuid.UUID, query: str) -> None:
    file(customer_id)
    response = client_as("owner").get(f"{QUEUE}?{query}")
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


# -- recording a request ----------------------------------------------------------------------


def local_input(value: dt.datetime) -> str:
    return value.astimezone(HCM).strftime("%Y-%m-%dT%H:%M")


def test_staff_record_a_letter_that_arrived_earlier(customer_id: uuid.UUID) -> None:
    client = client_as("customer_service")
    page = client.get(f"{NEW}?customer={customer_id}")
    assert page.status_code == 200
    assert customer_id.hex[:8] in page.content.decode()
    received = (
        (timezone.now() - dt.timedelta(days=20)).astimezone(HCM).replace(second=0, microsecond=0)
    )
    response = client.post(
        f"{NEW}?customer={customer_id}",
        {"kind": "erasure", "received_at": local_input(received), "customer": str(customer_id)},
    )
    assert response.status_code == 302
    request = DataSubjectRequest.objects.get()
    assert response["Location"] == detail_url(request.id)
    # Staff entry: unverified until the identity step, and due from receipt (Decree 356 Art 5).
    assert (request.channel, request.status, request.kind) == (
        "staff",
        RequestStatus.IDENTITY_UNVERIFIED,
        "erasure",
    )
    assert request.customer_id == customer_id
    assert request.received_at == received
    event = AuditEvent.objects.get(type=EventType.RIGHTS_REQUEST_FILED)
    assert event.actor_role == "customer_service" and event.record == f"request:{request.id}"


def test_a_request_recorded_without_a_customer_names_them_at_verification(
    customer_id: uuid.UUID,
) -> None:
    client = client_as("owner")
    response = client.post(NEW, {"kind": "access"})
    assert response.status_code == 302
    request = DataSubjectRequest.objects.get()
    assert request.customer_id is None
    assert abs(request.received_at - timezone.now()) < dt.timedelta(minutes=1)
    page = client.get(detail_url(request.id)).content.decode()
    assert "not known yet" in page and 'name="verify-customer"' in page
    # Without the customer, the verification is refused and nothing changes.
    missing = act(client, request.id, "verify", method="in_person")
    assert missing.status_code == 400
    assert status_of(request.id) == RequestStatus.IDENTITY_UNVERIFIED
    wrong = act(client, request.id, "verify", method="in_person", customer=str(uuid.uuid4()))
    assert wrong.status_code == 404
    assert "No such customer or request." in wrong.content.decode()
    assert status_of(request.id) == RequestStatus.IDENTITY_UNVERIFIED
    done = act(client, request.id, "verify", method="in_person", customer=str(customer_id))
    assert done.status_code == 302
    request.refresh_from_db()
    assert (request.status, request.customer_id) == (RequestStatus.PENDING, customer_id)
    assert request.identity_method == "in_person"


def test_an_objection_records_the_purposes_named(customer_id: uuid.UUID) -> None:
    client = client_as("owner")
    response = client.post(
        NEW, {"kind": "objection", "customer": str(customer_id), "purposes": ["fraud_prevention"]}
    )
    assert response.status_code == 302
    assert DataSubjectRequest.objects.get().purposes == ["fraud_prevention"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "everything"}, "kind"),
        ({}, "kind"),
        ({"kind": "access", "received_at": "yesterday"}, "received_at"),
        ({"kind": "access", "received_at": "FUTURE"}, "received_at"),
        ({"kind": "access", "received_at": "TOO_OLD"}, "received_at"),
        ({"kind": "access", "customer": "not-a-uuid"}, "customer"),
        ({"kind": "access", "customer": "UNKNOWN"}, "customer"),
        ({"kind": "access", "purposes": ["fraud_prevention"]}, "purposes"),
        ({"kind": "objection", "purposes": ["payment"]}, "purposes"),
        ({"kind": "withdraw_consent", "purposes": ["x" * 10_000]}, "purposes"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_records_nothing(
    customer_id: uuid.UUID, data: dict[str, Any], field: str
) -> None:
    now = timezone.now()
    replacements = {
        "FUTURE": local_input(now + dt.timedelta(days=1)),
        "TOO_OLD": local_input(now - dt.timedelta(days=31)),
        "UNKNOWN": str(uuid.uuid4()),
    }
    data = {k: replacements.get(v, v) if isinstance(v, str) else v for k, v in data.items()}
    events = AuditEvent.objects.count()
    response = client_as("owner").post(NEW, data)
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="id_{field}_errors"' in html, html[:3000]
    assert not DataSubjectRequest.objects.exists()
    assert AuditEvent.objects.count() == events


# -- a request's page and its actions ---------------------------------------------------------


def test_a_rectification_walks_through_verify_approve_complete(customer_id: uuid.UUID) -> None:
    request = file(customer_id, "rectification")
    client = client_as("customer_service")
    page = client.get(detail_url(request.id)).content.decode()
    assert 'data-action="verify"' in page and 'data-action="approve"' not in page
    assert customer_id.hex[:8] in page and NAME not in page

    assert act(client, request.id, "verify", method="in_person").status_code == 302
    assert status_of(request.id) == RequestStatus.PENDING
    page = client.get(detail_url(request.id)).content.decode()
    assert 'data-action="approve"' in page and 'data-action="verify"' not in page

    assert act(client, request.id, "approve").status_code == 302
    assert status_of(request.id) == RequestStatus.APPROVED
    response = act(client, request.id, "complete", note="Delivery address corrected")
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == RequestStatus.COMPLETE
    assert request.completion_note == "Delivery address corrected"
    page = client.get(detail_url(request.id)).content.decode()
    assert 'data-action="' not in page  # closed: no action left
    timeline = re.search(r"<ol class=\"timeline\" data-timeline>(.*?)</ol>", page, re.S)
    assert timeline is not None
    steps = [html.unescape(s) for s in re.findall(r"— (.*?) ·", timeline.group(1))]
    assert steps == [
        "a data-subject request filed",
        "a requester's identity verified",
        "a data-subject request approved",
        "a data-subject request completed",
    ]
    types = list(
        AuditEvent.objects.filter(record=f"request:{request.id}").values_list("type", flat=True)
    )
    assert types == [
        EventType.RIGHTS_REQUEST_FILED,
        EventType.RIGHTS_IDENTITY_VERIFIED,
        EventType.RIGHTS_REQUEST_APPROVED,
        EventType.RIGHTS_REQUEST_COMPLETED,
    ]


def test_an_action_the_state_does_not_allow_is_a_409(customer_id: uuid.UUID) -> None:
    request = file(customer_id)
    client = client_as("owner")
    for action in ("approve", "process", "complete"):
        response = act(client, request.id, action)
        assert response.status_code == 409, action
        assert "This request cannot change this way now." in response.content.decode()
    assert status_of(request.id) == RequestStatus.IDENTITY_UNVERIFIED
    response = act(client, request.id, "explode")
    assert response.status_code == 400
    assert "No such action." in response.content.decode()


def test_a_denial_needs_a_legal_ground_and_an_explanation_without_personal_data(
    customer_id: uuid.UUID,
) -> None:
    request = file(customer_id, "erasure")
    client = client_as("owner")
    # Unverified, the only ground is the identity (Decree 356/2025 Art 5).
    page = client.get(detail_url(request.id)).content.decode()
    assert 'value="identity_not_verified"' in page and 'value="legal_claims"' not in page
    assert act(client, request.id, "deny", ground="legal_claims").status_code == 400
    act(client, request.id, "verify", method="in_person")
    page = client.get(detail_url(request.id)).content.decode()
    assert "GDPR Art 17(3)(b)" in page  # each ground cites its article
    assert 'value="identity_not_verified"' not in page
    assert act(client, request.id, "deny").status_code == 400
    assert act(client, request.id, "deny", ground="because").status_code == 400
    leaky = act(client, request.id, "deny", ground="legal_claims", explanation=f"Ask {EMAIL}")
    assert leaky.status_code == 422
    assert "email addresses" in leaky.content.decode()
    assert status_of(request.id) == RequestStatus.PENDING
    response = act(
        client, request.id, "deny", ground="legal_claims", explanation="A court case is open"
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert (request.status, request.denial_ground) == (RequestStatus.DENIED, "legal_claims")
    page = client.get(detail_url(request.id)).content.decode()
    assert "PDPL 91/2025/QH15 Art 14(2); GDPR Art 17(3)(e)" in page
    assert "A court case is open" in page


def test_an_unverified_requester_is_denied_on_the_identity_ground(customer_id: uuid.UUID) -> None:
    request = file(customer_id, "access")
    client = client_as("customer_service")
    response = act(client, request.id, "deny", ground="identity_not_verified")
    assert response.status_code == 302
    request.refresh_from_db()
    assert (request.status, request.denial_ground) == (
        RequestStatus.DENIED,
        "identity_not_verified",
    )


def test_the_deadline_is_extended_once_with_a_reason(customer_id: uuid.UUID) -> None:
    request = file(customer_id)
    client = client_as("owner")
    assert act(client, request.id, "extend", reason="").status_code == 400
    assert act(client, request.id, "extend", reason="x" * 501).status_code == 400
    assert act(client, request.id, "extend", reason="Call 0912 345 678").status_code == 422
    assert DataSubjectRequest.objects.get(pk=request.id).extended_due_at is None
    assert act(client, request.id, "extend", reason="Archive in storage").status_code == 302
    request.refresh_from_db()
    assert request.extended_due_at is not None and request.due_at is not None
    assert request.extended_due_at > request.due_at
    page = client.get(detail_url(request.id)).content.decode()
    assert "Archive in storage" in page and 'data-action="extend"' not in page
    again = act(client, request.id, "extend", reason="Still more time")
    assert again.status_code == 409
    request.refresh_from_db()
    assert request.extension_reason == "Archive in storage"


def test_cancel_asks_for_confirmation(customer_id: uuid.UUID) -> None:
    request = file(customer_id)
    client = client_as("customer_service")
    assert act(client, request.id, "cancel").status_code == 400
    assert status_of(request.id) == RequestStatus.IDENTITY_UNVERIFIED
    assert act(client, request.id, "cancel", confirm="on").status_code == 302
    assert status_of(request.id) == RequestStatus.CANCELED


def test_an_erasure_is_carried_out_only_with_the_confirmation(customer_id: uuid.UUID) -> None:
    request = file(customer_id, "erasure")
    client = client_as("owner")
    act(client, request.id, "verify", method="in_person")
    act(client, request.id, "approve")
    assert status_of(request.id) == RequestStatus.APPROVED
    response = act(client, request.id, "process")
    assert response.status_code == 400
    assert status_of(request.id) == RequestStatus.APPROVED


def test_a_deployment_without_a_public_address_gets_a_clear_answer_not_a_crash(
    customer_id: uuid.UUID, settings: Any
) -> None:
    settings.PLEDGE_PUBLIC_URL = ""
    request = file(customer_id, "access")
    client = client_as("owner")
    act(client, request.id, "verify", method="in_person")
    act(client, request.id, "approve")
    response = act(client, request.id, "process")
    assert response.status_code == 503
    assert "Pledge is not set up for this yet" in response.content.decode()
    assert status_of(request.id) == RequestStatus.APPROVED


def test_a_phone_request_is_verified_with_a_code_to_the_email_on_file(
    customer_id: uuid.UUID, mailbox: Mailbox
) -> None:
    request = file(customer_id, "access")
    client = client_as("customer_service")
    assert act(client, request.id, "send_code").status_code == 302
    deliver_outbox()
    (message,) = [m for m in mailbox.wait_for(1) if re.search(r"\b\d{6}\b", body_of(m))]
    assert message["To"] == EMAIL
    code = re.search(r"\b(\d{6})\b", body_of(message))
    assert code is not None
    wrong = f"{(int(code.group(1)) + 1) % 1_000_000:06d}"
    refused = act(client, request.id, "check_code", code=wrong)
    assert refused.status_code == 400
    assert "The code is wrong. Tries left: 4." in refused.content.decode()
    assert status_of(request.id) == RequestStatus.IDENTITY_UNVERIFIED
    assert act(client, request.id, "check_code", code="12ab").status_code == 400
    assert act(client, request.id, "check_code", code=code.group(1)).status_code == 302
    request.refresh_from_db()
    assert (request.status, request.identity_method) == (RequestStatus.PENDING, "staff_email_code")


# -- the dashboard ----------------------------------------------------------------------------


def test_the_dashboard_counts_open_at_risk_and_overdue_requests(customer_id: uuid.UUID) -> None:
    now = timezone.now()
    file(customer_id, "erasure")
    file(customer_id, "access", received=now - dt.timedelta(days=9))
    file(customer_id, "erasure", received=now - dt.timedelta(days=60))
    counts = console_selectors.pending_work()[0]
    assert (counts.key, counts.count, counts.at_risk, counts.overdue) == ("requests", 3, 1, 1)
    for role in HANDLERS:
        html = client_as(role).get("/console/").content.decode()
        stat = re.search(r'data-pending="requests">(.*?)</div>', html, re.S)
        assert stat is not None, role
        text = " ".join(re.sub(r"<[^>]+>", " ", stat.group(1)).split())
        assert text.startswith("3 open privacy requests"), text
        assert "1 at risk" in text and "1 overdue" in text
        assert f'href="{QUEUE}"' in stat.group(1)
    for role in ("sales", "accounting", "auditor"):
        html = client_as(role).get("/console/").content.decode()
        assert 'data-pending="requests"' not in html, role
        # complaints and incidents are not theirs either (issue 7: handlers and the owner;
        # issue 8: the owner)
        assert 'data-pending="incidents"' not in html, role


# -- re-secure (P20) --------------------------------------------------------------------------


def test_resecure_asks_for_an_explanation_and_a_confirmation(customer_id: uuid.UUID) -> None:
    client = client_as("owner")
    page = client.get(resecure_url(customer_id)).content.decode()
    assert "Re-secure now" in page and customer_id.hex[:8] in page and NAME not in page
    before = AuditEvent.objects.count()
    for data in (
        {},
        {"explanation": "Sent to the wrong person by mistake"},
        {"confirm": "on"},
        {"explanation": "x" * 1001, "confirm": "on"},
    ):
        assert client.post(resecure_url(customer_id), data).status_code == 400, data
    leaky = client.post(
        resecure_url(customer_id), {"explanation": f"Leaked {EMAIL}", "confirm": "on"}
    )
    assert leaky.status_code == 422
    assert AuditEvent.objects.filter(type=EventType.RIGHTS_RESECURED).count() == 0
    assert AuditEvent.objects.count() == before


def test_the_owner_resecures_a_customer_from_the_console(
    customer_id: uuid.UUID, mailbox: Mailbox
) -> None:
    client = client_as("owner")
    response = client.post(
        resecure_url(customer_id),
        {"explanation": "An employee sent your order to the wrong person.", "confirm": "on"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Customer re-secured" in html
    assert 'data-report="rekeyed"' in html and 'data-report="password"' not in html
    event = AuditEvent.objects.get(type=EventType.RIGHTS_RESECURED)
    assert event.customer_id == customer_id and event.actor_role == "owner"
    assert "wrong person" not in event.details and EMAIL not in event.details
    deliver_outbox()
    mail = [m for m in mailbox.wait_for(1) if m["To"] == EMAIL]
    assert [m["To"] for m in mail] == [EMAIL]
    assert "An employee sent your order to the wrong person." in body_of(mail[0])


@pytest.mark.parametrize(
    ("role", "shown"),
    [("owner", True), ("customer_service", True), ("sales", False), ("auditor", False)],
)
def test_the_requests_link_is_in_the_menu_of_the_roles_that_handle_them(
    leman: Any, role: str, shown: bool
) -> None:
    page = client_as(role).get("/console/").content.decode()
    menu = page.split('class="console-nav"', 1)[1].split("</nav>", 1)[0]
    assert ('href="/console/requests/"' in menu) is shown


def test_the_erasure_outcome_is_shown_in_words_not_keys(customer_id: uuid.UUID) -> None:
    request = file(customer_id, "erasure")
    client = client_as("owner")
    act(client, request.id, "verify", method="in_person")
    act(client, request.id, "approve")
    assert act(client, request.id, "process", confirm="on").status_code == 302
    assert status_of(request.id) == RequestStatus.COMPLETE
    page = html.unescape(client.get(detail_url(request.id)).content.decode())
    section = page.split('id="outcome-title"', 1)[1].split("</section>", 1)[0]
    # The report stores "profile fields", "lookup indexes": the page says what they are.
    assert "personal details on: customer profile" in section
    assert "lookup indexes (the digests used to find your records)" in section
    assert "profile fields" not in section and "lookup indexes:" not in section
