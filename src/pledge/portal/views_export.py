"""Placeholder: replaced by the issue 6 views."""

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse


def download(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404
