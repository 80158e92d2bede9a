"""Reading request bodies strictly: size first, then content type, then JSON.

Django refuses bodies over `DATA_UPLOAD_MAX_MEMORY_SIZE` (2.5 MB by default) when they are read;
the API's JSON bodies are small (a customer is a few hundred bytes), so JSON is refused above
`API_JSON_MAX_BYTES` before anything is parsed, and uploads above the ID-document limit before
anything is written.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import IO, Any

from django.conf import settings
from django.core.files.uploadhandler import MemoryFileUploadHandler, StopUpload
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from ninja.parser import Parser

from pledge.api.problems import ApiProblem, ErrorItem, body_too_large, from_api_problem

API_JSON_MAX_BYTES = 64 * 1024
# Room for the multipart boundaries and the form fields next to the file.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
JSON_CONTENT_TYPES = frozenset({"application/json"})


def upload_limit() -> int:
    return int(settings.PLEDGE_ID_DOCUMENT_MAX_BYTES) + MULTIPART_OVERHEAD_BYTES


def body_limit(request: HttpRequest) -> int:
    if request.content_type == "multipart/form-data":
        return upload_limit()
    return API_JSON_MAX_BYTES


def declared_length(request: HttpRequest) -> int:
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        raise ApiProblem(
            400,
            "bad-request",
            "Bad request",
            "the Content-Length header is not a number",
            [ErrorItem("Content-Length", "content_length", "Content-Length must be a number")],
        ) from None


def limit_body_size(run: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Wraps every operation (ninja decorator mode "view"): refuse an oversized body (413) before
    authentication, parsing or any database work."""

    @functools.wraps(run)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            length = declared_length(request)
        except ApiProblem as problem:
            return from_api_problem(problem)
        limit = body_limit(request)
        if length > limit:
            return from_api_problem(body_too_large(limit))
        return run(request, *args, **kwargs)

    return checked


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # {"purpose": "a", "purpose": "b"}: a proxy may read one and we the other; refuse both.
    data = dict(pairs)
    if len(data) != len(pairs):
        raise ValueError("an object has the same key twice")
    return data


# JSON's \ud800-style escapes can spell half a character; Python keeps it in the string, and
# encoding it later (to encrypt it, to store it) fails: refuse it here, as malformed input.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _holds_lone_surrogate(data: Any) -> bool:
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _LONE_SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _malformed(detail: str) -> ApiProblem:
    return ApiProblem(
        400, "malformed-json", "Malformed JSON", detail, [ErrorItem(None, "json", detail)]
    )


class StrictJSONParser(Parser):
    """ninja's JSON parser, refusing what it would accept too kindly."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        if request.content_type not in JSON_CONTENT_TYPES:
            raise ApiProblem(
                400,
                "unsupported-content-type",
                "Unsupported content type",
                "send the body as JSON with `Content-Type: application/json`",
                [
                    ErrorItem(
                        "Content-Type", "content_type", "Content-Type must be application/json"
                    )
                ],
            )
        if len(request.body) > API_JSON_MAX_BYTES:
            raise body_too_large(API_JSON_MAX_BYTES)
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise _malformed("the body is not UTF-8") from None
        try:
            data = json.loads(
                text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys
            )
        except json.JSONDecodeError as exc:
            raise _malformed(
                f"the body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
            ) from None
        except ValueError as exc:  # from the hooks above
            raise _malformed(f"the body is not valid JSON: {exc}") from None
        except RecursionError:
            raise _malformed("the body is nested too deeply") from None
        if _holds_lone_surrogate(data):
            raise _malformed("the body holds a \\u escape of half a character (a lone surrogate)")
        return data  # type: ignore[no-any-return]


class InMemoryUploadHandler(MemoryFileUploadHandler):
    """Keep an uploaded ID document in memory, never in a temporary file in plaintext.

    Django spools uploads over FILE_UPLOAD_MAX_MEMORY_SIZE to a temporary file on disk; an ID
    image must only reach the disk encrypted (vault/documents.py). The body's size was checked
    (`limit_body_size`) before this handler runs, so memory stays bounded.
    """

    def handle_raw_input(
        self,
        input_data: IO[bytes],
        META: dict[str, str],
        content_length: int,
        boundary: str,
        encoding: str | None = None,
    ) -> None:
        self.activated = content_length <= upload_limit()
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > upload_limit():
            raise StopUpload(connection_reset=True)
        return super().receive_data_chunk(raw_data, start)


def multipart_in_memory(
    run: Callable[..., HttpResponseBase],
) -> Callable[..., HttpResponseBase]:
    """For an upload operation (with ninja's `decorate_view`): refuse anything but multipart
    (400), and set the in-memory upload handler before ninja reads `request.FILES`."""

    @functools.wraps(run)
    def in_memory(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.content_type != "multipart/form-data":
            return from_api_problem(
                ApiProblem(
                    400,
                    "unsupported-content-type",
                    "Unsupported content type",
                    "send the file as multipart/form-data",
                    [
                        ErrorItem(
                            "Content-Type",
                            "content_type",
                            "Content-Type must be multipart/form-data",
                        )
                    ],
                )
            )
        request.upload_handlers = [InMemoryUploadHandler(request)]
        return run(request, *args, **kwargs)

    return in_memory
