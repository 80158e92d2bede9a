"""RFC 9457 problem documents: every error of the API, and how each exception becomes one.

A problem is `{"type", "title", "status", "detail", "errors": [{"field", "rule", "message"}]}`
sent as `application/problem+json`. `type` is a tag URI naming the problem (stable, not meant to be
fetched); `field` and `rule` are the stable contract clients code against, `message` is for people.
No problem holds a value from the request: a bad card number or email is named, never echoed
(a field *name* the client sent may be repeated, to say it is not declared).
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from ninja.errors import AuthenticationError, HttpError, ValidationError

from pledge.api.services import AuthenticationRefused, AuthRefusal
from pledge.vault.errors import VaultError

if TYPE_CHECKING:
    from ninja import NinjaAPI

logger = logging.getLogger("pledge.api")

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "tag:pledge,2026:problems/"

# Operations whose input is never repeated anywhere, not even a fragment in a validation message
# or an exception message in the server log (the card and its CVC: PCI DSS 3.3.1).
SENSITIVE_OPERATIONS = frozenset({"authorize_payment"})


@dataclass(frozen=True)
class ErrorItem:
    field: str | None
    rule: str
    message: str

    def as_dict(self) -> dict[str, str | None]:
        return {"field": self.field, "rule": self.rule, "message": self.message}


@dataclass
class ApiProblem(Exception):
    """A problem found by the API layer itself (body, content type, query combinations)."""

    status: int
    code: str
    title: str
    detail: str
    errors: Sequence[ErrorItem] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        super().__init__(self.detail)


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    errors: Iterable[ErrorItem | Mapping[str, str | None]] = (),
) -> HttpResponse:
    body = {
        "type": TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "errors": [e.as_dict() if isinstance(e, ErrorItem) else dict(e) for e in errors],
    }
    return HttpResponse(
        # ASCII-escaped: a field name from the request can never make the answer unencodable.
        json.dumps(body),
        status=status,
        content_type=f"{PROBLEM_CONTENT_TYPE}; charset=utf-8",
    )


def from_api_problem(problem: ApiProblem) -> HttpResponse:
    return problem_response(
        problem.status, problem.code, problem.title, problem.detail, problem.errors
    )


def body_too_large(limit: int) -> ApiProblem:
    return ApiProblem(
        413,
        "body-too-large",
        "Request body too large",
        f"the request body is larger than {limit} bytes",
        [ErrorItem(None, "max_body_size", f"send at most {limit} bytes")],
    )


def not_found(detail: str = "no such endpoint") -> HttpResponse:
    return problem_response(
        404, "not-found", "Not found", detail, [ErrorItem(None, "not_found", detail)]
    )


def _is_sensitive(request: HttpRequest) -> bool:
    match = getattr(request, "resolver_match", None)
    return match is not None and match.url_name in SENSITIVE_OPERATIONS


# -- validation errors ----------------------------------------------------------------------

# ninja prefixes each error location with the source and, for a body, the parameter's name.
_SOURCES = {"body", "query", "path", "form", "file", "header", "cookie"}
_BODY_PARAMS = {"body", "query"}


def field_path(loc: Sequence[Any]) -> str | None:
    """("body", "body", "items", 0, "quantity") -> "items[0].quantity"."""
    parts = list(loc)
    if parts and parts[0] in _SOURCES:
        parts = parts[1:]
    if len(parts) > 1 and parts[0] in _BODY_PARAMS:
        parts = parts[1:]
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or None


# pydantic's messages say what was expected; these also quote a fragment of the input.
_QUOTING_RULES = {
    "uuid_parsing": "must be a UUID",
    "uuid_type": "must be a UUID",
    "json_invalid": "must be valid JSON",
}


def validation_items(errors: Sequence[Mapping[str, Any]], *, sensitive: bool) -> list[ErrorItem]:
    items = []
    for error in errors:
        rule = str(error.get("type", "invalid"))
        if sensitive:
            # The card: not even what was expected, only the rule.
            message = f"invalid value ({rule})"
        else:
            message = _QUOTING_RULES.get(rule) or str(error.get("msg", rule))
        items.append(ErrorItem(field_path(error.get("loc", ())), rule, message))
    return items


# -- handlers -------------------------------------------------------------------------------


def handle_vault_error(request: HttpRequest, exc: VaultError) -> HttpResponse:
    return problem_response(
        exc.status,
        exc.code,
        exc.title,
        exc.message,
        [ErrorItem(p.field, p.rule, p.message) for p in exc.problems],
    )


def handle_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    items = validation_items(exc.errors, sensitive=_is_sensitive(request))
    fields = ", ".join(sorted({i.field or "body" for i in items}))
    return problem_response(
        422,
        "invalid-request",
        "The request is invalid",
        f"check these fields: {fields}",
        items,
    )


def handle_api_problem(request: HttpRequest, exc: ApiProblem) -> HttpResponse:
    return from_api_problem(exc)


def unauthenticated(rule: str) -> HttpResponse:
    response = problem_response(
        401,
        "unauthenticated",
        "Missing or invalid API key",
        "send an active API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`",
        [
            ErrorItem(
                "Authorization",
                rule,
                "no API key was sent"
                if rule == "api_key_missing"
                else "this key is unknown, malformed or revoked",
            )
        ],
    )
    response["WWW-Authenticate"] = 'Bearer realm="pledge"'
    return response


def handle_auth_refused(request: HttpRequest, exc: AuthenticationRefused) -> HttpResponse:
    return unauthenticated(
        "api_key_missing" if exc.reason is AuthRefusal.MISSING else "api_key_invalid"
    )


def handle_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # ninja wraps whatever the body parser raises in HttpError(400, "Cannot parse request body");
    # our parser raises ApiProblem, which says what is wrong.
    if isinstance(exc.__cause__, ApiProblem):
        return from_api_problem(exc.__cause__)
    if isinstance(exc, AuthenticationError):
        return unauthenticated("api_key_missing")
    if exc.status_code == 400:
        return problem_response(
            400,
            "bad-request",
            "Bad request",
            "the request body cannot be read",
            [ErrorItem(None, "unreadable_body", "the request body cannot be read")],
        )
    return problem_response(
        exc.status_code,
        "http-error",
        "Request refused",
        str(exc),
        [ErrorItem(None, "http_error", str(exc))],
    )


def handle_too_big(request: HttpRequest, exc: Exception) -> HttpResponse:
    return from_api_problem(body_too_large(settings.DATA_UPLOAD_MAX_MEMORY_SIZE))


def handle_bad_request(request: HttpRequest, exc: Exception) -> HttpResponse:
    # Malformed multipart, a client that hung up, too many fields: the client's fault, never 500.
    return problem_response(
        400,
        "bad-request",
        "Bad request",
        "the request cannot be read",
        [ErrorItem(None, "unreadable_body", "the request body cannot be read")],
    )


def handle_not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return not_found()


def handle_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    """Anything else is our bug: log it for us, answer 500 without a traceback."""
    if _is_sensitive(request):
        # The exception's message could quote what the gateway or a library saw: log where it
        # happened, not what it said.
        frames = "".join(traceback.format_tb(exc.__traceback__))
        logger.error(
            "unexpected %s in %s %s\n%s",
            type(exc).__name__,
            request.method,
            request.path,
            frames,
        )
    else:
        logger.error("unexpected error in %s %s", request.method, request.path, exc_info=exc)
    return problem_response(
        500,
        "internal-error",
        "Internal error",
        "the server met an unexpected error",
        [ErrorItem(None, "internal_error", "try again later or tell the shop's administrator")],
    )


HANDLERS: list[tuple[type[Exception], Callable[[HttpRequest, Any], HttpResponse]]] = [
    (VaultError, handle_vault_error),
    (ValidationError, handle_validation_error),
    (ApiProblem, handle_api_problem),
    (AuthenticationRefused, handle_auth_refused),
    (HttpError, handle_http_error),
    (RequestDataTooBig, handle_too_big),
    (SuspiciousOperation, handle_bad_request),
    (MultiPartParserError, handle_bad_request),
    (UnreadablePostError, handle_bad_request),
    (Http404, handle_not_found),
    (Exception, handle_unexpected),
]


def install_handlers(api: NinjaAPI) -> None:
    for exc_class, handler in HANDLERS:
        api.add_exception_handler(exc_class, handler)
