"""The console's retention pages (issue 8 item 4; P17): the runs and one run's proof-of-deletion
report, for the roles with the `view_audit` capability (preset B: owner and auditor), read-only,
with counts and no personal data.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from pledge.audit.models import AuditEvent
from pledge.retention.models import RetentionRun
from pledge.retention.sweep import sweep
from pledge.vault.models import EncryptedValue
from tests.console.staffing import login_staff, make_staff
from tests.retention.shop import expected_after_sweep, generate

pytestmark = pytest.mark.django_db

LIST = reverse("console:retention")


def client_as(role: str, language: str = "en") -> Client:
    client = Client(headers={"accept-language": language})
    login_staff(client, make_staff(role))
    return client


@pytest.fixture
def runs(retention_policy: None) -> dict[str, Any]:
    """A dry run and a sweep over a small shop."""
    manifest = generate(300, batch=100)
    expected = expected_after_sweep(manifest)
    assert expected.erased and expected.deleted_phones
    dry = sweep(dry_run=True)
    done = sweep()
    return {"dry": dry, "sweep": done, "expected": expected}


def url_of(run: RetentionRun) -> str:
    return reverse("console:retention_run", args=[run.pk])


@pytest.mark.parametrize("role", ["owner", "auditor"])
def test_owner_and_auditor_see_the_runs_and_each_report(runs: dict[str, Any], role: str) -> None:
    client = client_as(role)
    page = client.get(LIST)
    assert page.status_code == 200
    html = page.content.decode()
    for run in (runs["dry"], runs["sweep"]):
        assert url_of(run) in html
    row = re.search(rf'<tr data-run="{runs["sweep"].pk}">.*?</tr>', html, re.S)
    assert row is not None
    erased_cell = f'data-count="erased">{len(runs["expected"].erased)}</td>'
    assert erased_cell in row.group(0)

    report = client.get(url_of(runs["sweep"]))
    assert report.status_code == 200
    html = report.content.decode()
    expected = runs["expected"]
    erased = re.search(r'<tr data-erased="inactive_customers">.*?</tr>', html, re.S)
    assert erased is not None and f'<td data-label="Count">{len(expected.erased)}</td>' in (
        erased.group(0)
    )
    phones = re.search(r'<tr data-deleted="profile_phone">.*?</tr>', html, re.S)
    assert phones is not None
    assert "profile.phone" in phones.group(0)
    assert f">{expected.deleted_phones}</td>" in phones.group(0)
    kept = re.search(r'<tr data-kept="invoices-10-years">.*?</tr>', html, re.S)
    assert kept is not None and f">{expected.kept_invoices}</td>" in kept.group(0)
    # The report holds counts, never a customer's data or id.
    assert "@example.com" not in html
    some = EncryptedValue.objects.values_list("customer_id", flat=True).first()
    assert some is not None and str(some) not in html

    dry = client.get(url_of(runs["dry"])).content.decode()
    assert "dry run: nothing changed" in dry


def test_viewing_the_reports_records_no_audit_event(runs: dict[str, Any]) -> None:
    client = client_as("owner")
    before = AuditEvent.objects.count()
    assert client.get(LIST).status_code == 200
    assert client.get(url_of(runs["sweep"])).status_code == 200
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize("role", ["customer_service", "sales", "accounting"])
def test_other_roles_are_refused(runs: dict[str, Any], role: str) -> None:
    client = client_as(role)
    for url in (LIST, url_of(runs["sweep"])):
        response = client.get(url)
        assert response.status_code == 403
        assert "inactive_customers" not in response.content.decode()


def test_anonymous_visitors_go_to_the_login(runs: dict[str, Any]) -> None:
    client = Client()
    for url in (LIST, url_of(runs["sweep"])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/console/login/?next=")


def test_an_unknown_run_is_a_404(runs: dict[str, Any]) -> None:
    client = client_as("owner")
    assert client.get(reverse("console:retention_run", args=[uuid.uuid4()])).status_code == 404
    # Not a UUID at all: no route.
    assert client.get("/console/retention/not-a-run/").status_code == 404


def test_the_pages_are_read_only(runs: dict[str, Any]) -> None:
    client = client_as("owner")
    assert client.post(LIST).status_code == 405
    assert client.post(url_of(runs["sweep"])).status_code == 405
    assert RetentionRun.objects.count() == 2


def test_no_runs_yet_says_so(leman: Any) -> None:
    page = client_as("auditor").get(LIST)
    assert page.status_code == 200
    assert "No sweep has run yet." in page.content.decode()


def test_the_pages_render_in_vietnamese(runs: dict[str, Any]) -> None:
    client = client_as("owner", language="vi")
    assert client.get(LIST).status_code == 200
    page = client.get(url_of(runs["sweep"]))
    assert page.status_code == 200
    assert '<html lang="vi"' in page.content.decode()
