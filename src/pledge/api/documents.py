"""Copies of identity documents: multipart upload in, the file back out, encrypted at rest.

The upload is held in memory (body.InMemoryUploadHandler), never spooled to a temporary file in
plaintext; its size is refused before it is read (body.limit_body_size) and checked again by the
vault, which also reads the type from the bytes (JPEG, PNG, WebP, PDF).
"""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse
from ninja import File, Form, Router, Status, UploadedFile
from ninja.decorators import decorate_view

from pledge.api.auth import request_actor
from pledge.api.body import multipart_in_memory
from pledge.api.customers import ERRORS
from pledge.api.schemas import Created, PurposeKey
from pledge.vault.documents import read_id_document, store_id_document

router = Router(tags=["id documents"])

EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "application/pdf": "pdf",
}


@router.post(
    "/customers/{customer_id}/id-documents",
    response={201: Created, **ERRORS},
    url_name="store_id_document",
)
@decorate_view(multipart_in_memory)
def upload_id_document(
    request: HttpRequest,
    customer_id: uuid.UUID,
    purpose: Form[PurposeKey],
    file: File[UploadedFile],
) -> Status[Created]:
    """Keep a copy of an ID card or passport (JPEG, PNG, WebP or PDF), encrypted. Send
    `multipart/form-data` with the fields `purpose` and `file`."""
    document_id = store_id_document(
        actor=request_actor(request),
        purpose=purpose,
        customer_id=customer_id,
        content=file.read(),
        content_type=file.content_type or "",
    )
    return Status(201, Created(id=document_id))


@router.get(
    "/customers/{customer_id}/id-documents/{document_id}",
    response={200: None, **ERRORS},
    url_name="read_id_document",
    openapi_extra={
        # An int key, as ninja's own: a "200" string would be a second, duplicate key in the JSON
        # (which Swagger UI's parser refuses).
        "responses": {
            200: {
                "description": "the document, as uploaded",
                "content": {
                    media: {"schema": {"type": "string", "format": "binary"}}
                    for media in EXTENSIONS
                },
            }
        }
    },
)
def download_id_document(
    request: HttpRequest, customer_id: uuid.UUID, document_id: uuid.UUID, purpose: PurposeKey
) -> HttpResponse:
    """The document's file, for a purpose that may read `id_document` (P09): whole or not at
    all, since an image cannot be masked."""
    content, content_type = read_id_document(
        actor=request_actor(request),
        purpose=purpose,
        customer_id=customer_id,
        document_id=document_id,
    )
    response = HttpResponse(content, content_type=content_type)
    extension = EXTENSIONS.get(content_type, "bin")
    response["Content-Disposition"] = f'attachment; filename="id-document.{extension}"'
    # Sensitive data (Decree 356 Art 4): no copy in a browser or proxy cache.
    response["Cache-Control"] = "no-store"
    return response
