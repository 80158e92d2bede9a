"""`pledge import customers`: streaming CSV import through the vault's policy checks (issue 3)."""

from __future__ import annotations

import io
import re
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import Field

from pledge.audit.models import AuditEvent
from pledge.audit.verify import verify_chain
from pledge.consent.models import ConsentEvent, ConsentState
from pledge.consent.services import has_live_consent, rebuild_state
from pledge.vault import importer, services
from pledge.vault.access import Actor
from pledge.vault.keystore import keystore
from pledge.vault.models import BlindIndex, Customer, EncryptedValue

HEADER = "external_ref,full_name,email,phone,address\n"
ROWS = [
    ("shop-1", "Nguyễn Thị Hồng Nhung", "hong.nhung@example.com", "0912 345 678", "12 Lý Thái Tổ"),
    ("shop-2", "Trần Văn Đức", "duc.tran@example.com", "+84 983 111 222", "5 Hàng Bông, Hà Nội"),
    ("shop-3", "Emily Carter", "emily@example.net", "0365432100", "7 Đồng Khởi, TP.HCM"),
]


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_import(path: Path, *args: str, purpose: str = "order_fulfilment") -> Run:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        call_command(
            "import", "customers", str(path), "--purpose", purpose, *args, stdout=out, stderr=err
        )
    except SystemExit as exc:
        code = int(exc.code or 0)
    return Run(code, out.getvalue(), err.getvalue())


