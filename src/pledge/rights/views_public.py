"""Placeholder: replaced by the issue 6 views."""

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse


def start(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def verify(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404
