"""Copies of ID documents: multipart upload, encrypted at rest, read back whole for a purpose that
may read them, never spooled to disk in plaintext."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from pledge.vault.models import IdDocument
from tests.api.conftest import Api, World, assert_problem, db_state, last_event, png_bytes


def upload(
    api: Api, world: World, content: bytes, content_type: str = "image/png", **form: Any
) -> Any:
    form = {"purpose": "order_fulfilment", **form}
    form["file"] = SimpleUploadedFile("passport.png", content, content_type)
    return api.upload(f"/customers/{world.b}/id-documents", form)


def test_an_id_document_is_stored_encrypted_and_read_back_whole(
    api: Api, world: World, settings: Any
) -> None:
    image = png_bytes(padding=500)
    response = upload(api, world, image)
    assert response.status_code == 201, response.content
    document_id = response.json()["id"]
    assert last_event().type == "vault:id_document_stored"
    stored = IdDocument.objects.get(pk=document_id)
    blob = (Path(settings.PLEDGE_FILES_DIR) / stored.storage_name).read_bytes()
    assert image not in blob and b"PNG" not in blob

    read = api.get(f"/customers/{world.b}/id-documents/{document_id}", purpose="order_fulfilment")
    assert read.status_code == 200
    assert read.content == image
    assert read["Content-Type"] == "image/png"
    assert read["Content-Disposition"] == 'attachment; filename="id-document.png"'
    assert read["Cache-Control"] == "no-store"
    assert last_event().type == "vault:id_document_read"


def test_what_is_not_an_accepted_image_is_refused(api: Api, world: World) -> None:
    before = db_state()
    assert_problem(upload(api, world, b"MZ\x90\x00 not an image"), 422, rule="file_type")
    assert_problem(upload(api, world, png_bytes(), "image/jpeg"), 422, rule="content_type_mismatch")
    assert_problem(upload(api, world, b""), 422)
    assert db_state() == before


def test_a_document_over_the_limit_is_413(api: Api, world: World, settings: Any) -> None:
    settings.PLEDGE_ID_DOCUMENT_MAX_BYTES = 2048
    before = db_state()
    # Over the vault's limit but within the request's margin: the vault says so.
    assert_problem(upload(api, world, png_bytes(padding=3000)), 413, rule="max_size")
    # Far over: refused before the body is read.
    assert_problem(upload(api, world, png_bytes(padding=200_000)), 413, rule="max_body_size")
    assert db_state() == before


def test_an_upload_never_goes_through_a_temporary_file(
    api: Api, world: World, settings: Any, tmp_path: Path
) -> None:
    # Django spools uploads over FILE_UPLOAD_MAX_MEMORY_SIZE to FILE_UPLOAD_TEMP_DIR; pointing it
    # at a directory that does not exist makes any such attempt fail.
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "missing")
    response = upload(api, world, png_bytes(padding=50_000))
    assert response.status_code == 201, response.content


def test_a_purpose_that_does_not_collect_id_documents_is_refused(api: Api, world: World) -> None:
    before = db_state()
    response = upload(api, world, png_bytes(), purpose="guarantee")
    assert_problem(response, 422, rule="not_declared_for_purpose")
    assert db_state() == before
    read = api.get(f"/customers/{world.a}/id-documents/{world.document_a}", purpose="guarantee")
    assert_problem(read, 403, rule="field_not_visible")


def test_an_unknown_document_is_404(api: Api, world: World) -> None:
    response = api.get(
        f"/customers/{world.a}/id-documents/00000000-0000-4000-8000-000000000000",
        purpose="order_fulfilment",
    )
    assert_problem(response, 404, rule="not_found")