def csv_file(tmp_path: Path, content: str | bytes, name: str = "customers.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def good_csv(tmp_path: Path) -> Path:
    lines = [HEADER] + [",".join(f'"{v}"' for v in row) + "\n" for row in ROWS]
    return csv_file(tmp_path, "".join(lines))


def keys_of_customers() -> int:
    """Customers of this test's database with a data key in the key store (which outlives the
    test's rolled-back transaction, so count only keys whose customer exists)."""
    store = keystore()
    return sum(1 for c in Customer.objects.values_list("id", flat=True) if store.get(c, 0))


def vault_rows() -> tuple[int, int, int, int]:
    return (
        Customer.objects.count(),
        keys_of_customers(),
        EncryptedValue.objects.count(),
        BlindIndex.objects.count(),
    )


def by_ref(ref: str) -> uuid.UUID:
    return Customer.objects.get(external_ref=ref).id


def test_it_imports_customers_readable_through_the_services(
    leman: Any, tmp_path: Path, staff: Any, shop_api: Actor
) -> None:
    result = run_import(good_csv(tmp_path))
    assert result.code == 0, result.err
    assert "3 rows: 3 imported, 0 skipped" in result.out
    assert vault_rows() == (3, 3, 12, 9)
    view = services.read_customer(
        actor=staff("sales"), purpose="order_fulfilment", customer_id=by_ref("shop-2")
    )
    assert view.fields["full_name"] == "Trần Văn Đức"
    assert view.fields["phone"] == "+84983111222"
    assert view.fields["address"] == "5 Hàng Bông, Hà Nội"
    assert services.lookup_customers(
        actor=shop_api, purpose="order_fulfilment", by="phone", value="0365 432 100"
    ) == [by_ref("shop-3")]
    assert services.lookup_customers(
        actor=shop_api, purpose="order_fulfilment", by="email", value="HONG.NHUNG@example.com"
    ) == [by_ref("shop-1")]
    created = AuditEvent.objects.filter(type="vault:customer_created")
    assert created.count() == 3
    assert {e.details for e in created} == {'{"source":"import"}'}
    assert {e.fields for e in created} == {"address,email,full_name,phone"}
    assert {e.actor for e in created} == {"system:import:cli"}
    done = AuditEvent.objects.get(type="vault:import_completed")
    assert '"imported":3' in done.details and '"rejected":0' in done.details
    assert verify_chain().ok


def test_a_rerun_skips_customers_already_imported(leman: Any, tmp_path: Path) -> None:
    path = good_csv(tmp_path)
    assert run_import(path, "--batch", "2").code == 0
    before = vault_rows()
    again = run_import(path, "--batch", "2")
    assert again.code == 0
    assert "3 rows: 0 imported, 3 skipped (already present, by external_ref)" in again.out
    assert vault_rows() == before
    # A file grown since the last run imports only its new rows.
    path.write_text(
        path.read_text(encoding="utf-8") + 'shop-4,"Lê Minh",minh@example.com,,\n',
        encoding="utf-8",
    )
    grown = run_import(path)
    assert "4 rows: 1 imported, 3 skipped" in grown.out
    assert EncryptedValue.objects.filter(customer_id=by_ref("shop-4")).count() == 2


def test_without_a_reference_column_the_email_recognises_customers(
    leman: Any, tmp_path: Path
) -> None:
    first = csv_file(tmp_path, "full_name,email\nAn Nguyễn,an@example.com\nBình,binh@example.com\n")
    assert run_import(first).code == 0
    # Same emails in another case and a duplicate within the file: skipped, not doubled.
    second = csv_file(
        tmp_path,
        "email,full_name\nAN@EXAMPLE.COM,An\nchi@example.com,Chi\nchi@example.com,Chi\n",
        "second.csv",
    )
    result = run_import(second)
    assert result.code == 0
    assert "3 rows: 1 imported, 2 skipped (already present, by email)" in result.out
    assert Customer.objects.count() == 3
    assert not Customer.objects.exclude(external_ref=None).exists()
    # Without a reference, a row without an email cannot be recognised on a re-run.
    third = csv_file(tmp_path, "full_name,email,phone\nDũng,,0912345679\n", "third.csv")
    rejected = run_import(third)
    assert rejected.code == 1
    assert "row 2: email: required" in rejected.err


def test_a_file_without_reference_or_email_is_refused(leman: Any, tmp_path: Path) -> None:
    result = run_import(csv_file(tmp_path, "full_name,phone\nAn,0912345678\n"))
    assert result.code == 2
    assert "external_ref" in result.err and Customer.objects.count() == 0


def test_rejected_rows_are_reported_by_number_field_and_rule_never_data(
    leman: Any, tmp_path: Path
) -> None:
    secrets = [
        "Phạm Bí Mật",
        "not-an-email",
        "số-riêng-1",
        "Hồ Riêng Tư",
        "so-rieng-2",
        "Extra Person",
    ]
    content = (
        HEADER
        + "ok-1,Lan Anh,lan@example.com,0912345601,1 Phố Huế\n"
        + f"bad-1,{secrets[0]},{secrets[1]},{secrets[2]},9 Bí Mật\n"
        + "\n"
        + f",{secrets[3]},rieng@example.com,,\n"
        + f"bad-3,Ok Name,ok3@example.com,{secrets[4]},\n"
        + f"bad-4,{secrets[5]},x@example.com\n"
        + "ok-2,Hải,hai@example.com,,\n"
    )
    report = tmp_path / "rejected.csv"
    result = run_import(csv_file(tmp_path, content), "--report", str(report))
    assert result.code == 1
    # The blank line is not a row: 6 rows, not 7 (a word boundary, so "2,457 rows/s" never matches).
    assert not re.search(r"\b7 rows\b", result.out)
    assert "6 rows: 2 imported, 0 skipped" in result.out
    assert "4 rejected" in result.out
    assert "row 3: email: email_format" in result.err
    assert "row 3: phone: phone_format" in result.err
    assert "row 5: external_ref: required" in result.err
    assert "row 6: phone: phone_format" in result.err
    assert "row 7: -: columns" in result.err
    written = report.read_text(encoding="utf-8")
    assert written.startswith("row,field,rule,message\n")
    assert "3,email,email_format," in written and "7,,columns," in written
    for text in (result.out, result.err, written):
        for secret in [*secrets, "9 Bí Mật", "rieng@example.com", "x@example.com"]:
            assert secret not in text
    for event in AuditEvent.objects.all():
        assert not any(secret in event.canonical for secret in secrets)
    assert Customer.objects.count() == 2


@pytest.mark.parametrize(
    ("encoding", "name"),
    [("cp1258", "Đông Hà Tâm"), ("latin-1", "José Müller")],
    ids=["vietnamese-windows", "western-latin1"],
)
def test_a_file_not_in_utf8_is_refused_and_changes_nothing(
    leman: Any, tmp_path: Path, encoding: str, name: str
) -> None:
    good = "".join(f"ref-{i},Khách {i},k{i}@example.com,,\n" for i in range(50))
    bad = f"ref-x,{name},x@example.com,,\n"
    data = HEADER.encode() + good.encode() + bad.encode(encoding)
    events = AuditEvent.objects.count()
    # The bad line comes after whole batches: a first pass finds it before anything is written.
    result = run_import(csv_file(tmp_path, data), "--batch", "10")
    assert result.code == 2
    assert "line 52: the line is not valid UTF-8" in result.err
    assert "nothing was imported" in result.err
    assert vault_rows() == (0, 0, 0, 0) and AuditEvent.objects.count() == events


def test_utf16_gets_its_own_message(leman: Any, tmp_path: Path) -> None:
    result = run_import(csv_file(tmp_path, (HEADER + "r,An,a@example.com,,\n").encode("utf-16")))
    assert result.code == 2 and "UTF-16" in result.err


def test_a_utf8_bom_is_accepted(leman: Any, tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + (HEADER + "r-1,An,a@example.com,,\n").encode()
    result = run_import(csv_file(tmp_path, data))
    assert result.code == 0, result.err
    assert Customer.objects.get().external_ref == "r-1"


def test_a_file_without_header_is_refused_without_echoing_it(leman: Any, tmp_path: Path) -> None:
    first = "Nguyễn Văn An,an@example.com,0912345678\n"
    result = run_import(csv_file(tmp_path, first + "Bình,binh@example.com,0912345679\n"))
    assert result.code == 2
    assert "no header" in result.err
    assert "an@example.com" not in result.err and "Nguyễn" not in result.err
    empty_first_line = run_import(csv_file(tmp_path, "\n" + HEADER + "r,An,a@example.com,,\n"))
    assert empty_first_line.code == 2 and "header is empty" in empty_first_line.err
    nameless = run_import(csv_file(tmp_path, "full_name,,email\nAn,x,a@example.com\n"))
    assert nameless.code == 2 and "column 2 of the header has no name" in nameless.err
    twice = run_import(csv_file(tmp_path, "email,Email\na@example.com,b@example.com\n"))
    assert twice.code == 2 and "'email' twice" in twice.err
    assert Customer.objects.count() == 0


def test_a_column_the_purpose_does_not_collect_refuses_the_file(leman: Any, tmp_path: Path) -> None:
    # P01: guarantee does not collect cookie_id; date_of_birth is not in the policy at all.
    content = "external_ref,full_name,cookie_id,date_of_birth\nr,An,c-1,1990-01-01\n"
    result = run_import(csv_file(tmp_path, content), purpose="guarantee")
    assert result.code == 2
    assert "'cookie_id'" in result.err and "'date_of_birth'" in result.err
    assert "cookie_id: not_declared_for_purpose" in result.err
    assert "date_of_birth: field_undeclared" in result.err
    assert "nothing was imported" in result.err
    assert vault_rows() == (0, 0, 0, 0)
    refused = AuditEvent.objects.order_by("-seq").first()
    assert refused is not None
    assert (refused.type, refused.outcome) == ("vault:write_refused", "refused")
    assert refused.fields == "cookie_id,date_of_birth"
    derived = run_import(csv_file(tmp_path, "email,purchase_history\na@example.com,x\n"))
    assert derived.code == 2 and "purchase_history: derived_field" in derived.err


def test_an_oversized_line_is_refused(leman: Any, tmp_path: Path) -> None:
    huge = "x" * (importer.MAX_LINE_BYTES + 10)
    result = run_import(csv_file(tmp_path, HEADER + f"r-1,{huge},a@example.com,,\n"))
    assert result.code == 2
    assert "line 2: the line is longer than 65,536 bytes" in result.err
    # A quoted value spanning many short lines is bounded too.
    long_value = "\n".join(["y" * 1000] * 70)
    spanning = run_import(csv_file(tmp_path, HEADER + f'r-1,"{long_value}",a@example.com,,\n'))
    assert spanning.code == 2 and "longer than 65,536 characters" in spanning.err
    assert Customer.objects.count() == 0


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\n\n", b" , ,\n"])
def test_an_empty_file_is_refused(leman: Any, tmp_path: Path, content: bytes) -> None:
    result = run_import(csv_file(tmp_path, content))
    assert result.code == 2
    assert "the file is empty" in result.err


def test_a_header_without_rows_imports_nothing(leman: Any, tmp_path: Path) -> None:
    result = run_import(csv_file(tmp_path, HEADER))
    assert result.code == 0 and "0 rows: 0 imported" in result.out


def test_nfd_names_are_stored_nfc(leman: Any, tmp_path: Path, staff: Any) -> None:
    name = "Nguyễn Thị Thuỳ Dương"
    decomposed = unicodedata.normalize("NFD", name)
    assert decomposed != name
    result = run_import(csv_file(tmp_path, HEADER + f"r-1,{decomposed},d@example.com,,\n"))
    assert result.code == 0
    view = services.read_customer(
        actor=staff("sales"), purpose="order_fulfilment", customer_id=by_ref("r-1")
    )
    assert view.fields["full_name"] == name
    assert services.lookup_customers(
        actor=staff("sales"), purpose="order_fulfilment", by="full_name", value=name.upper()
    ) == [by_ref("r-1")]


def test_a_purpose_based_on_consent_records_each_consent(
    leman: Any, tmp_path: Path, staff: Any
) -> None:
    path = csv_file(tmp_path, "customer_ref,email,phone\nc-1,a@example.com,0912345678\n")
    refused = run_import(path, purpose="customer_database")
    assert refused.code == 2 and "--consent-method" in refused.err
    assert Customer.objects.count() == 0
    result = run_import(path, "--consent-method", "paper_form", purpose="customer_database")
    assert result.code == 0, result.err
    customer_id = by_ref("c-1")
    consent = ConsentEvent.objects.select_related("notice").get(customer_id=customer_id)
    assert (consent.purpose, consent.method, consent.channel, consent.action) == (
        "customer_database",
        "paper_form",
        "import",
        "given",
    )
    assert (consent.policy_version, consent.policy_hash) == (leman.version, leman.content_hash)
    assert consent.language == "vi" and "email" in consent.data_types
    assert consent.notice is not None and "Quản lý cơ sở dữ liệu khách hàng" in consent.notice.text
    state = ConsentState.objects.get(customer_id=customer_id)
    assert (state.purpose, state.live, state.event_id) == ("customer_database", True, consent.pk)
    assert has_live_consent(customer_id, "customer_database")
    given = AuditEvent.objects.get(type="consent:given", customer_id=customer_id)
    assert '"method":"paper_form"' in given.details
    assert str(consent.receipt_id) in given.details
    # The bulk-written state is the one the ledger derives.
    before = set(ConsentState.objects.values_list("customer_id", "purpose", "live", "event_id"))
    assert rebuild_state() == 1
    after = set(ConsentState.objects.values_list("customer_id", "purpose", "live", "event_id"))
    assert before == after
    view = services.read_customer(
        actor=staff("owner"), purpose="customer_database", customer_id=customer_id
    )
    assert view.fields["email"] != "a@example.com"  # masked, but readable with consent
    not_consent = run_import(path, "--consent-method", "x")
    assert not_consent.code == 2 and "only for a purpose based on consent" in not_consent.err


def test_command_errors_exit_2_without_a_traceback(leman: Any, tmp_path: Path) -> None:
    missing = run_import(tmp_path / "nope.csv")
    assert missing.code == 2 and "No such file" in missing.err
    undeclared = run_import(good_csv(tmp_path), purpose="no_such_purpose")
    assert undeclared.code == 2 and "no purpose 'no_such_purpose'" in undeclared.err
    batch = run_import(good_csv(tmp_path), "--batch", "0")
    assert batch.code == 2 and "batch size" in batch.err
    assert Customer.objects.count() == 0


def test_the_insert_columns_cover_every_column_of_the_models() -> None:
    """The importer writes rows without the ORM: a new column must be added there too."""
    for model, columns in [
        (Customer, importer.CUSTOMER_COLUMNS),
        (EncryptedValue, importer.VALUE_COLUMNS),
        (BlindIndex, importer.INDEX_COLUMNS),
        (ConsentEvent, importer.CONSENT_EVENT_COLUMNS),
        (ConsentState, importer.CONSENT_STATE_COLUMNS),
    ]:
        fields = {
            f.name
            for f in model._meta.concrete_fields
            if isinstance(f, Field) and not (f.primary_key and f.auto_created)
        }
        assert fields == set(columns), model.__name__
