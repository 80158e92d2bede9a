"""The console's breach register (P23): owner only; recording with bad input is refused with the
field named and nothing stored; the authority report holds every required item in both languages
as a page and as a PDF whose Vietnamese text survives (extracted back with pypdf)."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from django.test import Client
from pypdf import PdfReader

from pledge.incidents import services
from pledge.incidents.models import Incident, IncidentReport
from pledge.incidents.report import REQUIRED_ITEMS
from tests.console.staffing import login_staff, make_staff
from tests.incidents.conftest import DETECTED, NATURE, at, owner_actor, record

GOOD = {
    "detected_at": "2027-03-15T13:00",
    "occurred_from": "2027-03-15T10:00",
    "occurred_to": "2027-03-15T12:00",
    "nature": "A staff session of the sales role leaked.",
    "systems": ["console"],
    "customer_data_at_risk": "on",
}


@pytest.mark.parametrize("role", ["customer_service", "sales", "accounting", "auditor"])
def test_only_the_owner_sees_the_register(client: Client, owner: Any, role: str) -> None:
    incident = record(owner)
    login_staff(client, make_staff(role))
    for url in (
        "/console/incidents/",
        "/console/incidents/new/",
        f"/console/incidents/{incident.id}/",
        f"/console/incidents/{incident.id}/report/",
        f"/console/incidents/{incident.id}/report.pdf",
    ):
        assert client.get(url).status_code == 403, url


def test_the_owner_records_an_incident(client: Client, owner: Any) -> None:
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"  # the words checked below are English
    with at(DETECTED):
        login_staff(client, owner)
        response = client.post("/console/incidents/new/", GOOD)
        page = client.get(response["Location"]).content.decode()
    assert response.status_code == 302
    incident = Incident.objects.get()
    assert response["Location"] == f"/console/incidents/{incident.id}/"
    assert incident.detected_at == DETECTED
    assert 'data-clock="vn-pdpl-2026:system_attack_authority"' in page
    assert "24 h 0 min left" in page


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"nature": "Leaked: write to khach0@example.vn"}, "personal data (email)"),
        ({"nature": "Call 0912 345 678 to confirm"}, "personal data (phone)"),
        ({"systems": ["mainframe"]}, "mainframe"),
        ({"occurred_from": "2027-03-15T12:30"}, "occurred_from"),
        ({"detected_at": "2027-03-16T13:00"}, "future"),
        ({"nature": "x" * 6000}, "5000"),
        ({"detected_at": "yesterday"}, "id_detected_at_errors"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(
    client: Client, owner: Any, change: dict[str, Any], named: str
) -> None:
    with at(DETECTED):
        login_staff(client, owner)
        response = client.post("/console/incidents/new/", {**GOOD, **change})
    assert response.status_code in (400, 422)
    assert named in response.content.decode()
    assert not Incident.objects.exists()


def test_actions_with_bad_input_change_nothing(client: Client, owner: Any) -> None:
    incident = record(owner)
    url = f"/console/incidents/{incident.id}/"
    with at(DETECTED):
        login_staff(client, owner)
        assert client.post(url, {"action": "explode"}).status_code == 400
        late = client.post(
            url,
            {
                "action": "report",
                "stage": "initial",
                "clock": "vn-pdpl-2026:authority",
                "sent_at": "2027-03-15T12:00",  # before detection
            },
        )
        assert late.status_code == 422
        assert client.post(url, {"action": "scope"}).status_code == 422
        assert client.post(url, {"action": "notify"}).status_code == 422  # not scoped
        missing = "/console/incidents/00000000-0000-0000-0000-000000000000/"
        assert client.get(missing).status_code == 404
    assert not IncidentReport.objects.exists()


def test_a_late_report_needs_its_reasons(owner: Any) -> None:
    incident = record(owner)
    with at(DETECTED + dt.timedelta(hours=80)):
        with pytest.raises(services.IncidentInvalid, match="late_reason"):
            services.record_report(
                actor=owner_actor(owner),
                incident_id=incident.id,
                stage="initial",
                clock_key="vn-pdpl-2026:authority",
            )
        report = services.record_report(
            actor=owner_actor(owner),
            incident_id=incident.id,
            stage="initial",
            clock_key="vn-pdpl-2026:authority",
            late_reason="The scope took longer to establish.",
        )
    assert report.late is True


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_authority_report_holds_every_required_item(
    client: Client, owner: Any, lang: str
) -> None:
    incident = record(owner)
    with at(DETECTED):
        login_staff(client, owner)
        page = client.get(f"/console/incidents/{incident.id}/report/?lang={lang}").content.decode()
        pdf = client.get(f"/console/incidents/{incident.id}/report.pdf?lang={lang}")
        french = client.get(f"/console/incidents/{incident.id}/report/?lang=fr")
    assert f'<html lang="{lang}">' in page
    for item in REQUIRED_ITEMS:
        assert f'data-item="{item}"' in page, item
    assert NATURE in page
    assert "Leman Jewelry" in page  # the controller
    assert "info@leman.jewelry" in page  # the data-protection contact
    assert "Decree 356" in page or "Nghị định 356" in page
    assert french.status_code == 404
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(pdf.content))
    text = "\n".join(p.extract_text() for p in reader.pages)
    # Vietnamese diacritics come back out of the PDF as they went in.
    assert "Phiên đăng nhập của nhân viên bán hàng bị lộ" in text
    assert "Hà Nội" in text
    # Every font is a TrueType font embedded in the file (no reader-side substitution).
    fonts = [f.get_object() for p in reader.pages for f in p["/Resources"]["/Font"].values()]
    assert fonts
    for font in fonts:
        descendant = font["/DescendantFonts"][0].get_object()
        assert "/FontFile2" in descendant["/FontDescriptor"].get_object()
