"""Policy versions (/me/policy/) and the prompt to review a significant change (P24)."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from pledge.consent.models import PolicyAcceptance
from pledge.policy.enforcement import clear_policy_cache
from pledge.policy.loader import load_policy, parse_policy
from pledge.policy.models import PolicyVersion
from pledge.policy.services import publish_policy, today
from tests.portal import test_center_pages as center
from tests.portal.test_center_pages import Customer

# The shared personas and set-up (fixtures of test_center_pages).
quick_passwords = center.quick_passwords
nhung = center.nhung
bao = center.bao

PROMPT = "The privacy policy has changed"


def publish(version: str, *, material: bool, effective: dt.date | None = None) -> PolicyVersion:
    """Preset B under a new version label (the summary changed, so the content differs)."""
    data = yaml.safe_load(load_policy("leman-jewelry").text)
    data["version"] = version
    data["summary"]["en"] += f" (version {version})"
    data["summary"]["vi"] += f" (phiên bản {version})"
    loaded = parse_policy(yaml.safe_dump(data, allow_unicode=True), source="test")
    published = publish_policy(
        loaded, actor="test", effective_date=effective or today(), material=material
    )
    clear_policy_cache()
    return published


def acceptances(customer: Customer) -> list[str]:
    return list(
        PolicyAcceptance.objects.filter(customer_id=customer.id)
        .order_by("accepted_at")
        .values_list("policy_version", flat=True)
    )


def test_the_versions_page_shows_which_version_i_accepted_and_when(nhung: Customer) -> None:
    html = nhung.client.get("/me/policy/").content.decode()
    # Registration recorded the acceptance of version 1.
    assert acceptances(nhung) == ["1"]
    row = html[html.index('<tr class="current">') :]
    row = row[: row.index("</tr>")]
    assert ">1<" in row and "in force" in row and "yes, on" in row
    assert PROMPT not in html


def test_a_material_change_prompts_review_then_acceptance_ends_the_prompt(
    nhung: Customer,
) -> None:
    publish("2", material=True)
    home = nhung.client.get("/me/").content.decode()
    assert PROMPT in home
    prompt = home[home.index(PROMPT) :]
    prompt = prompt[: prompt.index("</section>")]
    assert "Version 2" in prompt
    assert 'href="/privacy/"' in prompt  # the policy page, to review before accepting
    version = PolicyVersion.objects.get(version="2")
    assert version.content_hash in prompt
    response = nhung.client.post(
        "/me/policy/", {"content_hash": version.content_hash, "back": "home"}
    )
    assert response.status_code == 302 and response["Location"] == "/me/"
    assert acceptances(nhung) == ["1", "2"]
    after = nhung.client.get("/me/").content.decode()
    assert PROMPT not in after and "You accepted version 2." in after
    page = nhung.client.get("/me/policy/").content.decode()
    assert "significant change" in page
    assert PROMPT not in page


def test_a_minor_change_does_not_prompt_on_the_home_page(nhung: Customer) -> None:
    publish("1.1", material=False)
    assert PROMPT not in nhung.client.get("/me/").content.decode()
    # The versions page still offers to accept the version in force.
    page = nhung.client.get("/me/policy/").content.decode()
    assert "Accept the privacy policy" in page


def test_an_announced_change_is_prompted_before_it_takes_effect(nhung: Customer) -> None:
    later = today() + dt.timedelta(days=30)
    publish("2", material=True, effective=later)
    home = nhung.client.get("/me/").content.decode()
    assert PROMPT in home and "takes effect on" in home
    version = PolicyVersion.objects.get(version="2")
    nhung.client.post("/me/policy/", {"content_hash": version.content_hash})
    assert acceptances(nhung) == ["1", "2"]
    assert PROMPT not in nhung.client.get("/me/").content.decode()


def test_accepting_another_version_than_the_one_shown_is_refused(nhung: Customer) -> None:
    publish("2", material=True)
    stale = PolicyVersion.objects.get(version="1").content_hash
    response = nhung.client.post("/me/policy/", {"content_hash": stale})
    assert response.status_code == 409
    assert acceptances(nhung) == ["1"]


@pytest.mark.parametrize(
    "data",
    [{}, {"content_hash": "abc"}, {"content_hash": "Z" * 64}, {"content_hash": "0" * 65}],
)
def test_a_malformed_acceptance_is_a_400(nhung: Customer, data: dict[str, str]) -> None:
    publish("2", material=True)
    response = nhung.client.post("/me/policy/", data)
    assert response.status_code == 400
    assert "content_hash" in response.content.decode()
    assert acceptances(nhung) == ["1"]


def test_one_customers_acceptance_is_not_anothers(nhung: Customer, bao: Customer) -> None:
    version = publish("2", material=True)
    nhung.client.post("/me/policy/", {"content_hash": version.content_hash})
    assert PROMPT in bao.client.get("/me/").content.decode()
    assert acceptances(bao) == ["1"]
