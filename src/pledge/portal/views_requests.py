"""Placeholder: replaced by the issue 6 views."""

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse


def requests_list(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def new_request(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def request_detail(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def cancel(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404
