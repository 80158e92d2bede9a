"""Pages whose URL holds a live secret (an unsubscribe token, an email-verification or a
password-reset link) must not write it to the logs.

Django logs every 4xx and 5xx answer with the request's path ("Bad Request:
/me/password-reset/<token>/"), and a form re-shown with an error (a weak new password, a wrong
verification password) answers 400 on a link that still works: its token would land in the log,
where anyone who reads logs could use it. Such views log their URL pattern instead of the path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.utils.log import log_response


def redacted_path(request: HttpRequest) -> str:
    """The route that matched (`/me/verify/<str:token>/`), never the path with its secret."""
    match = request.resolver_match
    return f"/{match.route}" if match is not None and match.route else "/<redacted>"


def secret_path_view(
    methods: Sequence[str],
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """`require_http_methods(methods)` (which would log the path of a 405 itself) and every 4xx
    or 5xx answer logged with the route instead of the path."""
    allowed = list(methods)

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in allowed:
                response: HttpResponse = HttpResponseNotAllowed(allowed)
            else:
                response = view(request, *args, **kwargs)
            if response.status_code >= 400:
                # Logged here, once, with the route: Django then skips its own line (it marks
                # the response as logged).
                log_response(
                    "%s: %s",
                    response.reason_phrase,
                    redacted_path(request),
                    response=response,
                    request=request,
                )
            return response

        return wrapped

    return decorator
